import { createEventBus, isXError } from '@x/core';
import type { XEvent } from '@x/core';
import { createVirtualClock } from '@x/core/testing';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bloomFromBytes, bloomFromJSON, bloomSizing, createBloomFilter, createCountingBloomFilter, createScalableBloomFilter } from './index.js';
import type { BloomFilterJSON } from './index.js';

/** The error `fn` throws, or 'accepted'. */
function thrownBy(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  return 'accepted';
}

interface Membership {
  add(key: string): boolean;
  has(key: string): boolean;
}

/** Adds n keys ("k0".."k{n-1}"), checks none is missing, returns the FPR over `queries` keys never added. */
function observedFpr(filter: Membership, n: number, queries: number): number {
  for (let i = 0; i < n; i++) filter.add(`k${i}`);
  // Every key up to 10^6, then a sample (the large filters would spend most of their time here).
  const every = Math.max(1, Math.floor(n / 1_000_000));
  for (let i = 0; i < n; i += every) if (!filter.has(`k${i}`)) throw new Error(`false negative for k${i}`);
  let positives = 0;
  for (let i = 0; i < queries; i++) if (filter.has(`q${i}`)) positives++;
  return positives / queries;
}

describe('sizing', () => {
  it('m = −n·ln p / (ln 2)², k = round(m/n · ln 2), rounded up to 64-bit words', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1e9 }), fc.double({ min: 1e-9, max: 0.5, noNaN: true }), (n, p) => {
        const s = bloomSizing({ expectedItems: n, falsePositiveRate: p });
        const optimal = (n * Math.log(1 / p)) / Math.log(2) ** 2;
        expect(s.optimalBits).toBeCloseTo(optimal, 3);
        expect(s.k).toBe(Math.max(1, Math.round((optimal / n) * Math.log(2))));
        expect(s.m).toBeGreaterThanOrEqual(optimal);
        expect(s.m).toBeLessThan(optimal + 64 * s.shards);
        expect(s.shardBits % 64).toBe(0);
        expect(s.shardBits).toBeLessThanOrEqual(2 ** 32);
        expect(s.m).toBe(s.shardBits * s.shards);
      }),
      { numRuns: 300 },
    );
  });

  it('matches the research anchors: bits per item 1.44·log2(1/p), 1 M items at 1% = 9 585 059 bits, k 7, ≈ 1.198 MB', () => {
    for (const [p, bitsPerItem, k] of [
      [0.05, 6.24, 4],
      [0.01, 9.585, 7],
      [0.001, 14.38, 10],
      [0.0001, 19.17, 13],
    ] as const) {
      const s = bloomSizing({ expectedItems: 1_000_000, falsePositiveRate: p });
      expect(s.optimalBits / 1_000_000).toBeCloseTo(bitsPerItem, 1);
      expect(s.optimalBits / 1_000_000).toBeCloseTo(1.4427 * Math.log2(1 / p), 2);
      expect(s.k).toBe(k);
    }
    const s = bloomSizing({ expectedItems: 1_000_000, falsePositiveRate: 0.01 });
    expect(Math.ceil(s.optimalBits)).toBe(9_585_059);
    expect(Math.abs(s.bytes - 1_198_136)).toBeLessThan(16);
  });

  it('keeps memory within 1% of the optimum for the chosen m (no []bool, no power-of-two rounding)', () => {
    for (const n of [1_000, 12_345, 100_000, 1_000_000]) {
      for (const p of [0.1, 0.01, 0.001]) {
        const f = createBloomFilter({ expectedItems: n, falsePositiveRate: p });
        const { m, bytes } = f.stats();
        expect(bytes).toBe(m / 8);
        expect(f.toBytes().byteLength - 56).toBe(m / 8);
        expect(m / bloomSizing({ expectedItems: n, falsePositiveRate: p }).optimalBits).toBeLessThan(1.01);
      }
    }
    // Counting: exactly 4 bits per position.
    expect(createCountingBloomFilter({ expectedItems: 100_000, falsePositiveRate: 0.01 }).stats().bytes).toBe(
      bloomSizing({ expectedItems: 100_000, falsePositiveRate: 0.01 }).m / 2,
    );
  });

  it('splits filters past 2^32 bits into shards instead of wrapping 32-bit indexes', () => {
    const big = bloomSizing({ expectedItems: 1_000_000_000, falsePositiveRate: 0.01 });
    expect(big.shards).toBe(3);
    expect(big.shardBits).toBeLessThanOrEqual(2 ** 32);
    expect(big.m).toBeGreaterThanOrEqual(big.optimalBits);
    const huge = bloomSizing({ expectedItems: 1e11, falsePositiveRate: 0.001 });
    expect(huge.shards).toBe(Math.ceil(huge.optimalBits / 2 ** 32));
    expect(bloomSizing({ expectedItems: 448_000_000, falsePositiveRate: 0.01 }).shards).toBe(1);
    expect(bloomSizing({ expectedItems: 449_000_000, falsePositiveRate: 0.01 }).shards).toBe(2);
  });
});

