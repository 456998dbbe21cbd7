import { checkClock, checkEvents, checkString, readOptions, trackInstance } from '@x/core';
import type { Clock, EventBus } from '@x/core';
import { badKey, insert, popcount, probe } from './bits.js';
// The event types must be in this entry's program for the bus to accept them (declaration merging).
import type {} from './events.js';
import { MemoryFilter } from './filter-base.js';
import { FORMAT_VERSION, HEADER_BYTES, KIND, dataDigest, digestText, headerDigest, headerFields, writeHeader } from './format.js';
import { HASH_VERSION, hashKey, shardOf } from './hash.js';
import { bloomSizing } from './sizing.js';
import type { BloomSizing } from './sizing.js';

/** Options of {@link createBloomFilter}. */
export interface BloomFilterOptions {
  /** Items the filter holds at `falsePositiveRate` (n): an integer >= 1. */
  readonly expectedItems: number;
  /** Target false-positive rate p at `expectedItems`, in (0, 1), e.g. 0.01. */
  readonly falsePositiveRate: number;
  /** Instance name for events and metrics. Default `'bloom'`. */
  readonly name?: string;
  /** Split the bits into at least this many shards (routed by the shard hash). Default 1. */
  readonly shards?: number;
  /**
   * Largest shard in bits (multiple of 64, at most 2³²). Default 2³²: a filter above that is split
   * into shards rather than letting 32-bit indexes wrap.
   */
  readonly maxShardBits?: number;
  /** Time source for event timestamps. Default the system clock. */
  readonly clock?: Clock;
  /** Bus for events and metrics. Default the process-wide bus. */
  readonly events?: EventBus;
}

/** What `stats()` reports. All counts are since creation or the last `clear()`. */
export interface BloomFilterStats {
  /** Total bits. */
  readonly m: number;
  /** Hash functions (bits per key). */
  readonly k: number;
  /** Shards the bits are split into. */
  readonly shards: number;
  /** Distinct keys added, approximately: an `add` of a key that was already possibly present is not counted. */
  readonly items: number;
  /** The `expectedItems` the filter was sized for. */
  readonly capacity: number;
  /** Share of bits set, 0..1 (about 0.5 at capacity). */
  readonly fillRatio: number;
  /** False-positive rate now, estimated as fillRatio^k. */
  readonly estimatedFpr: number;
  /** The `falsePositiveRate` the filter was sized for. */
  readonly targetFpr: number;
  /** Bytes the bits occupy (m / 8). */
  readonly bytes: number;
  /** False positives reported through `recordFalsePositive()`. */
  readonly falsePositives: number;
  /** Hash contract version (README "Hash contract"). */
  readonly hashVersion: number;
}

/**
 * A bloom filter: "definitely absent" or "possibly present", never a false negative.
 *
 * @example
 * ```ts
 * const seen = createBloomFilter({ expectedItems: 1e6, falsePositiveRate: 0.01 });
 * seen.add('user:42');
 * seen.has('user:42'); // true
 * ```
 */
export interface BloomFilter {
  readonly name: string;
  /** Adds `key`; returns true when it was possibly present already (all its bits were set). */
  add(key: string): boolean;
  /** False: `key` was never added. True: it possibly was (false positive at about `targetFpr`). */
  has(key: string): boolean;
  /** `add` for each key; the answers in order. */
  addMany(keys: Iterable<string>): boolean[];
  /** `has` for each key; the answers in order. */
  hasMany(keys: Iterable<string>): boolean[];
  /** Reports that a "possibly present" answer turned out wrong (counted in stats, events and metrics). */
  recordFalsePositive(): void;
  stats(): BloomFilterStats;
  /** A JSON-safe snapshot (bits in base64); restore with `bloomFromJSON`. */
  toJSON(): BloomFilterJSON;
  /** The compact binary form (a small header + the raw bits); restore with `bloomFromBytes`. */
  toBytes(): Uint8Array;
  /** Removes every key (the sizing stays). */
  clear(): void;
}

/** The JSON form of a plain filter (see {@link BloomFilter.toJSON}). */
export interface BloomFilterJSON {
  readonly type: 'bloom';
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
  /** The bits of every shard, concatenated, in base64 (shard i at byte i × shardBits / 8). */
  readonly bits: string;
  /** MurmurHash3_x86_32 of the bits (8 hex digits): accidental damage to the bits is detected. */
  readonly dataDigest: string;
  /**
   * Digest of the header (every field but `name`, and `dataDigest`), 8 hex digits, the same as
   * the binary form's: an edited or damaged field is detected on restore. Not a signature.
   */
  readonly digest: string;
}

const OPTION_KEYS = ['expectedItems', 'falsePositiveRate', 'name', 'shards', 'maxShardBits', 'clock', 'events'];

