import { FrequencySketch, hashKey } from './sketch.js';

/** What an L1 tier reports about itself. */
export interface L1Stats {
  readonly entries: number;
  readonly bytes: number;
  readonly maxEntries: number;
  readonly maxBytes: number;
  /** Entries pushed out to make room (by count or bytes). */
  readonly evictions: number;
  /** New entries the admission policy turned away because the entry they would replace is used more. */
  readonly rejected: number;
}

const NONE = -1;
const WINDOW = 0;
const MAIN = 1;

/**
 * A bounded in-memory map with W-TinyLFU-style admission: new entries enter a small LRU window
 * (1 % of the slots); an entry leaving the window replaces the least recently used entry of the
 * main region only if a frequency sketch says it is used more often. Scans and one-hit keys stay
 * in the window and never flush the popular keys out, which plain LRU does.
 *
 * Slots live in typed arrays (no node objects), and a hit only bumps the sketch with the hash
 * stored at insertion, so `get` costs a Map lookup and a few array writes.
 *
 * @internal
 */
export class L1Tier<V> {
  readonly maxEntries: number;
  readonly maxBytes: number;
  readonly #tinyLfu: boolean;
  readonly #map = new Map<string, number>();
  readonly #keys: (string | undefined)[];
  readonly #values: (V | undefined)[];
  readonly #sizes: Float64Array;
  readonly #hashes: Int32Array;
  readonly #next: Int32Array;
  readonly #prev: Int32Array;
  readonly #segment: Uint8Array;
  readonly #free: number[] = [];
  readonly #sketch: FrequencySketch | undefined;
  readonly #windowMax: number;
  readonly #mainMax: number;
  // Heads are most recently used, tails least.
  #windowHead = NONE;
  #windowTail = NONE;
  #mainHead = NONE;
  #mainTail = NONE;
  #windowCount = 0;
  #mainCount = 0;
  #bytes = 0;
  #evictions = 0;
  #rejected = 0;
  /** Called with each entry pushed out (not for delete/clear). */
  onEvict: ((key: string, value: V) => void) | undefined = undefined;

  constructor(maxEntries: number, maxBytes: number, admission: 'tinylfu' | 'lru') {
    this.maxEntries = maxEntries;
    this.maxBytes = maxBytes;
    this.#tinyLfu = admission === 'tinylfu';
    // One spare slot: an entry is placed before the region it overflows gives one up.
    const slots = maxEntries + 1;
    this.#keys = new Array<string | undefined>(slots).fill(undefined);
    this.#values = new Array<V | undefined>(slots).fill(undefined);
    this.#sizes = new Float64Array(slots);
    this.#hashes = new Int32Array(slots);
    this.#next = new Int32Array(slots).fill(NONE);
    this.#prev = new Int32Array(slots).fill(NONE);
    this.#segment = new Uint8Array(slots);
    for (let i = slots - 1; i >= 0; i--) this.#free.push(i);
    if (this.#tinyLfu) {
      this.#sketch = new FrequencySketch(maxEntries);
      this.#windowMax = Math.max(1, Math.floor(maxEntries / 100));
      this.#mainMax = maxEntries - this.#windowMax;
    } else {
      this.#sketch = undefined;
      this.#windowMax = maxEntries;
      this.#mainMax = 0;
    }
  }

  get size(): number {
    return this.#map.size;
  }

  get bytes(): number {
    return this.#bytes;
  }

  stats(): L1Stats {
    return {
      entries: this.#map.size,
      bytes: this.#bytes,
      maxEntries: this.maxEntries,
      maxBytes: this.maxBytes,
      evictions: this.#evictions,
      rejected: this.#rejected,
    };
  }

  /** The value, marking the entry used (recency and frequency). */
  get(key: string): V | undefined {
    const slot = this.#map.get(key);
    if (slot === undefined) {
      // Misses count too: a key asked for often deserves admission once it is loaded.
      this.#sketch?.increment(hashKey(key));
      return undefined;
    }
    this.#sketch?.increment(this.#hashes[slot] as number);
    this.#touch(slot);
    return this.#values[slot];
  }

  /** The value without marking it used. */
  peek(key: string): V | undefined {
    const slot = this.#map.get(key);
    return slot === undefined ? undefined : this.#values[slot];
  }

  has(key: string): boolean {
    return this.#map.has(key);
  }