describe('createBloomFilter', () => {
  it('never gives a false negative (any strings, including lone surrogates and emoji)', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.string({ unit: 'binary' }), fc.string()), { maxLength: 300 }), fc.integer({ min: 1, max: 4 }), (keys, shards) => {
        const f = createBloomFilter({ expectedItems: 50, falsePositiveRate: 0.05, shards, events: createEventBus() });
        for (const key of keys) f.add(key);
        for (const key of keys) expect(f.has(key)).toBe(true);
        expect(f.hasMany(keys).every(Boolean)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it.each([1_000, 100_000])('observed FPR at %i items stays within 1.2× of 1%', (n) => {
    const f = createBloomFilter({ expectedItems: n, falsePositiveRate: 0.01, events: createEventBus() });
    const fpr = observedFpr(f, n, 500_000);
    expect(fpr).toBeLessThanOrEqual(0.012);
    expect(fpr).toBeGreaterThan(0.005); // a broken (too empty) filter would hide bugs
    expect(f.stats().estimatedFpr).toBeCloseTo(0.01, 2);
  });

  it('observed FPR at 10^7 items stays within 1.2× of 1% (large filter, 11.5 MB)', () => {
    const f = createBloomFilter({ expectedItems: 10_000_000, falsePositiveRate: 0.01, events: createEventBus() });
    const fpr = observedFpr(f, 10_000_000, 1_000_000);
    expect(fpr).toBeLessThanOrEqual(0.012);
    expect(fpr).toBeGreaterThan(0.008);
    const s = f.stats();
    expect(s.fillRatio).toBeGreaterThan(0.48);
    expect(s.fillRatio).toBeLessThan(0.52);
  }, 60_000);

  it('observed FPR within 1.2× at other rates and when sharded', () => {
    for (const [p, shards] of [
      [0.1, 1],
      [0.001, 1],
      [0.01, 4],
    ] as const) {
      const f = createBloomFilter({ expectedItems: 20_000, falsePositiveRate: p, shards, events: createEventBus() });
      expect(observedFpr(f, 20_000, 400_000)).toBeLessThanOrEqual(p * 1.2);
    }
    const forced = createBloomFilter({ expectedItems: 50_000, falsePositiveRate: 0.01, maxShardBits: 64 * 1024, events: createEventBus() });
    expect(forced.stats().shards).toBe(8);
    expect(observedFpr(forced, 50_000, 400_000)).toBeLessThanOrEqual(0.012);
  });

  it('add() says whether the key was possibly present; items counts new keys only', () => {
    const f = createBloomFilter({ expectedItems: 100, falsePositiveRate: 0.01, events: createEventBus() });
    expect(f.add('a')).toBe(false);
    expect(f.add('a')).toBe(true);
    expect(f.addMany(['b', 'a', 'c'])).toEqual([false, true, false]);
    expect(f.hasMany(['a', 'b', 'c', 'zzz'])).toEqual([true, true, true, false]);
    const s = f.stats();
    expect(s).toMatchObject({ items: 3, capacity: 100, targetFpr: 0.01, k: 7, hashVersion: 1, falsePositives: 0 });
    expect(s.fillRatio).toBeCloseTo(21 / s.m, 5);
    expect(s.estimatedFpr).toBeCloseTo((21 / s.m) ** 7, 12);
    f.clear();
    expect(f.has('a')).toBe(false);
    expect(f.stats()).toMatchObject({ items: 0, fillRatio: 0, estimatedFpr: 0 });
  });

  it('reports passing its capacity once, and false positives as events, counted in stats', () => {
    const events = createEventBus();
    const clock = createVirtualClock({ now: 5_000 });
    const seen: XEvent[] = [];
    events.on('*', (e) => seen.push(e));
    const f = createBloomFilter({ name: 'ids', expectedItems: 10, falsePositiveRate: 0.01, clock, events });
    for (let i = 0; i < 30; i++) f.add(`key-${i}`);
    const over = seen.filter((e) => e.type === 'bloom.capacity_exceeded');
    expect(over).toHaveLength(1);
    expect(over[0]).toMatchObject({ source: 'bloom', name: 'ids', time: 5_000, items: 11, capacity: 10 });
    f.recordFalsePositive();
    f.recordFalsePositive();
    expect(seen.filter((e) => e.type === 'bloom.false_positive').map((e) => (e as { falsePositives?: number }).falsePositives)).toEqual([1, 2]);
    expect(f.stats().falsePositives).toBe(2);
    expect(events.tracked('bloom').map((t) => t.name)).toEqual(['ids']);
  });

  it('round-trips through JSON and the compact bytes form, bit for bit', () => {
    const f = createBloomFilter({ name: 'x', expectedItems: 5_000, falsePositiveRate: 0.02, shards: 2, events: createEventBus() });
    for (let i = 0; i < 3_000; i++) f.add(`id-${i}`);
    f.recordFalsePositive();
    const fromJson = bloomFromJSON(JSON.stringify(f), { events: createEventBus() });
    const fromObject = bloomFromJSON(f.toJSON(), { events: createEventBus() });
    const fromBytes = bloomFromBytes(f.toBytes(), { name: 'x', events: createEventBus() });
    for (const copy of [fromJson, fromObject, fromBytes]) {
      expect(copy.stats()).toEqual(f.stats());
      expect(copy.toBytes()).toEqual(f.toBytes());
      for (let i = 0; i < 3_000; i++) expect(copy.has(`id-${i}`)).toBe(true);
    }
    expect(fromJson.name).toBe('x');
    // The bytes form is the bits plus a 56-byte header; JSON carries them as base64 (4/3).
    expect(f.toBytes().byteLength).toBe(f.stats().bytes + 56);
    expect(f.toJSON().bits.length).toBe(Math.ceil(f.stats().bytes / 3) * 4);
  });

  it('refuses corrupt or foreign data with BLOOM_INVALID_DATA', () => {
    const good = createBloomFilter({ expectedItems: 100, falsePositiveRate: 0.01, events: createEventBus() }).toJSON();
    const bad: unknown[] = [
      'not json',
      '42',
      null,
      { ...good, hashVersion: 2 },
      { ...good, type: 'cuckoo' },
      { ...good, bits: good.bits.slice(4) },
      { ...good, bits: '!!!!' },
      { ...good, k: 0 },
      { ...good, k: 65 },
      { ...good, m: good.m + 1 },
      { ...good, falsePositiveRate: 1 },
      { ...good, expectedItems: -1 },
      { ...good, items: Number.NaN },
    ];
    for (const data of bad) {
      const error = thrownBy(() => bloomFromJSON(data as BloomFilterJSON));
      expect(isXError(error, 'BLOOM_INVALID_DATA'), JSON.stringify(data)?.slice(0, 60)).toBe(true);
    }
    const bytes = createBloomFilter({ expectedItems: 100, falsePositiveRate: 0.01, events: createEventBus() }).toBytes();
    for (const data of [bytes.subarray(0, 40), bytes.subarray(0, bytes.length - 1), Uint8Array.from(bytes, (b, i) => (i === 0 ? 0 : b)), Uint8Array.from(bytes, (b, i) => (i === 4 ? 9 : b))]) {
      expect(isXError(thrownBy(() => bloomFromBytes(data)), 'BLOOM_INVALID_DATA')).toBe(true);
    }
  });

  it('rejects bad options with INVALID_OPTIONS naming the option, and non-string keys at the call', () => {
    const base = { expectedItems: 100, falsePositiveRate: 0.01 };
    const cases: [Record<string, unknown>, string][] = [
      [{ ...base, expectedItems: 0 }, 'expectedItems'],
      [{ ...base, expectedItems: -5 }, 'expectedItems'],
      [{ ...base, expectedItems: 1.5 }, 'expectedItems'],
      [{ ...base, expectedItems: Number.POSITIVE_INFINITY }, 'expectedItems'],
      [{ ...base, expectedItems: '100' }, 'expectedItems'],
      [{ falsePositiveRate: 0.01 }, 'expectedItems'],
      [{ ...base, falsePositiveRate: 0 }, 'falsePositiveRate'],
      [{ ...base, falsePositiveRate: 1 }, 'falsePositiveRate'],
      [{ ...base, falsePositiveRate: -0.1 }, 'falsePositiveRate'],
      [{ ...base, falsePositiveRate: 1.5 }, 'falsePositiveRate'],
      [{ ...base, falsePositiveRate: Number.NaN }, 'falsePositiveRate'],
      [{ ...base, falsePositiveRate: 1e-30 }, 'falsePositiveRate'],
      [{ ...base, shards: 0 }, 'shards'],
      [{ ...base, maxShardBits: 100 }, 'maxShardBits'],
      [{ ...base, maxShardBits: 2 ** 33 }, 'maxShardBits'],
      [{ ...base, name: '' }, 'name'],
      [{ ...base, capacity: 10 }, 'capacity'],
    ];
    for (const [options, option] of cases) {
      const error = thrownBy(() => createBloomFilter(options as never));
      expect(isXError(error, 'INVALID_OPTIONS'), `${option}: ${String(error)}`).toBe(true);
      expect((error as { option: string }).option).toBe(option);
    }
    expect(isXError(thrownBy(() => createBloomFilter(undefined as never)), 'INVALID_OPTIONS')).toBe(true);
    // Inherited values are never read as options.
    const inherited = Object.create({ expectedItems: 10, falsePositiveRate: 0.1 }) as never;
    expect(isXError(thrownBy(() => createBloomFilter(inherited)), 'INVALID_OPTIONS')).toBe(true);

    const f = createBloomFilter({ ...base, events: createEventBus() });
    for (const key of [42, null, undefined, {}, Symbol('s'), ['a']]) {
      for (const call of [() => f.add(key as never), () => f.has(key as never), () => f.addMany([key as never]), () => f.hasMany([key as never])]) {
        const error = thrownBy(call);
        expect(isXError(error, 'INVALID_OPTIONS')).toBe(true);
        expect((error as Error).message).toMatch(/"key" must be a string/);
      }
    }
  });

  it('fuzz: any options object either builds a working filter or throws INVALID_OPTIONS', () => {
    const value = fc.oneof(fc.anything(), fc.double(), fc.integer({ min: -10, max: 1e7 }));
    fc.assert(
      fc.property(fc.record({ expectedItems: value, falsePositiveRate: value }, { requiredKeys: [] }), (options) => {
        let filter;
        try {
          filter = createBloomFilter({ ...(options as object), events: createEventBus() } as never);
        } catch (error) {
          expect(isXError(error, 'INVALID_OPTIONS')).toBe(true);
          return;
        }
        filter.add('x');
        expect(filter.has('x')).toBe(true);
      }),
      { numRuns: 300 },
    );
  });
});

describe('createScalableBloomFilter', () => {
  it('never gives a false negative while it grows', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ unit: 'binary' }), { maxLength: 400 }), (keys) => {
        const f = createScalableBloomFilter({ initialItems: 8, falsePositiveRate: 0.05, events: createEventBus() });
        for (const key of keys) f.add(key);
        for (const key of keys) expect(f.has(key)).toBe(true);
      }),
      { numRuns: 200 },
    );
  });

  it('stages grow by `growth` with rates tightened by `tightening`; their sum stays under the target', () => {
    const events = createEventBus();
    const added: XEvent[] = [];
    events.on('bloom.stage_added', (e) => added.push(e));
    const f = createScalableBloomFilter({ initialItems: 100, falsePositiveRate: 0.01, growth: 3, tightening: 0.8, events });
    for (let i = 0; i < 5_000; i++) f.add(`k${i}`);
    const { stages, targetFpr, items } = f.stats();
    expect(stages.length).toBeGreaterThan(3);
    stages.forEach((stage, i) => {
      expect(stage.capacity).toBe(Math.ceil(100 * 3 ** i));
      expect(stage.falsePositiveRate).toBeCloseTo(0.01 * 0.2 * 0.8 ** i, 12);
      expect(stage.items).toBeLessThanOrEqual(stage.capacity);
      if (i > 0) expect(stage.k).toBeGreaterThanOrEqual(stages[i - 1]!.k);
    });
    expect(stages.reduce((sum, s) => sum + s.falsePositiveRate, 0)).toBeLessThan(targetFpr);
    // Infinite sum of the planned rates: p·(1−r)·Σ rⁱ = p.
    expect(added.map((e) => (e as { stage?: number }).stage)).toEqual(stages.slice(1).map((_, i) => i + 1));
    expect(items).toBeLessThanOrEqual(5_000);
    expect(items).toBeGreaterThan(4_950);
  });

  it.each([
    [1_000, 100],
    [100_000, 1_000],
  ])('compound FPR at %i items (initialItems %i) stays within 1.2× of 1%', (n, initialItems) => {
    const f = createScalableBloomFilter({ initialItems, falsePositiveRate: 0.01, events: createEventBus() });
    expect(observedFpr(f, n, 300_000)).toBeLessThanOrEqual(0.012);
    expect(f.stats().estimatedFpr).toBeLessThan(0.01);
  });

  it('compound FPR at 10^7 items (grown from 2·10^6 in 3 stages) stays within 1.2× of 1%', () => {
    const f = createScalableBloomFilter({ initialItems: 2_000_000, falsePositiveRate: 0.01, events: createEventBus() });
    expect(observedFpr(f, 10_000_000, 300_000)).toBeLessThanOrEqual(0.012);
    expect(f.stats().stages).toHaveLength(3);
  }, 60_000);

  it('round-trips through JSON', () => {
    const f = createScalableBloomFilter({ name: 's', initialItems: 50, falsePositiveRate: 0.01, growth: 2, tightening: 0.5, events: createEventBus() });
    for (let i = 0; i < 500; i++) f.add(`k${i}`);
    f.recordFalsePositive();
    const copy = bloomFromJSON(JSON.parse(JSON.stringify(f)) as ReturnType<typeof f.toJSON>, { events: createEventBus() });
    expect(copy.stats()).toEqual(f.stats());
    for (let i = 0; i < 500; i++) expect(copy.has(`k${i}`)).toBe(true);
    copy.add('new');
    expect(copy.has('new')).toBe(true);
  });

  it('rejects bad options with INVALID_OPTIONS', () => {
    const base = { initialItems: 100, falsePositiveRate: 0.01 };
    for (const [options, option] of [
      [{ ...base, initialItems: 0 }, 'initialItems'],
      [{ ...base, falsePositiveRate: 1 }, 'falsePositiveRate'],
      [{ ...base, growth: 0.5 }, 'growth'],
      [{ ...base, growth: Number.NaN }, 'growth'],
      [{ ...base, tightening: 1 }, 'tightening'],
      [{ ...base, tightening: 0 }, 'tightening'],
      [{ ...base, expectedItems: 10 }, 'expectedItems'],
    ] as const) {
      const error = thrownBy(() => createScalableBloomFilter(options as never));
      expect((error as { option?: string }).option).toBe(option);
    }
    const f = createScalableBloomFilter({ ...base, events: createEventBus() });
    expect(isXError(thrownBy(() => f.has(1 as never)), 'INVALID_OPTIONS')).toBe(true);
  });
});

