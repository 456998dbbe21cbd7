import { checkClock, checkEvents, checkString, readOptions } from '@x/core';
import type { Clock, EventBus } from '@x/core';
import { PlainBloomFilter, decodeBase64 } from './bloom.js';
import type { BloomFilter, BloomFilterJSON } from './bloom.js';
import { CountingFilter } from './counting.js';
import type { CountingBloomFilter, CountingBloomFilterJSON } from './counting.js';
import { BloomInvalidDataError } from './errors.js';
import { DIGEST_SEED, FORMAT_VERSION, HEADER_BYTES, KIND, dataDigest, digestText, headerDigest, parseDigest, scalableDigest } from './format.js';
import { HASH_VERSION, murmur3 } from './hash.js';
import { ScalableFilter, scalableStageSizing } from './scalable.js';
import type { ScalableBloomFilter, ScalableBloomFilterJSON } from './scalable.js';
import { BIT_ALIGN, MAX_SHARD_BITS, bloomSizing } from './sizing.js';
import type { BloomSizing } from './sizing.js';

/** Options of {@link bloomFromJSON} and {@link bloomFromBytes}. */
export interface RestoreOptions {
  /** Name of the restored filter. Default: the stored name (`'bloom'` for the binary form). */
  readonly name?: string;
  readonly clock?: Clock;
  readonly events?: EventBus;
}

/** Any filter's JSON form. */
export type AnyBloomFilterJSON = BloomFilterJSON | ScalableBloomFilterJSON | CountingBloomFilterJSON;

const RESTORE_KEYS = ['name', 'clock', 'events'];

function invalid(what: string): BloomInvalidDataError {
  return new BloomInvalidDataError(`cannot restore bloom filter: ${what}`);
}

const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const isRate = (v: unknown): v is number => typeof v === 'number' && v > 0 && v < 1;

/** Checks stored sizing fields and returns the sizing they describe. */
function storedSizing(k: unknown, shards: unknown, shardBits: unknown): BloomSizing {
  if (!isCount(k) || k < 1 || k > 64) throw invalid(`k must be an integer in [1, 64], got ${String(k)}`);
  if (!isCount(shards) || shards < 1 || shards > 1024) throw invalid(`shards must be an integer in [1, 1024], got ${String(shards)}`);
  if (!isCount(shardBits) || shardBits < BIT_ALIGN || shardBits > MAX_SHARD_BITS || shardBits % BIT_ALIGN !== 0) {
    throw invalid(`bits per shard must be a multiple of ${BIT_ALIGN} in [${BIT_ALIGN}, 2^32], got ${String(shardBits)}`);
  }
  const m = shardBits * shards;
  return { m, k, shards, shardBits, optimalBits: m, bytes: m / 8 };
}

/**
 * k, m and the shard layout follow from the capacity, the rate and the shard count (bloomSizing:
 * k depends on the rate alone, and a shard's bits on all three, whatever `maxShardBits` was). A
 * stored filter whose fields disagree was edited or damaged: restoring it would read other
 * positions than the ones its keys set, which is a false negative for every key.
 */
function checkConsistent(stored: BloomSizing, expectedItems: number, falsePositiveRate: number): void {
  let expected: BloomSizing;
  try {
    expected = bloomSizing({ expectedItems, falsePositiveRate, shards: stored.shards });
  } catch {
    throw invalid(`expectedItems ${expectedItems} at falsePositiveRate ${falsePositiveRate} is not a size a filter can have`);
  }
  for (const field of ['k', 'shards', 'shardBits'] as const) {
    if (expected[field] !== stored[field]) {
      throw invalid(`${field} ${stored[field]} does not match expectedItems ${expectedItems} at falsePositiveRate ${falsePositiveRate} (${field} ${expected[field]}): the data was edited or damaged`);
    }
  }
}

function checkVersion(version: unknown): void {
  if (version !== HASH_VERSION) throw invalid(`hash contract version ${String(version)} is not supported (this build implements version ${HASH_VERSION})`);
}

const FORMAT_1 =
  'format 1 (no digest; written before the first release of @x/bloom) is not restored: nothing binds its header to its data, so an edited header could read other positions (false negatives). Rebuild the filter from its source';

function checkFormat(format: unknown): void {
  if (format === undefined || format === 1) throw invalid(FORMAT_1);
  if (format !== FORMAT_VERSION) throw invalid(`format ${String(format)} is not supported (this build reads format ${FORMAT_VERSION})`);
}

/** The stored digest in `field`, which must be 8 hex digits. */
function storedDigest(value: unknown, field: string): number {
  const digest = parseDigest(value);
  if (digest === undefined) throw invalid(`${field} must be 8 lowercase hex digits, got ${JSON.stringify(value) ?? String(value)}`);
  return digest;
}

/** Compares a stored digest with the one computed from the data it covers. */
function checkDigest(stored: number, computed: number, field: string, covers: string): void {
  if (stored !== computed) {
    throw invalid(`${field} ${digestText(stored)} does not match ${covers} (digest ${digestText(computed)}): the data was edited or damaged`);
  }
}

