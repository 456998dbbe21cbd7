// Restoring filters from hostile or damaged data, and the scalable filter's limits: regression
// tests from review. A restore either gives a filter that still holds every key, or a clear error.
import { createEventBus, isXError } from '@x/core';
import type { XEvent } from '@x/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bloomFromBytes, bloomFromJSON, createBloomFilter, createCountingBloomFilter, createScalableBloomFilter } from './index.js';
import type { AnyBloomFilterJSON } from './index.js';
import { ScalableFilter } from './scalable.js';

function thrownBy(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  return 'accepted';
}

const keys = Array.from({ length: 300 }, (_, i) => `key:${i}`);

function filled<F extends { add(key: string): boolean }>(filter: F): F {
  for (const key of keys) filter.add(key);
  return filter;
}

/** True when every added key still reads as present. */
const holdsAll = (filter: { has(key: string): boolean }) => keys.every((key) => filter.has(key));

describe('restoring forged or damaged filters', () => {
  it('refuses JSON whose sizing fields disagree with each other (a forged k, m, shards, capacity or rate), instead of a filter with false negatives', () => {
    const events = createEventBus();
    const plain = filled(createBloomFilter({ expectedItems: 300, falsePositiveRate: 0.01, events })).toJSON();
    const counting = filled(createCountingBloomFilter({ expectedItems: 300, falsePositiveRate: 0.01, events })).toJSON();
    for (const good of [plain, counting] as AnyBloomFilterJSON[]) {
      const g = good as unknown as Record<string, number>;
      const forged = [
        { ...good, k: g['k']! + 1 },
        { ...good, k: g['k']! - 1 },
        { ...good, falsePositiveRate: 0.001 },
        { ...good, falsePositiveRate: 0.5 },
        { ...good, expectedItems: 30 },
        { ...good, expectedItems: 30_000 },
        // Two shards of half the bits: the same number of bytes, other positions.
        { ...good, shards: 2 },
      ];
      for (const data of forged) {
        const error = thrownBy(() => bloomFromJSON(data as AnyBloomFilterJSON, { events }));
        if (error === 'accepted') {
          // Accepted only if it still holds every key.
          expect(holdsAll(bloomFromJSON(data as AnyBloomFilterJSON, { events }))).toBe(true);
        } else {
          expect(isXError(error, 'BLOOM_INVALID_DATA'), String(error)).toBe(true);
          expect((error as Error).message).toMatch(/does not match|must/);
        }
      }
    }
  });

  it('refuses a binary form whose header was forged (k, shard bits, capacity, rate), instead of a filter with false negatives', () => {
    const events = createEventBus();
    const bytes = filled(createBloomFilter({ expectedItems: 300, falsePositiveRate: 0.01, events })).toBytes();
    const patch = (edit: (view: DataView) => void) => {
      const copy = bytes.slice();
      edit(new DataView(copy.buffer));
      return copy;
    };
    const forged = [
      patch((v) => v.setUint8(6, v.getUint8(6) + 1)),
      patch((v) => v.setUint8(6, v.getUint8(6) - 1)),
      patch((v) => v.setFloat64(20, 30, true)),
      patch((v) => v.setFloat64(28, 0.2, true)),
    ];
    for (const data of forged) {
      const error = thrownBy(() => bloomFromBytes(data, { events }));
      expect(isXError(error, 'BLOOM_INVALID_DATA'), String(error)).toBe(true);
    }
  });

  it('fuzz: any change to a JSON field or to a header byte gives BLOOM_INVALID_DATA or a filter that still holds every key', () => {
    const events = createEventBus();
    const source = filled(createBloomFilter({ expectedItems: 300, falsePositiveRate: 0.02, events }));
    const json = source.toJSON() as unknown as Record<string, unknown>;
    const bytes = source.toBytes();
    const fields = ['type', 'hashVersion', 'name', 'm', 'k', 'shards', 'expectedItems', 'falsePositiveRate', 'items', 'falsePositives'];
    const value = fc.oneof(fc.integer({ min: -3, max: 1 << 20 }), fc.double(), fc.string(), fc.constant(null), fc.boolean());
    fc.assert(
      fc.property(fc.constantFrom(...fields), value, (field, v) => {
        const data = { ...json, [field]: v };
        let restored;
        try {
          restored = bloomFromJSON(data as unknown as AnyBloomFilterJSON, { events });
        } catch (error) {
          expect(isXError(error, 'BLOOM_INVALID_DATA'), String(error)).toBe(true);
          return;
        }
        expect(holdsAll(restored)).toBe(true);
      }),
      { numRuns: 400 },
    );
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 47 }), fc.integer({ min: 0, max: 255 }), (at, byte) => {
        const copy = bytes.slice();
        copy[at] = byte;
        let restored;
        try {
          restored = bloomFromBytes(copy, { events });
        } catch (error) {
          expect(isXError(error, 'BLOOM_INVALID_DATA'), String(error)).toBe(true);
          return;
        }
        expect(holdsAll(restored)).toBe(true);
      }),
      { numRuns: 400 },
    );
  });

  it('checks the data against the sizing before allocating: a forged huge (but consistent) size is BLOOM_INVALID_DATA, never a giant allocation', () => {
    const events = createEventBus();
    const small = createBloomFilter({ expectedItems: 300, falsePositiveRate: 0.01, events }).toJSON();
    const huge = createBloomFilter({ expectedItems: 300, falsePositiveRate: 0.01, events }).toJSON();
    // 4·10^11 items at 1 %: 3.8·10^12 bits (480 GB) in 895 shards, consistent with k = 7.
    const forged = { ...huge, expectedItems: 4e11, shards: 895, m: 895 * Math.ceil((-4e11 * Math.log(0.01)) / Math.LN2 ** 2 / 895 / 64) * 64, bits: small.bits };
    const error = thrownBy(() => bloomFromJSON(forged, { events }));
    expect(isXError(error, 'BLOOM_INVALID_DATA'), String(error)).toBe(true);
    const scalable = createScalableBloomFilter({ initialItems: 100, falsePositiveRate: 0.01, events }).toJSON();
    const scalableError = thrownBy(() => bloomFromJSON({ ...scalable, initialItems: 4e11 }, { events }));
    expect(isXError(scalableError, 'BLOOM_INVALID_DATA'), String(scalableError)).toBe(true);
  });

  it('refuses a scalable filter whose stages no longer match its parameters (forged rate or tightening)', () => {
    const events = createEventBus();
    const f = createScalableBloomFilter({ initialItems: 100, falsePositiveRate: 0.01, events });
    for (const key of keys) f.add(key);
    const good = f.toJSON();
    expect(good.stages.length).toBeGreaterThan(1);
    expect(holdsAll(bloomFromJSON(good, { events }))).toBe(true);
    for (const data of [{ ...good, falsePositiveRate: 0.0099 }, { ...good, tightening: 0.49 }, { ...good, growth: 3 }]) {
      const error = thrownBy(() => bloomFromJSON(data, { events }));
      if (error === 'accepted') expect(holdsAll(bloomFromJSON(data, { events }))).toBe(true);
      else expect(isXError(error, 'BLOOM_INVALID_DATA'), String(error)).toBe(true);
    }
  });
});