/** A plain or counting filter's options, read and checked (the counting filter takes the same). */
export function readFilterOptions(
  owner: string,
  options: BloomFilterOptions,
): { name: string; sizing: BloomSizing; expectedItems: number; falsePositiveRate: number; clock: Clock; events: EventBus } {
  const o = readOptions<BloomFilterOptions>(owner, options, OPTION_KEYS, true);
  const sizing = bloomSizing(o, owner);
  const name = checkString(owner, 'name', o.name ?? 'bloom');
  const clock = checkClock(owner, o.clock);
  return { name, sizing, expectedItems: o.expectedItems, falsePositiveRate: o.falsePositiveRate, clock, events: checkEvents(owner, o.events) };
}

/** What a filter is restored from: its sizing, counters and bits. */
export interface FilterState {
  readonly sizing: BloomSizing;
  readonly expectedItems: number;
  readonly falsePositiveRate: number;
  readonly items: number;
  readonly falsePositives: number;
  readonly bits: Uint8Array;
}

/** The plain filter (exported for the scalable filter and for restoring). */
export class PlainBloomFilter extends MemoryFilter implements BloomFilter {
  readonly sizing: BloomSizing;
  readonly expectedItems: number;
  readonly falsePositiveRate: number;
  /** All shards' bits in one buffer. */
  readonly bits: Uint8Array;
  /** One view per shard (a single entry for one shard). */
  readonly #shardBits: Uint8Array[];
  readonly #m: number;
  readonly #k: number;
  readonly #shards: number;
  #items = 0;
  #bitsSet = 0;
  /** Whether a listener may care about capacity (checked once per add past capacity). */
  #overCapacityReported = false;

  constructor(name: string, sizing: BloomSizing, expectedItems: number, falsePositiveRate: number, clock: Clock, events: EventBus, track: boolean) {
    super(name, clock, events);
    this.sizing = sizing;
    this.expectedItems = expectedItems;
    this.falsePositiveRate = falsePositiveRate;
    this.#m = sizing.shardBits;
    this.#k = sizing.k;
    this.#shards = sizing.shards;
    this.bits = new Uint8Array(sizing.bytes);
    const shardBytes = sizing.shardBits / 8;
    this.#shardBits = Array.from({ length: sizing.shards }, (_, i) => this.bits.subarray(i * shardBytes, (i + 1) * shardBytes));
    if (track) trackInstance(events, 'bloom', name, this);
  }