function restoreOptions(owner: string, options: RestoreOptions | undefined, storedName: unknown) {
  const o = readOptions<RestoreOptions>(owner, options, RESTORE_KEYS);
  const fallback = typeof storedName === 'string' && storedName !== '' ? storedName : 'bloom';
  return { name: checkString(owner, 'name', o.name ?? fallback), clock: checkClock(owner, o.clock), events: checkEvents(owner, o.events) };
}

function bytesOf(text: unknown, expected: number, field: string): Uint8Array {
  const bytes = typeof text === 'string' ? decodeBase64(text) : undefined;
  if (bytes === undefined) throw invalid(`${field} is not base64`);
  if (bytes.length !== expected) throw invalid(`${field} holds ${bytes.length} bytes, expected ${expected}`);
  return bytes;
}

/**
 * Restores a filter from `toJSON()` output (the object, or its `JSON.stringify` text): a plain,
 * scalable or counting filter, by its `type`. Throws `BLOOM_INVALID_DATA` for anything else,
 * including a hash contract version or format this build does not implement, and fields or bits
 * whose digest does not match (edited or damaged: README "Serialized form").
 *
 * @example
 * ```ts
 * localStorage.setItem('seen', JSON.stringify(filter));
 * const again = bloomFromJSON(localStorage.getItem('seen')!);
 * ```
 */
export function bloomFromJSON(json: BloomFilterJSON | string, options?: RestoreOptions): BloomFilter;
export function bloomFromJSON(json: ScalableBloomFilterJSON, options?: RestoreOptions): ScalableBloomFilter;
export function bloomFromJSON(json: CountingBloomFilterJSON, options?: RestoreOptions): CountingBloomFilter;
export function bloomFromJSON(json: AnyBloomFilterJSON | string, options?: RestoreOptions): BloomFilter | ScalableBloomFilter | CountingBloomFilter;
export function bloomFromJSON(json: AnyBloomFilterJSON | string, options?: RestoreOptions): BloomFilter | ScalableBloomFilter | CountingBloomFilter {
  let data: unknown = json;
  if (typeof json === 'string') {
    try {
      data = JSON.parse(json);
    } catch (error) {
      throw invalid(`not JSON (${error instanceof Error ? error.message : String(error)})`);
    }
  }
  if (typeof data !== 'object' || data === null) throw invalid('not an object');
  const d = data as Record<string, unknown>;
  checkVersion(d['hashVersion']);
  if (d['type'] !== 'bloom' && d['type'] !== 'counting' && d['type'] !== 'scalable') {
    throw invalid(`unknown type ${JSON.stringify(d['type'])} (expected 'bloom', 'scalable' or 'counting')`);
  }
  checkFormat(d['format']);
  const { name, clock, events } = restoreOptions('bloomFromJSON', options, d['name']);
  const falsePositives = d['falsePositives'];
  if (!isCount(falsePositives)) throw invalid('falsePositives must be a non-negative integer');
  if (d['type'] === 'bloom' || d['type'] === 'counting') {
    const { m, k, shards, expectedItems, falsePositiveRate, items } = d;
    if (!isCount(m) || !isCount(shards) || shards < 1 || m % shards !== 0) throw invalid(`m (${String(m)}) must be a multiple of shards (${String(shards)})`);
    const sizing = storedSizing(k, shards, m / shards);
    if (!isCount(expectedItems) || expectedItems < 1) throw invalid('expectedItems must be a positive integer');
    if (!isRate(falsePositiveRate)) throw invalid('falsePositiveRate must be in (0, 1)');
    if (!isCount(items)) throw invalid('items must be a non-negative integer');
    // The header digest binds every field (but the name) to the data digest: an edit to one of
    // them (a shard count that still sizes consistently, say) is refused here.
    const data = storedDigest(d['dataDigest'], 'dataDigest');
    const kind = d['type'] === 'bloom' ? KIND.bloom : KIND.counting;
    const fields = { hashVersion: HASH_VERSION, kind, k: sizing.k, shards: sizing.shards, shardBits: sizing.shardBits, expectedItems, falsePositiveRate, items, falsePositives };
    checkDigest(storedDigest(d['digest'], 'digest'), headerDigest(fields, data), 'digest', 'the fields');
    // Kept behind the digest for data whose digest was recomputed after an edit.
    checkConsistent(sizing, expectedItems, falsePositiveRate);
    // The data is decoded and its length checked before the filter is allocated: a forged size
    // is an error, never a giant allocation.
    if (d['type'] === 'bloom') {
      const bits = bytesOf(d['bits'], sizing.bytes, 'bits');
      checkDigest(data, dataDigest(bits), 'dataDigest', 'the bits');
      const filter = new PlainBloomFilter(name, sizing, expectedItems, falsePositiveRate, clock, events, true);
      filter.restore(items, falsePositives, bits);
      return filter;
    }
    const counters = bytesOf(d['counters'], sizing.m / 2, 'counters');
    checkDigest(data, dataDigest(counters), 'dataDigest', 'the counters');
    const filter = new CountingFilter(name, sizing, expectedItems, falsePositiveRate, clock, events);
    filter.restore(items, falsePositives, counters);
    return filter;
  }
  const { initialItems, falsePositiveRate, growth, tightening, stages } = d;
  if (!isCount(initialItems) || initialItems < 1) throw invalid('initialItems must be a positive integer');
  if (!isRate(falsePositiveRate)) throw invalid('falsePositiveRate must be in (0, 1)');
  if (typeof growth !== 'number' || !(growth >= 1 && growth <= 16)) throw invalid('growth must be in [1, 16]');
  if (!isRate(tightening)) throw invalid('tightening must be in (0, 1)');
  if (!Array.isArray(stages) || stages.length === 0) throw invalid('stages must be a non-empty array');
  const stored = stages.map((value: unknown, i) => {
    const s = (value ?? {}) as Record<string, unknown>;
    if (!isCount(s['items'])) throw invalid(`stages[${i}].items must be a non-negative integer`);
    return { items: s['items'], digest: storedDigest(s['dataDigest'], `stages[${i}].dataDigest`), bits: s['bits'] };
  });
  checkDigest(storedDigest(d['digest'], 'digest'), scalableDigest({ initialItems, falsePositiveRate, growth, tightening, falsePositives }, stored), 'digest', 'the fields');
  // Every stage's data is checked against its planned size before anything is allocated.
  const restored = stored.map((s, i) => {
    const sizing = scalableStageSizing(initialItems, falsePositiveRate, growth, tightening, i);
    if (sizing === undefined) throw invalid(`stages[${i}] cannot exist at these parameters (no such stage can be sized)`);
    const bits = bytesOf(s.bits, sizing.bytes, `stages[${i}].bits`);
    checkDigest(s.digest, dataDigest(bits), `stages[${i}].dataDigest`, `the bits of stage ${i}`);
    return { items: s.items, bits };
  });
  const filter = new ScalableFilter(name, initialItems, falsePositiveRate, growth, tightening, clock, events);
  restored.forEach((s, i) => {
    const stage = i === 0 ? filter.stages[0]! : filter.addStage(false);
    if (stage === undefined) throw invalid(`stages[${i}] cannot exist at these parameters`);
    stage.restore(s.items, 0, s.bits);
  });
  filter.restoreFalsePositives(falsePositives);
  filter.restoreExhausted();
  return filter;
}
/**
 * Restores a plain filter from `toBytes()` output: a 56-byte header and the raw bits (the same
 * bytes Redis stores for that filter). Throws `BLOOM_INVALID_DATA` for anything else: another
 * format, a header or bits whose digest does not match (edited or damaged), a sizing that does
 * not follow from the stored capacity and rate.
 *
 * @example
 * ```ts
 * await writeFile('ids.bloom', filter.toBytes());
 * const again = bloomFromBytes(await readFile('ids.bloom'));
 * ```
 */
