import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bloomPositions, bloomSizing, createBloomFilter, murmur3 } from './index.js';
import { hashKey, lastH1, lastH2, shardOf } from './hash.js';

const utf8 = (s: string) => new TextEncoder().encode(s);

/** The contract written out independently: TextEncoder bytes, reference MurmurHash3, exact BigInt arithmetic. */
function referencePositions(key: string, k: number, shards: number, shardBits: number): { shard: number; offsets: number[] } {
  const bytes = utf8(key);
  const h1 = BigInt(murmur3(bytes, 0));
  const step = BigInt((murmur3(bytes, 0x9e3779b9) | 1) >>> 0);
  const m = BigInt(shardBits);
  const offsets: number[] = [];
  for (let i = 0n; i < BigInt(k); i++) offsets.push(Number((h1 + i * step) % m));
  return { shard: shards === 1 ? 0 : murmur3(bytes, 0x85ebca6b) % shards, offsets };
}

describe('hash contract (version 1)', () => {
  it('MurmurHash3_x86_32 matches published vectors', () => {
    // Vectors from the reference implementation (SMHasher) as other libraries publish them.
    expect(murmur3(utf8(''), 0)).toBe(0);
    expect(murmur3(utf8(''), 1)).toBe(0x514e28b7);
    expect(murmur3(utf8(''), 0xffffffff)).toBe(0x81f16f39);
    expect(murmur3(utf8('hello'), 0)).toBe(0x248bfa47);
    expect(murmur3(utf8('The quick brown fox jumps over the lazy dog'), 0)).toBe(0x2e4ff723);
    expect(murmur3(new Uint8Array([0x21, 0x43, 0x65, 0x87]), 0)).toBe(0xf55b516b);
    expect(murmur3(new Uint8Array([0x21, 0x43, 0x65]), 0)).toBe(0x7e4a8634);
    expect(murmur3(new Uint8Array([0x21, 0x43]), 0)).toBe(0xa0f7b07a);
    expect(murmur3(new Uint8Array([0x21]), 0)).toBe(0x72661cf4);
  });

  it('hashes the UTF-8 bytes of any string, lone surrogates as U+FFFD, without building them', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: 'binary' }), fc.string({ unit: 'grapheme' }), fc.string()), (key) => {
        hashKey(key);
        const bytes = utf8(key);
        expect([lastH1, lastH2]).toEqual([murmur3(bytes, 0), murmur3(bytes, 0x9e3779b9)]);
        expect(shardOf(key, 7)).toBe(murmur3(bytes, 0x85ebca6b) % 7);
      }),
      { numRuns: 2_000 },
    );
    // Explicit edges: a lone high and low surrogate, a pair, each UTF-8 length, ASCII tails of 1-3.
    for (const key of ['\ud800', 'a\udc00b', '😀', 'é', '€', 'abcd\u00e9', 'ab', 'abc', 'abcde', '\u0000']) {
      hashKey(key);
      expect(lastH1).toBe(murmur3(utf8(key), 0));
    }
  });

  it('positions follow (h1 + i·(h2|1)) mod m exactly, also at 2^32 bits per shard (no 32-bit wrap)', () => {
    const cases = [
      { k: 7, shards: 1, shardBits: 9_585_088 },
      { k: 10, shards: 1, shardBits: 2 ** 32 },
      { k: 3, shards: 5, shardBits: 2 ** 32 - 64 },
      { k: 13, shards: 1, shardBits: 64 },
    ];
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), fc.constantFrom(...cases), (key, sizing) => {
        const got = bloomPositions(key, sizing);
        expect(got).toEqual(referencePositions(key, sizing.k, sizing.shards, sizing.shardBits));
        for (const o of got.offsets) expect(o).toBeLessThan(sizing.shardBits);
      }),
      { numRuns: 500 },
    );
  });

  it('test vectors from the README', () => {
    // Another implementation of the contract must reproduce these (README "Hash contract").
    const sizing = bloomSizing({ expectedItems: 1_000, falsePositiveRate: 0.01 });
    expect(sizing).toMatchObject({ m: 9_600, k: 7, shards: 1, shardBits: 9_600 });
    expect(bloomPositions('user:42', sizing)).toEqual(referencePositions('user:42', 7, 1, 9_600));
    expect(bloomPositions('user:42', sizing).offsets).toEqual(README_VECTORS['user:42']);
    expect(bloomPositions('café ☕', sizing).offsets).toEqual(README_VECTORS['café ☕']);
    expect(bloomPositions('', sizing).offsets).toEqual(README_VECTORS['']);
  });

  it('the k positions of a key are distinct for every shard size (a multiple of 64, up to 2^32) and every k up to 64', () => {
    // The odd step shares no factor 2 with m, so its cycle modulo m has at least 64 positions.
    fc.assert(
      fc.property(
        fc.string({ unit: 'binary', maxLength: 24 }),
        fc.oneof(fc.integer({ min: 1, max: 2 ** 26 }).map((words) => words * 64), fc.constantFrom(64, 128, 192, 2 ** 32, 2 ** 32 - 64, 3 * 2 ** 30)),
        fc.integer({ min: 1, max: 64 }),
        (key, shardBits, k) => {
          const { offsets } = bloomPositions(key, { k, shards: 1, shardBits });
          expect(new Set(offsets).size).toBe(k);
          expect(offsets).toEqual(referencePositions(key, k, 1, shardBits).offsets);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('a filter sets exactly the bits the positions name, in the Redis bit order', () => {
    const f = createBloomFilter({ expectedItems: 1_000, falsePositiveRate: 0.01 });
    f.add('user:42');
    const bits = f.toBytes().subarray(56);
    const set: number[] = [];
    for (let o = 0; o < 9_600; o++) if (bits[o >> 3]! & (0x80 >> (o & 7))) set.push(o);
    expect(set).toEqual([...new Set(README_VECTORS['user:42'])].sort((a, b) => a - b));
  });
});

/** Offsets at m = 9 600, k = 7 (1 000 items at 1%), as printed in the README. */
const README_VECTORS: Record<string, number[]> = {
  'user:42': [2805, 3284, 3763, 4242, 4721, 5200, 5679],
  'café ☕': [2699, 7762, 3225, 8288, 3751, 8814, 4277],
  '': [0, 7055, 4510, 1965, 9020, 6475, 3930],
};
