import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { L1Tier } from './l1.js';

/** A Zipf(s) trace over n keys, from a seeded generator (the same trace every run). */
function zipfTrace(n: number, s: number, length: number, seed: number): Int32Array {
  const cdf = new Float64Array(n);
  let sum = 0;
  for (let i = 0; i < n; i++) cdf[i] = sum += 1 / Math.pow(i + 1, s);
  let x = seed >>> 0;
  const trace = new Int32Array(length);
  for (let j = 0; j < length; j++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    const r = (x / 2 ** 32) * sum;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((cdf[mid] as number) < r) lo = mid + 1;
      else hi = mid;
    }
    trace[j] = lo;
  }
  return trace;
}

function hitRatio(tier: L1Tier<number>, trace: Int32Array): number {
  let hits = 0;
  for (const id of trace) {
    const key = `key:${id}`;
    if (tier.get(key) !== undefined) hits++;
    else tier.set(key, id, 1);
  }
  return hits / trace.length;
}

describe('L1Tier', () => {
  it('beats plain LRU by at least 5 points of hit ratio on Zipf(0.9) at 1% capacity', () => {
    const n = 50_000;
    const trace = zipfTrace(n, 0.9, 400_000, 42);
    const lru = hitRatio(new L1Tier<number>(n / 100, Infinity, 'lru'), trace);
    const tinyLfu = hitRatio(new L1Tier<number>(n / 100, Infinity, 'tinylfu'), trace);
    expect(tinyLfu - lru).toBeGreaterThanOrEqual(0.05);
  });

  it('lets a scan of one-hit keys (5x its size) pass without flushing the popular ones', () => {
    const tier = new L1Tier<number>(100, Infinity, 'tinylfu');
    for (let round = 0; round < 20; round++) for (let i = 0; i < 90; i++) tier.get(`hot${i}`) ?? tier.set(`hot${i}`, i, 1);
    for (let i = 0; i < 500; i++) tier.get(`scan${i}`) ?? tier.set(`scan${i}`, i, 1);
    let kept = 0;
    for (let i = 0; i < 90; i++) if (tier.peek(`hot${i}`) !== undefined) kept++;
    expect(kept).toBeGreaterThanOrEqual(85);
  });

  it('never exceeds maxEntries or maxBytes and keeps what it reports (fast-check)', () => {
    fc.assert(
      fc.property(
        fc.constantFrom<'tinylfu' | 'lru'>('tinylfu', 'lru'),
        fc.array(fc.tuple(fc.constantFrom('get', 'set', 'delete', 'clear'), fc.nat(40), fc.integer({ min: 1, max: 60 })), { maxLength: 300 }),
        (admission, ops) => {
          const tier = new L1Tier<number>(10, 200, admission);
          const model = new Map<string, number>();
          for (const [kind, k, size] of ops) {
            const key = `k${k}`;
            if (kind === 'get') {
              const value = tier.get(key);
              if (value !== undefined) expect(value).toBe(model.get(key));
            } else if (kind === 'set') {
              if (tier.set(key, size, size)) model.set(key, size);
              else model.delete(key);
            } else if (kind === 'delete') {
              tier.delete(key);
              model.delete(key);
            } else {
              tier.clear();
              model.clear();
            }
            expect(tier.size).toBeLessThanOrEqual(10);
            expect(tier.bytes).toBeLessThanOrEqual(200);
            let bytes = 0;
            for (const key of tier.keys()) bytes += tier.peek(key) as number;
            expect(tier.bytes).toBe(bytes);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