export function bloomFromBytes(bytes: Uint8Array, options?: RestoreOptions): BloomFilter {
  if (!(bytes instanceof Uint8Array) || bytes.length < 4) throw invalid('not a bloom filter binary (too short)');
  if (bytes[0] !== 0x58 || bytes[1] !== 0x42 || bytes[2] !== 0x46) throw invalid('not a bloom filter binary (bad magic)');
  checkFormat(bytes[3]);
  if (bytes.length < HEADER_BYTES) throw invalid('not a bloom filter binary (too short)');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  // The header digest first: an edited or damaged header byte is refused before it is read.
  checkDigest(view.getUint32(52, true), murmur3(bytes.subarray(0, 52), DIGEST_SEED), 'header digest', 'the header');
  checkVersion(view.getUint8(4));
  if (view.getUint8(5) !== KIND.bloom) throw invalid(`kind ${view.getUint8(5)} is not a plain filter`);
  const sizing = storedSizing(view.getUint8(6), view.getUint32(8, true), view.getFloat64(12, true));
  const expectedItems = view.getFloat64(20, true);
  const falsePositiveRate = view.getFloat64(28, true);
  const items = view.getFloat64(36, true);
  if (!isCount(expectedItems) || expectedItems < 1) throw invalid('expectedItems must be a positive integer');
  if (!isRate(falsePositiveRate)) throw invalid('falsePositiveRate must be in (0, 1)');
  if (!isCount(items)) throw invalid('items must be a non-negative integer');
  checkConsistent(sizing, expectedItems, falsePositiveRate);
  if (bytes.length !== HEADER_BYTES + sizing.bytes) throw invalid(`holds ${bytes.length - HEADER_BYTES} bytes of bits, expected ${sizing.bytes}`);
  const bits = bytes.subarray(HEADER_BYTES);
  checkDigest(view.getUint32(48, true), dataDigest(bits), 'data digest', 'the bits');
  const { name, clock, events } = restoreOptions('bloomFromBytes', options, undefined);
  const filter = new PlainBloomFilter(name, sizing, expectedItems, falsePositiveRate, clock, events, true);
  filter.restore(items, view.getUint32(44, true), bits);
  return filter;
}