  /**
   * Stores the value. Returns false when it was not kept: larger than `maxBytes`, or turned away
   * by admission (it then stays nowhere; the caller still has it).
   */
  set(key: string, value: V, size: number): boolean {
    if (size > this.maxBytes) {
      this.delete(key);
      return false;
    }
    const existing = this.#map.get(key);
    if (existing !== undefined) {
      this.#values[existing] = value;
      this.#bytes += size - (this.#sizes[existing] as number);
      this.#sizes[existing] = size;
      this.#touch(existing);
      this.#enforceBytes(existing);
      return this.#map.has(key);
    }
    const slot = this.#free.pop() as number;
    this.#keys[slot] = key;
    this.#values[slot] = value;
    this.#sizes[slot] = size;
    this.#hashes[slot] = this.#sketch === undefined ? 0 : hashKey(key);
    this.#bytes += size;
    this.#map.set(key, slot);
    this.#segment[slot] = WINDOW;
    this.#pushHead(slot, WINDOW);
    this.#windowCount++;
    if (this.#windowCount > this.#windowMax) this.#overflowWindow();
    this.#enforceBytes(NONE);
    return this.#map.has(key);
  }

  delete(key: string): boolean {
    const slot = this.#map.get(key);
    if (slot === undefined) return false;
    this.#remove(slot);
    return true;
  }

  clear(): void {
    for (const slot of this.#map.values()) {
      this.#keys[slot] = undefined;
      this.#values[slot] = undefined;
      this.#next[slot] = NONE;
      this.#prev[slot] = NONE;
    }
    this.#map.clear();
    this.#free.length = 0;
    for (let i = this.maxEntries; i >= 0; i--) this.#free.push(i);
    this.#windowHead = this.#windowTail = this.#mainHead = this.#mainTail = NONE;
    this.#windowCount = this.#mainCount = 0;
    this.#bytes = 0;
    this.#sketch?.reset();
  }

  /** Every live value (for bulk changes such as expiring all entries). */
  values(): IterableIterator<V> {
    const values = this.#values;
    const slots = this.#map.values();
    return (function* () {
      for (const slot of slots) yield values[slot] as V;
    })();
  }

  keys(): IterableIterator<string> {
    return this.#map.keys();
  }

  /** A window entry overflowed: it competes with the main region's least recently used entry. */
  #overflowWindow(): void {
    const candidate = this.#windowTail;
    this.#unlink(candidate, WINDOW);
    this.#windowCount--;
    if (!this.#tinyLfu) {
      this.#evictDetached(candidate);
      return;
    }
    if (this.#mainCount < this.#mainMax) {
      this.#segment[candidate] = MAIN;
      this.#pushHead(candidate, MAIN);
      this.#mainCount++;
      return;
    }
    const victim = this.#mainTail;
    const sketch = this.#sketch as FrequencySketch;
    if (victim === NONE || sketch.frequency(this.#hashes[candidate] as number) > sketch.frequency(this.#hashes[victim] as number)) {
      if (victim !== NONE) this.#evict(victim);
      this.#segment[candidate] = MAIN;
      this.#pushHead(candidate, MAIN);
      this.#mainCount++;
    } else {
      this.#rejected++;
      this.#evictDetached(candidate);
    }
  }

  /** Evicts least recently used entries (main first) until the bytes fit; never `keep`. */
  #enforceBytes(keep: number): void {
    while (this.#bytes > this.maxBytes) {
      let victim = this.#mainTail;
      if (victim === keep) victim = this.#prev[victim] as number;
      if (victim === NONE) {
        victim = this.#windowTail;
        if (victim === keep) victim = this.#prev[victim] as number;
      }
      if (victim === NONE) return;
      this.#evict(victim);
    }
  }

  #evict(slot: number): void {
    const key = this.#keys[slot] as string;
    const value = this.#values[slot] as V;
    this.#remove(slot);
    this.#evictions++;
    this.onEvict?.(key, value);
  }

  /** Evicts a slot already unlinked from its list. */
  #evictDetached(slot: number): void {
    const key = this.#keys[slot] as string;
    const value = this.#values[slot] as V;
    this.#map.delete(key);
    this.#release(slot);
    this.#evictions++;
    this.onEvict?.(key, value);
  }

  #remove(slot: number): void {
    const segment = this.#segment[slot] as number;
    this.#unlink(slot, segment);
    if (segment === WINDOW) this.#windowCount--;
    else this.#mainCount--;
    this.#map.delete(this.#keys[slot] as string);
    this.#release(slot);
  }

  #release(slot: number): void {
    this.#bytes -= this.#sizes[slot] as number;
    this.#keys[slot] = undefined;
    this.#values[slot] = undefined;
    this.#sizes[slot] = 0;
    this.#free.push(slot);
  }

  #touch(slot: number): void {
    const segment = this.#segment[slot] as number;
    if ((segment === WINDOW ? this.#windowHead : this.#mainHead) === slot) return;
    this.#unlink(slot, segment);
    this.#pushHead(slot, segment);
  }

  #pushHead(slot: number, segment: number): void {
    const head = segment === WINDOW ? this.#windowHead : this.#mainHead;
    this.#prev[slot] = NONE;
    this.#next[slot] = head;
    if (head !== NONE) this.#prev[head] = slot;
    if (segment === WINDOW) {
      this.#windowHead = slot;
      if (this.#windowTail === NONE) this.#windowTail = slot;
    } else {
      this.#mainHead = slot;
      if (this.#mainTail === NONE) this.#mainTail = slot;
    }
  }

  #unlink(slot: number, segment: number): void {
    const prev = this.#prev[slot] as number;
    const next = this.#next[slot] as number;
    if (prev !== NONE) this.#next[prev] = next;
    else if (segment === WINDOW) this.#windowHead = next;
    else this.#mainHead = next;
    if (next !== NONE) this.#prev[next] = prev;
    else if (segment === WINDOW) this.#windowTail = prev;
    else this.#mainTail = prev;
    this.#prev[slot] = NONE;
    this.#next[slot] = NONE;
  }
}
