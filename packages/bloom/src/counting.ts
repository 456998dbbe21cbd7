import { trackInstance } from '@x/core';
import type { Clock, EventBus } from '@x/core';
import { badKey } from './bits.js';
import type { BloomFilterOptions, BloomFilterStats } from './bloom.js';
import { encodeBase64, readFilterOptions } from './bloom.js';
import type {} from './events.js';
import { MemoryFilter } from './filter-base.js';
import { FORMAT_VERSION, KIND, dataDigest, digestText, headerDigest, headerFields } from './format.js';
import { HASH_VERSION, hashKey, lastH1, lastH2, shardOf } from './hash.js';
import type { BloomSizing } from './sizing.js';

/** Options of {@link createCountingBloomFilter}: the same as a plain filter's. */
export type CountingBloomFilterOptions = BloomFilterOptions;

/** `stats()` of a counting filter. */
export interface CountingBloomFilterStats extends BloomFilterStats {
  /** Counters stuck at 15: they never go down again, so their keys can never be fully removed. */
  readonly saturated: number;
}

/**
 * A bloom filter that can forget keys: 4-bit counters instead of bits (4× the memory). Counters
 * saturate at 15 and a saturated counter is never decremented, so a removal can never clear a
 * position another key still needs.
 *
 * @example
 * ```ts
 * const f = createCountingBloomFilter({ expectedItems: 10_000, falsePositiveRate: 0.01 });
 * f.add('a'); f.remove('a'); f.has('a'); // false
 * ```
 */
export interface CountingBloomFilter {
  readonly name: string;
  add(key: string): boolean;
  has(key: string): boolean;
  /**
   * Removes one earlier `add` of `key`. Only remove keys you added: removing a key that was
   * never added but reads as present (a false positive) decrements other keys' counters and can
   * make them read as absent. Returns false (and changes nothing) when `key` is definitely absent.
   */
  remove(key: string): boolean;
  addMany(keys: Iterable<string>): boolean[];
  hasMany(keys: Iterable<string>): boolean[];
  recordFalsePositive(): void;
  stats(): CountingBloomFilterStats;
  toJSON(): CountingBloomFilterJSON;
  clear(): void;
}

/** The JSON form of a counting filter. */
export interface CountingBloomFilterJSON {
  readonly type: 'counting';
  /** Version of the serialized form (2; README "Serialized form"). */
  readonly format: number;
  readonly hashVersion: number;
  readonly name: string;
  readonly m: number;
  readonly k: number;
  readonly shards: number;
  readonly expectedItems: number;
  readonly falsePositiveRate: number;
  readonly items: number;
  readonly falsePositives: number;
  /** Counters, two per byte (counter 2j in the high nibble of byte j), base64. */
  readonly counters: string;
  /** MurmurHash3_x86_32 of the counter bytes (8 hex digits). */
  readonly dataDigest: string;
  /** Digest of every field but `name` (see `BloomFilterJSON.digest`). Not a signature. */
  readonly digest: string;
}

const MAX = 15;

/** Reads counter `j` of `cells`. */
const counterAt = (cells: Uint8Array, j: number): number => ((j & 1) === 0 ? cells[j >>> 1]! >>> 4 : cells[j >>> 1]! & 0x0f);

/** The counting filter (exported for restoring). */
export class CountingFilter extends MemoryFilter implements CountingBloomFilter {
  readonly sizing: BloomSizing;
  readonly expectedItems: number;
  readonly falsePositiveRate: number;
  readonly cells: Uint8Array;
  readonly #shardCells: Uint8Array[];
  #items = 0;
  #nonZero = 0;
  #saturated = 0;

  constructor(name: string, sizing: BloomSizing, expectedItems: number, p: number, clock: Clock, events: EventBus) {
    super(name, clock, events);
    this.sizing = sizing;
    this.expectedItems = expectedItems;
    this.falsePositiveRate = p;
    this.cells = new Uint8Array(sizing.m / 2);
    const shardBytes = sizing.shardBits / 2;
    this.#shardCells = Array.from({ length: sizing.shards }, (_, i) => this.cells.subarray(i * shardBytes, (i + 1) * shardBytes));
    trackInstance(events, 'bloom', name, this);
  }

