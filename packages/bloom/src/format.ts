// The serialized form (README "Serialized form"), format 2. One canonical header encodes a plain
// or counting filter's identity and counters; its digest is stored in `toBytes()` output and in
// `toJSON()` output alike, so a restore can tell a header that was edited or damaged from one that
// was written together with its data. Internal (not exported from the package).
//
// Header, little-endian, 56 bytes:
//   0  magic "XBF" + format u8 (2)     4  hash version u8      5  kind u8 (0 plain, 1 counting)
//   6  k u8                            7  reserved u8 (0)      8  shards u32
//   12 bits per shard f64              20 expected items f64   28 false-positive rate f64
//   36 items f64                       44 false positives u32 (capped at 2^32 - 1)
//   48 data digest u32: MurmurHash3_x86_32(data bytes, DIGEST_SEED)
//   52 header digest u32: MurmurHash3_x86_32(bytes 0..51, DIGEST_SEED)
// then the data (the bits, or the counters), exactly as Redis stores a plain filter's bits.
//
// A scalable filter (JSON only) has its own canonical encoding, digested the same way:
//   0  magic "XBF" + format u8 (2)     4  hash version u8      5  kind u8 (2)   6..7 reserved (0)
//   8  stages u32                      12 initial items f64    20 false-positive rate f64
//   28 growth f64                      36 tightening f64       44 false positives u32 (capped)
//   then 12 bytes per stage: items f64, data digest u32.

import { HASH_VERSION, murmur3 } from './hash.js';
import type { BloomSizing } from './sizing.js';

/** Version of the serialized form; format 1 (48-byte header, no digests) is refused. */
export const FORMAT_VERSION = 2;
/** Seed of every digest ("XBF2"). */
export const DIGEST_SEED = 0x58424632;
/** Header bytes before the data in `toBytes()` output. */
export const HEADER_BYTES = 56;
/** Bytes the header digest covers (everything before it). */
const DIGESTED_BYTES = 52;
/** `kind` byte of each filter type. */
export const KIND = { bloom: 0, counting: 1, scalable: 2 } as const;

/** What the header of a plain or counting filter records. */
export interface HeaderFields {
  readonly hashVersion: number;
  readonly kind: number;
  readonly k: number;
  readonly shards: number;
  readonly shardBits: number;
  readonly expectedItems: number;
  readonly falsePositiveRate: number;
  readonly items: number;
  readonly falsePositives: number;
}

/** The header fields of a plain (`KIND.bloom`) or counting (`KIND.counting`) filter. */
export function headerFields(
  kind: number,
  state: { readonly sizing: BloomSizing; readonly expectedItems: number; readonly falsePositiveRate: number; readonly items: number; readonly falsePositives: number },
): HeaderFields {
  const { sizing } = state;
  return {
    hashVersion: HASH_VERSION,
    kind,
    k: sizing.k,
    shards: sizing.shards,
    shardBits: sizing.shardBits,
    expectedItems: state.expectedItems,
    falsePositiveRate: state.falsePositiveRate,
    items: state.items,
    falsePositives: state.falsePositives,
  };
}

const capU32 = (n: number): number => Math.min(n, 0xffffffff);

function writePrefix(view: DataView, hashVersion: number, kind: number): void {
  view.setUint8(0, 0x58);
  view.setUint8(1, 0x42);
  view.setUint8(2, 0x46);
  view.setUint8(3, FORMAT_VERSION);
  view.setUint8(4, hashVersion);
  view.setUint8(5, kind);
}

/** Digest of a filter's data (bits or counters). */
export function dataDigest(data: Uint8Array): number {
  return murmur3(data, DIGEST_SEED);
}

/**
 * Writes the 56-byte header for `fields` and a data digest into `out` (at least 56 bytes) and
 * returns the header digest.
 */
export function writeHeader(out: Uint8Array, fields: HeaderFields, dataDigestValue: number): number {
  const view = new DataView(out.buffer, out.byteOffset, HEADER_BYTES);
  writePrefix(view, fields.hashVersion, fields.kind);
  view.setUint8(6, fields.k);
  view.setUint8(7, 0);
  view.setUint32(8, fields.shards, true);
  view.setFloat64(12, fields.shardBits, true);
  view.setFloat64(20, fields.expectedItems, true);
  view.setFloat64(28, fields.falsePositiveRate, true);
  view.setFloat64(36, fields.items, true);
  view.setUint32(44, capU32(fields.falsePositives), true);
  view.setUint32(48, dataDigestValue, true);
  const digest = murmur3(out.subarray(0, DIGESTED_BYTES), DIGEST_SEED);
  view.setUint32(52, digest, true);
  return digest;
}

/** The header digest of `fields` with `dataDigestValue` (what `toJSON()` stores as `digest`). */
export function headerDigest(fields: HeaderFields, dataDigestValue: number): number {
  return writeHeader(new Uint8Array(HEADER_BYTES), fields, dataDigestValue);
}

/** Digest over a scalable filter's parameters and each stage's items and data digest. */
export function scalableDigest(
  p: { initialItems: number; falsePositiveRate: number; growth: number; tightening: number; falsePositives: number },
  stages: readonly { readonly items: number; readonly digest: number }[],
): number {
  const out = new Uint8Array(48 + 12 * stages.length);
  const view = new DataView(out.buffer);
  writePrefix(view, HASH_VERSION, KIND.scalable);
  view.setUint32(8, stages.length, true);
  view.setFloat64(12, p.initialItems, true);
  view.setFloat64(20, p.falsePositiveRate, true);
  view.setFloat64(28, p.growth, true);
  view.setFloat64(36, p.tightening, true);
  view.setUint32(44, capU32(p.falsePositives), true);
  stages.forEach((stage, i) => {
    view.setFloat64(48 + 12 * i, stage.items, true);
    view.setUint32(56 + 12 * i, stage.digest, true);
  });
  return murmur3(out, DIGEST_SEED);
}

/** A digest as JSON stores it: 8 lowercase hex digits. */
export const digestText = (digest: number): string => (digest >>> 0).toString(16).padStart(8, '0');

/** Parses {@link digestText} output; undefined for anything else. */
export function parseDigest(text: unknown): number | undefined {
  return typeof text === 'string' && /^[0-9a-f]{8}$/.test(text) ? Number.parseInt(text, 16) : undefined;
}