describe('createCountingBloomFilter', () => {
  it('never gives a false negative for keys added and not (fully) removed, whatever the order', () => {
    const op = fc.tuple(fc.constantFrom('add', 'remove'), fc.integer({ min: 0, max: 40 }));
    fc.assert(
      fc.property(fc.array(op, { maxLength: 400 }), (ops) => {
        const f = createCountingBloomFilter({ expectedItems: 20, falsePositiveRate: 0.05, events: createEventBus() });
        const count = new Map<string, number>();
        for (const [kind, id] of ops) {
          const key = `key-${id}`;
          const n = count.get(key) ?? 0;
          if (kind === 'add') {
            f.add(key);
            count.set(key, n + 1);
          } else if (n > 0) {
            // Only keys that were added are removed (the documented contract).
            expect(f.remove(key)).toBe(true);
            count.set(key, n - 1);
          }
          for (const [k, c] of count) if (c > 0) expect(f.has(k)).toBe(true);
        }
      }),
      { numRuns: 200 },
    );
  });

  it('forgets removed keys, saturates at 15 and never decrements a saturated counter', () => {
    const f = createCountingBloomFilter({ expectedItems: 1_000, falsePositiveRate: 0.01, events: createEventBus() });
    f.add('a');
    expect(f.remove('a')).toBe(true);
    expect(f.has('a')).toBe(false);
    expect(f.remove('a')).toBe(false);
    for (let i = 0; i < 20; i++) f.add('hot');
    expect(f.stats().saturated).toBe(7);
    for (let i = 0; i < 20; i++) f.remove('hot');
    // 20 adds, 20 removes: the counters stuck at 15, so it still reads as present (never a false negative).
    expect(f.has('hot')).toBe(true);
    expect(f.stats().saturated).toBe(7);
  });

  it('keeps its FPR within 1.2× of the target and round-trips through JSON', () => {
    const f = createCountingBloomFilter({ expectedItems: 50_000, falsePositiveRate: 0.01, events: createEventBus() });
    expect(observedFpr(f, 50_000, 200_000)).toBeLessThanOrEqual(0.012);
    for (let i = 0; i < 25_000; i++) f.remove(`k${i}`);
    for (let i = 25_000; i < 50_000; i++) expect(f.has(`k${i}`)).toBe(true);
    const copy = bloomFromJSON(JSON.parse(JSON.stringify(f)) as ReturnType<typeof f.toJSON>, { events: createEventBus() });
    expect(copy.stats()).toEqual(f.stats());
    expect(copy.toJSON().counters).toBe(f.toJSON().counters);
  });
});