  #cells(key: string): Uint8Array {
    return this.#shardCells[this.sizing.shards === 1 ? 0 : shardOf(key, this.sizing.shards)]!;
  }

  has(key: string): boolean {
    if (typeof key !== 'string') throw badKey('CountingBloomFilter.has', key);
    hashKey(key);
    return this.#present(this.#cells(key));
  }

  #present(cells: Uint8Array): boolean {
    const m = this.sizing.shardBits;
    let pos = lastH1 % m;
    const step = ((lastH2 | 1) >>> 0) % m;
    for (let i = 0; i < this.sizing.k; i++) {
      if (counterAt(cells, pos) === 0) return false;
      pos += step;
      if (pos >= m) pos -= m;
    }
    return true;
  }

  /** Adds `delta` (+1 or −1) to the key's counters; saturated counters stay at 15. */
  #bump(cells: Uint8Array, delta: 1 | -1): void {
    const m = this.sizing.shardBits;
    let pos = lastH1 % m;
    const step = ((lastH2 | 1) >>> 0) % m;
    for (let i = 0; i < this.sizing.k; i++) {
      const byte = pos >>> 1;
      const high = (pos & 1) === 0;
      const value = high ? cells[byte]! >>> 4 : cells[byte]! & 0x0f;
      // Saturated: the true count is unknown, so it is never decremented (no false negatives).
      if (value !== MAX) {
        const next = value + delta;
        if (value === 0) this.#nonZero++;
        else if (next === 0) this.#nonZero--;
        if (next === MAX) this.#saturated++;
        cells[byte] = high ? (cells[byte]! & 0x0f) | (next << 4) : (cells[byte]! & 0xf0) | next;
      }
      pos += step;
      if (pos >= m) pos -= m;
    }
  }

  add(key: string): boolean {
    if (typeof key !== 'string') throw badKey('CountingBloomFilter.add', key);
    hashKey(key);
    const cells = this.#cells(key);
    const present = this.#present(cells);
    this.#bump(cells, 1);
    if (!present) this.#items++;
    return present;
  }

  remove(key: string): boolean {
    if (typeof key !== 'string') throw badKey('CountingBloomFilter.remove', key);
    hashKey(key);
    const cells = this.#cells(key);
    if (!this.#present(cells)) return false;
    this.#bump(cells, -1);
    if (this.#items > 0) this.#items--;
    return true;
  }

  stats(): CountingBloomFilterStats {
    const fill = this.#nonZero / this.sizing.m;
    return {
      m: this.sizing.m,
      k: this.sizing.k,
      shards: this.sizing.shards,
      items: this.#items,
      capacity: this.expectedItems,
      fillRatio: fill,
      estimatedFpr: fill ** this.sizing.k,
      targetFpr: this.falsePositiveRate,
      bytes: this.cells.byteLength,
      falsePositives: this.falsePositives,
      hashVersion: HASH_VERSION,
      saturated: this.#saturated,
    };
  }

  toJSON(): CountingBloomFilterJSON {
    const data = dataDigest(this.cells);
    const state = { sizing: this.sizing, expectedItems: this.expectedItems, falsePositiveRate: this.falsePositiveRate, items: this.#items, falsePositives: this.falsePositives };
    return {
      type: 'counting',
      format: FORMAT_VERSION,
      hashVersion: HASH_VERSION,
      name: this.name,
      m: this.sizing.m,
      k: this.sizing.k,
      shards: this.sizing.shards,
      expectedItems: this.expectedItems,
      falsePositiveRate: this.falsePositiveRate,
      items: this.#items,
      falsePositives: this.falsePositives,
      counters: encodeBase64(this.cells),
      dataDigest: digestText(data),
      digest: digestText(headerDigest(headerFields(KIND.counting, state), data)),
    };
  }

  /** Loads restored counters (sizes already checked). */
  restore(items: number, falsePositives: number, cells: Uint8Array): void {
    this.cells.set(cells);
    this.#items = items;
    this.falsePositives = falsePositives;
    this.#nonZero = 0;
    this.#saturated = 0;
    for (let j = 0; j < this.sizing.m; j++) {
      const v = counterAt(this.cells, j);
      if (v !== 0) this.#nonZero++;
      if (v === MAX) this.#saturated++;
    }
  }

  clear(): void {
    this.cells.fill(0);
    this.#items = 0;
    this.#nonZero = 0;
    this.#saturated = 0;
  }
}

/**
 * Creates a counting bloom filter: sized like {@link createBloomFilter} (same m, k and hash
 * contract), with a 4-bit saturating counter per position so keys can be removed. Never a false
 * negative for keys added and not removed, as long as only added keys are removed.
 *
 * @example
 * ```ts
 * import { createCountingBloomFilter } from '@x/bloom';
 *
 * const live = createCountingBloomFilter({ expectedItems: 50_000, falsePositiveRate: 0.01 });
 * live.add(sessionId);
 * // later, when the session ends:
 * live.remove(sessionId);
 * ```
 */
export function createCountingBloomFilter(options: CountingBloomFilterOptions): CountingBloomFilter {
  const o = readFilterOptions('createCountingBloomFilter', options);
  return new CountingFilter(o.name, o.sizing, o.expectedItems, o.falsePositiveRate, o.clock, o.events);
}
