import { InvalidOptionsError } from '@x/core';
import { hashKey, lastH1, lastH2, shardOf } from './hash.js';
import type { BloomSizing } from './sizing.js';

// Bit `o` of a shard is bit (7 - o % 8) of byte o / 8: the layout of a Redis string, so a
// filter's bytes and the Redis value of the same filter are identical (BITFIELD u1 / GETBIT order).

/** True when all k bits of the last hashed key are set in `bits` (a shard of `m` bits). */
export function probe(bits: Uint8Array, m: number, k: number): boolean {
  let pos = lastH1 % m;
  const step = ((lastH2 | 1) >>> 0) % m;
  for (let i = 0; i < k; i++) {
    if ((bits[pos >>> 3]! & (0x80 >>> (pos & 7))) === 0) return false;
    pos += step;
    if (pos >= m) pos -= m;
  }
  return true;
}

/** Sets the k bits of the last hashed key; returns how many of them were 0 before. */
export function insert(bits: Uint8Array, m: number, k: number): number {
  let pos = lastH1 % m;
  const step = ((lastH2 | 1) >>> 0) % m;
  let fresh = 0;
  for (let i = 0; i < k; i++) {
    const byte = pos >>> 3;
    const mask = 0x80 >>> (pos & 7);
    const old = bits[byte]!;
    if ((old & mask) === 0) {
      bits[byte] = old | mask;
      fresh++;
    }
    pos += step;
    if (pos >= m) pos -= m;
  }
  return fresh;
}

/**
 * The shard of `key` and its k bit offsets within that shard, by the hash contract: what the Redis
 * filter sends, and what another implementation must reproduce (README "Hash contract").
 *
 * @example
 * ```ts
 * const sizing = bloomSizing({ expectedItems: 1e6, falsePositiveRate: 0.01 });
 * bloomPositions('user:42', sizing); // { shard: 0, offsets: [7 numbers below sizing.shardBits] }
 * ```
 */
export function bloomPositions(key: string, sizing: Pick<BloomSizing, 'k' | 'shards' | 'shardBits'>): { shard: number; offsets: number[] } {
  if (typeof key !== 'string') throw badKey('bloomPositions', key);
  const m = sizing.shardBits;
  const shard = shardOf(key, sizing.shards);
  hashKey(key);
  const offsets = new Array<number>(sizing.k);
  let pos = lastH1 % m;
  const step = ((lastH2 | 1) >>> 0) % m;
  for (let i = 0; i < sizing.k; i++) {
    offsets[i] = pos;
    pos += step;
    if (pos >= m) pos -= m;
  }
  return { shard, offsets };
}

/** Counts the set bits of `bits`. */
export function popcount(bits: Uint8Array): number {
  let count = 0;
  for (let i = 0; i < bits.length; i++) {
    let v = bits[i]!;
    v = v - ((v >> 1) & 0x55);
    v = (v & 0x33) + ((v >> 2) & 0x33);
    count += (v + (v >> 4)) & 0x0f;
  }
  return count;
}

/** The per-call key check: a clear error at the call that is wrong. */
export function badKey(owner: string, key: unknown): InvalidOptionsError {
  return new InvalidOptionsError(owner, 'key', key, 'a string');
}