describe('scalable filter limits', () => {
  it('sizes each stage for its rounded k: the compound FPR at every stage capacity stays at or under the target (theory, 40 stages)', () => {
    let worst = 0;
    for (let e = -5; e <= -0.3; e += 0.0125) {
      for (const tightening of [0.5, 0.8, 0.9]) {
        for (const growth of [1, 2, 4]) {
          const p = 10 ** e;
          const filter = new ScalableFilter('t', 10_000, p, growth, tightening, { now: () => 0 } as never, createEventBus());
          let notFalse = 1;
          for (let i = 0; i < 40; i++) {
            const sizing = filter.stageSizing(i);
            if (sizing === undefined) break;
            const { capacity } = filter.stagePlan(i);
            notFalse *= 1 - (1 - Math.exp((-sizing.k * capacity) / sizing.m)) ** sizing.k;
          }
          worst = Math.max(worst, (1 - notFalse) / p);
        }
      }
    }
    expect(worst).toBeLessThanOrEqual(1);
  });

  it('never throws from add() when no tighter stage can be sized (k would pass 64): the last stage takes the keys, reported once', () => {
    const events = createEventBus();
    const seen: XEvent[] = [];
    events.on('*', (e) => seen.push(e));
    // growth 1 keeps stages small; tightening 0.01 uses up the 64 hash functions in a dozen stages.
    const f = createScalableBloomFilter({ initialItems: 20, falsePositiveRate: 0.01, growth: 1, tightening: 0.01, events });
    const many = Array.from({ length: 2_000 }, (_, i) => `m:${i}`);
    for (const key of many) expect(() => f.add(key)).not.toThrow();
    expect(many.every((key) => f.has(key))).toBe(true);
    expect(seen.filter((e) => e.type === 'bloom.capacity_exceeded')).toHaveLength(1);
    expect(f.stats().items).toBeGreaterThan(f.stats().capacity);
    // And it round-trips in that state.
    const again = bloomFromJSON(f.toJSON(), { events });
    expect(many.every((key) => again.has(key))).toBe(true);
  });
});
