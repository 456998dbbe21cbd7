import { InvalidOptionsError, checkInteger, checkNumber } from '@x/core';

/**
 * Bits per shard can never exceed this: one Redis string holds at most 2³² bits (512 MiB).
 *
 * @example
 * ```ts
 * createBloomFilter({ expectedItems: 1e9, falsePositiveRate: 0.01 }).stats().shards; // 3 (m > MAX_SHARD_BITS)
 * ```
 */
export const MAX_SHARD_BITS = 2 ** 32;
/** Every shard's bit count is a multiple of this (whole 64-bit words, whole bytes on Redis). */
export const BIT_ALIGN = 64;
/** More hash functions than this cannot come from any sensible false-positive rate. */
const MAX_K = 64;

/** What {@link bloomSizing} decides. */
export interface BloomSizing {
  /** Total bits (`shards × shardBits`). */
  readonly m: number;
  /** Hash functions (bits set per key). */
  readonly k: number;
  /** Independent bit arrays a key is routed to by the shard hash (1 unless m exceeds `maxShardBits`). */
  readonly shards: number;
  /** Bits per shard, a multiple of 64 and at most `maxShardBits`. */
  readonly shardBits: number;
  /** The unrounded optimum, −n·ln p / (ln 2)². */
  readonly optimalBits: number;
  /** Bytes the bits occupy (`m / 8`). */
  readonly bytes: number;
}

/** Options of {@link bloomSizing}. */
export interface BloomSizingOptions {
  /** Items the filter must hold at `falsePositiveRate` (n). */
  readonly expectedItems: number;
  /** Target false-positive rate p, in (0, 1). */
  readonly falsePositiveRate: number;
  /** Split the bits into at least this many shards. Default 1. */
  readonly shards?: number;
  /** Largest shard, in bits (a multiple of 64, at most 2³²). Default 2³². */
  readonly maxShardBits?: number;
}

/**
 * Sizes a filter by the standard formulas: m = −n·ln p / (ln 2)² bits and k = round(m/n · ln 2)
 * (at least 1). m is rounded up to whole 64-bit words per shard; when it exceeds `maxShardBits`
 * (2³² by default, the most one Redis string or one 32-bit index can address) the bits are split
 * into shards instead of letting indexes wrap. Throws `INVALID_OPTIONS` for sizes that are not
 * positive integers or rates outside (0, 1).
 *
 * @example
 * ```ts
 * bloomSizing({ expectedItems: 1_000_000, falsePositiveRate: 0.01 });
 * // { m: 9_585_088, k: 7, shards: 1, shardBits: 9_585_088, bytes: 1_198_136, ... }
 * ```
 */
export function bloomSizing(options: BloomSizingOptions, owner = 'bloomSizing'): BloomSizing {
  const n = checkInteger(owner, 'expectedItems', options.expectedItems, { min: 1, max: Number.MAX_SAFE_INTEGER });
  const p = checkNumber(owner, 'falsePositiveRate', options.falsePositiveRate, { min: 0, max: 1, minExclusive: true, maxExclusive: true });
  const maxShardBits = checkInteger(owner, 'maxShardBits', options.maxShardBits ?? MAX_SHARD_BITS, { min: BIT_ALIGN, max: MAX_SHARD_BITS });
  if (maxShardBits % BIT_ALIGN !== 0) {
    throw new InvalidOptionsError(owner, 'maxShardBits', maxShardBits, `a multiple of ${BIT_ALIGN}`);
  }
  const minShards = checkInteger(owner, 'shards', options.shards ?? 1, { min: 1, max: 1024 });
  const optimalBits = (-n * Math.log(p)) / (Math.LN2 * Math.LN2);
  const k = Math.max(1, Math.round((optimalBits / n) * Math.LN2));
  if (k > MAX_K) throw new InvalidOptionsError(owner, 'falsePositiveRate', p, `a rate that needs at most ${MAX_K} hash functions (>= ~1e-19)`);
  const shards = Math.max(minShards, Math.ceil(optimalBits / maxShardBits));
  if (shards > 1024) {
    throw new InvalidOptionsError(owner, 'expectedItems', n, `a size that fits 1024 shards of ${maxShardBits} bits at falsePositiveRate ${p}`);
  }
  const shardBits = Math.min(maxShardBits, Math.ceil(optimalBits / shards / BIT_ALIGN) * BIT_ALIGN);
  const m = shardBits * shards;
  return { m, k, shards, shardBits, optimalBits, bytes: m / 8 };
}

/**
 * {@link bloomSizing} with m raised, when needed, so that the filter's false-positive rate at
 * capacity with the rounded k, (1 − e^(−k·n/m))^k, is at most p. The plain formulas give m for the
 * unrounded k, so a k rounded away from its optimum can overshoot p by up to a few percent; the
 * scalable filter sizes its stages with this, so the sum of the stage rates really bounds the
 * compound rate. Internal (not exported from the package).
 */
export function boundedSizing(options: BloomSizingOptions, owner: string): BloomSizing {
  const sizing = bloomSizing(options, owner);
  const n = options.expectedItems;
  const p = options.falsePositiveRate;
  const k = sizing.k;
  const rateAt = (m: number) => (1 - Math.exp((-k * n) / m)) ** k;
  if (rateAt(sizing.m) <= p) return sizing;
  // Solve (1 − e^(−k·n/m))^k = p for m, then round up as bloomSizing does.
  const needed = (-k * n) / Math.log1p(-(p ** (1 / k)));
  const maxShardBits = options.maxShardBits ?? MAX_SHARD_BITS;
  const shards = Math.max(sizing.shards, Math.ceil(needed / maxShardBits));
  if (shards > 1024) throw new InvalidOptionsError(owner, 'expectedItems', n, `a size that fits 1024 shards of ${maxShardBits} bits at falsePositiveRate ${p}`);
  let shardBits = Math.ceil(needed / shards / BIT_ALIGN) * BIT_ALIGN;
  // Floating point: make sure the rounded size really meets the bound.
  while (rateAt(shardBits * shards) > p && shardBits + BIT_ALIGN <= maxShardBits) shardBits += BIT_ALIGN;
  const m = shardBits * shards;
  return { m, k, shards, shardBits, optimalBits: sizing.optimalBits, bytes: m / 8 };
}
