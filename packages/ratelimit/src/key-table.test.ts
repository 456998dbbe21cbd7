import { gc } from '@x/test-support';
import { createEventBus } from '@x/core';
import type { XEvent } from '@x/core';
import { createVirtualClock } from '@x/core/testing';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CONSUME, Verdict } from './algorithms.js';
import { createRateLimiter } from './index.js';
import type { RateLimitAlgorithm } from './index.js';
import { KeyTable } from './key-table.js';
import { Params, makeRule } from './rule.js';

function setup(maxKeys: number, algorithm: RateLimitAlgorithm = 'gcra', periodMs = 60_000) {
  const clock = createVirtualClock();
  const events = createEventBus();
  const evictions: XEvent[] = [];
  events.on('ratelimit.keys_evicted', (e) => evictions.push(e));
  const limiter = createRateLimiter({ algorithm, limit: 5, periodMs, maxKeys, clock, events });
  return { clock, limiter, evictions };
}

describe('memory bound', () => {
  it('never holds more than maxKeys, however many distinct keys arrive', () => {
    const { limiter, evictions } = setup(100);
    let max = 0;
    for (let i = 0; i < 10_000; i++) {
      limiter.limit(`attacker-${i}`);
      max = Math.max(max, limiter.size);
    }
    expect(max).toBe(100);
    expect(evictions.length).toBeGreaterThan(0);
    expect(evictions.at(-1)).toMatchObject({ type: 'ratelimit.keys_evicted', source: 'ratelimit', evicted: 1, size: 99 });
  });

  it('drops idle keys as new ones arrive, without losing any state (no eviction event)', async () => {
    for (const algorithm of ['gcra', 'token-bucket', 'sliding-window', 'fixed-window'] as const) {
      const { clock, limiter, evictions } = setup(1_000, algorithm, 100);
      for (let i = 0; i < 500; i++) limiter.limit(`old-${i}`);
      expect(limiter.size).toBe(500);
      await clock.advance(1_000); // every old key is back to a fresh state
      for (let i = 0; i < 300; i++) limiter.limit(`new-${i}`);
      // Two steps of the hand per new key: 600 steps cover the 500 idle keys.
      expect(limiter.size).toBe(300);
      expect(evictions).toEqual([]);
    }
  });

  it('keeps keys in use while rotating attacker keys evict each other (second chance)', () => {
    const { limiter } = setup(50);
    for (let i = 0; i < 5; i++) limiter.limit('hot');
    expect(limiter.limit('hot').allowed).toBe(false);
    for (let i = 0; i < 5_000; i++) {
      limiter.limit(`attacker-${i}`);
      if (i % 10 === 0) expect(limiter.limit('hot').allowed).toBe(false);
    }
    // The hot key kept its state throughout: it is still drained.
    expect(limiter.peek('hot').allowed).toBe(false);
  });

  it('keeps the heap flat under a flood of distinct keys', () => {
    const limiter = createRateLimiter({ limit: 5, periodMs: 60_000, maxKeys: 1_000, clock: createVirtualClock(), events: createEventBus() });
    for (let i = 0; i < 2_000; i++) limiter.limit(`warm-${i}`);
    gc();
    const before = process.memoryUsage().heapUsed;
    for (let i = 0; i < 200_000; i++) limiter.limit(`flood-${i}-${'x'.repeat(20)}`);
    gc();
    const grown = process.memoryUsage().heapUsed - before;
    expect(limiter.size).toBe(1_000);
    // Unbounded, 200k entries and their keys would take tens of MB.
    expect(grown).toBeLessThan(4 * 1024 * 1024);
  });

  it('size stays within maxKeys and admitted keys are never evicted while there is room (fuzzed)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 20 }),
        fc.array(fc.record({ key: fc.integer({ min: 0, max: 40 }), dt: fc.integer({ min: 0, max: 300 }) }), { maxLength: 300 }),
        (maxKeys, steps) => {
          const params = new Params(makeRule('t', 'p', 'gcra', 2, 1_000, undefined));
          let evicted = 0;
          const table = new KeyTable(maxKeys, 0);
          table.onEvicted = (n) => {
            evicted += n;
          };
          const out = new Verdict();
          let now = 0;
          for (const s of steps) {
            now += s.dt;
            table.apply(String(s.key), now, 1, 0, CONSUME, params, out);
            if (table.size > maxKeys) return false;
          }
          return evicted === 0 || steps.length > maxKeys;
        },
      ),
      { numRuns: 300 },
    );
  });
});