  #shard(key: string): Uint8Array {
    return this.#shardBits[this.#shards === 1 ? 0 : shardOf(key, this.#shards)]!;
  }

  has(key: string): boolean {
    if (typeof key !== 'string') throw badKey('BloomFilter.has', key);
    hashKey(key);
    return probe(this.#shards === 1 ? this.#shardBits[0]! : this.#shard(key), this.#m, this.#k);
  }

  add(key: string): boolean {
    if (typeof key !== 'string') throw badKey('BloomFilter.add', key);
    hashKey(key);
    const fresh = insert(this.#shards === 1 ? this.#shardBits[0]! : this.#shard(key), this.#m, this.#k);
    if (fresh === 0) return true;
    this.#bitsSet += fresh;
    if (++this.#items > this.expectedItems && !this.#overCapacityReported) this.#reportCapacity();
    return false;
  }

  /** Adds the last hashed key (the scalable filter hashes once for all its stages). */
  insertHashed(key: string): boolean {
    const fresh = insert(this.#shards === 1 ? this.#shardBits[0]! : this.#shard(key), this.#m, this.#k);
    if (fresh === 0) return true;
    this.#bitsSet += fresh;
    this.#items++;
    return false;
  }

  /** Checks the last hashed key. */
  probeHashed(key: string): boolean {
    return probe(this.#shards === 1 ? this.#shardBits[0]! : this.#shard(key), this.#m, this.#k);
  }

  get items(): number {
    return this.#items;
  }

  #reportCapacity(): void {
    this.#overCapacityReported = true;
    if (!this.events.hasListeners('bloom.capacity_exceeded')) return;
    this.events.emit({
      type: 'bloom.capacity_exceeded',
      source: 'bloom',
      name: this.name,
      time: this.clock.now(),
      items: this.#items,
      capacity: this.expectedItems,
      estimatedFpr: this.#estimatedFpr(),
    });
  }

  #estimatedFpr(): number {
    return (this.#bitsSet / this.sizing.m) ** this.#k;
  }

  stats(): BloomFilterStats {
    return {
      m: this.sizing.m,
      k: this.#k,
      shards: this.#shards,
      items: this.#items,
      capacity: this.expectedItems,
      fillRatio: this.#bitsSet / this.sizing.m,
      estimatedFpr: this.#estimatedFpr(),
      targetFpr: this.falsePositiveRate,
      bytes: this.bits.byteLength,
      falsePositives: this.falsePositives,
      hashVersion: HASH_VERSION,
    };
  }

  toJSON(): BloomFilterJSON {
    const data = dataDigest(this.bits);
    return {
      type: 'bloom',
      format: FORMAT_VERSION,
      hashVersion: HASH_VERSION,
      name: this.name,
      m: this.sizing.m,
      k: this.#k,
      shards: this.#shards,
      expectedItems: this.expectedItems,
      falsePositiveRate: this.falsePositiveRate,
      items: this.#items,
      falsePositives: this.falsePositives,
      bits: encodeBase64(this.bits),
      dataDigest: digestText(data),
      digest: digestText(headerDigest(headerFields(KIND.bloom, this.state()), data)),
    };
  }

  toBytes(): Uint8Array {
    return writeBytes(this.state());
  }

  state(): FilterState {
    return {
      sizing: this.sizing,
      expectedItems: this.expectedItems,
      falsePositiveRate: this.falsePositiveRate,
      items: this.#items,
      falsePositives: this.falsePositives,
      bits: this.bits,
    };
  }

  /** Loads restored counters and bits (sizes already checked by the caller). */
  restore(items: number, falsePositives: number, bits: Uint8Array): void {
    this.bits.set(bits);
    this.#items = items;
    this.falsePositives = falsePositives;
    this.#bitsSet = popcount(this.bits);
    this.#overCapacityReported = items > this.expectedItems;
  }

  clear(): void {
    this.bits.fill(0);
    this.#items = 0;
    this.#bitsSet = 0;
    this.#overCapacityReported = false;
  }
}

/**
 * Creates an in-memory bloom filter sized by the formulas: m = −n·ln p / (ln 2)² bits (rounded up
 * to whole 64-bit words) and k = round(m/n · ln 2) hash functions, for `expectedItems` n at
 * `falsePositiveRate` p. Keys are strings, hashed as UTF-8 by the versioned hash contract, so the
 * same keys set the same bits here, in `@x/bloom/redis` and in any other implementation of it.
 * Throws `INVALID_OPTIONS` for sizes that are not positive integers or rates outside (0, 1).
 *
 * @example
 * ```ts
 * import { createBloomFilter } from '@x/bloom';
 *
 * const known = createBloomFilter({ expectedItems: 1_000_000, falsePositiveRate: 0.01 });
 * for (const id of await db.allIds()) known.add(id);
 * if (!known.has(id)) return undefined; // definitely not in the database: skip the query
 * ```
 */
export function createBloomFilter(options: BloomFilterOptions): BloomFilter {
  const o = readFilterOptions('createBloomFilter', options);
  return new PlainBloomFilter(o.name, o.sizing, o.expectedItems, o.falsePositiveRate, o.clock, o.events, true);
}

// ---- serialization helpers (browser-safe: no Buffer) ----

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
let decodeTable: Int16Array | undefined;

/** Standard base64 with padding. */
export function encodeBase64(bytes: Uint8Array): string {
  const parts: string[] = [];
  const CHUNK = 3 * 4096;
  for (let start = 0; start < bytes.length; start += CHUNK) {
    const end = Math.min(bytes.length, start + CHUNK);
    let s = '';
    let i = start;
    for (; i + 2 < end; i += 3) {
      const v = (bytes[i]! << 16) | (bytes[i + 1]! << 8) | bytes[i + 2]!;
      s += ALPHABET[v >> 18]! + ALPHABET[(v >> 12) & 63]! + ALPHABET[(v >> 6) & 63]! + ALPHABET[v & 63]!;
    }
    if (i < end) {
      const v = (bytes[i]! << 16) | (i + 1 < end ? bytes[i + 1]! << 8 : 0);
      s += ALPHABET[v >> 18]! + ALPHABET[(v >> 12) & 63]! + (i + 1 < end ? ALPHABET[(v >> 6) & 63]! : '=') + '=';
    }
    parts.push(s);
  }
  return parts.join('');
}

/** Decodes standard base64; undefined when `text` is not valid base64. */
export function decodeBase64(text: string): Uint8Array | undefined {
  if (decodeTable === undefined) {
    decodeTable = new Int16Array(128).fill(-1);
    for (let i = 0; i < 64; i++) decodeTable[ALPHABET.charCodeAt(i)] = i;
  }
  if (text.length % 4 !== 0) return undefined;
  const padding = text.endsWith('==') ? 2 : text.endsWith('=') ? 1 : 0;
  const out = new Uint8Array((text.length / 4) * 3 - padding);
  let o = 0;
  for (let i = 0; i < text.length; i += 4) {
    let v = 0;
    for (let j = 0; j < 4; j++) {
      const c = text.charCodeAt(i + j);
      const d = c === 61 && i + 4 === text.length && j >= 4 - padding ? 0 : c < 128 ? decodeTable[c]! : -1;
      if (d < 0) return undefined;
      v = (v << 6) | d;
    }
    if (o < out.length) out[o++] = v >> 16;
    if (o < out.length) out[o++] = (v >> 8) & 255;
    if (o < out.length) out[o++] = v & 255;
  }
  return out;
}

/** The binary form (README "Serialized form"): the 56-byte header, then the bits exactly as Redis stores them. */
export function writeBytes(state: FilterState): Uint8Array {
  const out = new Uint8Array(HEADER_BYTES + state.bits.byteLength);
  writeHeader(out, headerFields(KIND.bloom, state), dataDigest(state.bits));
  out.set(state.bits, HEADER_BYTES);
  return out;
}
