import { createEventBus } from '@x/core';
import { createVirtualClock } from '@x/core/testing';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CONSUME, PEEK, Verdict } from './algorithms.js';
import { createRateLimiter } from './index.js';
import type { RateLimitAlgorithm } from './index.js';
import { KeyTable } from './key-table.js';
import { Params, makeRule } from './rule.js';

const ALL: readonly RateLimitAlgorithm[] = ['gcra', 'token-bucket', 'sliding-window', 'fixed-window'];

function setup(algorithm: RateLimitAlgorithm, limit: number, periodMs: number, burst?: number) {
  const clock = createVirtualClock();
  const limiter = createRateLimiter({ algorithm, limit, periodMs, ...(burst !== undefined && { burst }), clock, events: createEventBus() });
  return { clock, limiter };
}

/** Admits as many cost-1 requests as it can right now. */
function drain(limiter: { allow(key: string): boolean }, key = 'k', max = 10_000): number {
  let n = 0;
  while (n < max && limiter.allow(key)) n++;
  return n;
}

describe('GCRA (default)', () => {
  it('admits `limit` at once when burst defaults to limit, then one every periodMs / limit', async () => {
    const { clock, limiter } = setup('gcra', 10, 1_000);
    expect(limiter.rule.algorithm).toBe('gcra');
    expect(drain(limiter)).toBe(10);
    const rejected = limiter.limit('k');
    expect(rejected).toMatchObject({ allowed: false, limit: 10, remaining: 0, retryAfterMs: 100, resetAfterMs: 1_000 });
    await clock.advance(99);
    expect(limiter.allow('k')).toBe(false);
    await clock.advance(1);
    expect(limiter.limit('k')).toMatchObject({ allowed: true, remaining: 0, retryAfterMs: 0, resetAfterMs: 1_000 });
    await clock.advance(1_000);
    expect(drain(limiter)).toBe(10);
  });

  it('reports remaining and reset after each admission', () => {
    const { limiter } = setup('gcra', 10, 1_000);
    const first = limiter.limit('k');
    expect(first).toMatchObject({ allowed: true, remaining: 9, retryAfterMs: 0, resetAfterMs: 100 });
    expect(limiter.limit('k', { cost: 4 })).toMatchObject({ allowed: true, remaining: 5, resetAfterMs: 500 });
  });

  it('takes a burst smaller or larger than the limit', async () => {
    const small = setup('gcra', 10, 1_000, 3);
    expect(drain(small.limiter)).toBe(3);
    expect(small.limiter.limit('k').retryAfterMs).toBe(100);
    await small.clock.advance(10_000);
    expect(drain(small.limiter)).toBe(3);

    const large = setup('gcra', 10, 1_000, 25);
    expect(drain(large.limiter)).toBe(25);
    await large.clock.advance(500);
    expect(drain(large.limiter)).toBe(5);
  });

  it('charges `cost` units and rejects what does not fit without charging it', async () => {
    const { clock, limiter } = setup('gcra', 10, 1_000);
    expect(limiter.limit('k', { cost: 8 }).remaining).toBe(2);
    const tooBig = limiter.limit('k', { cost: 4 });
    expect(tooBig).toMatchObject({ allowed: false, remaining: 2, retryAfterMs: 200 });
    // The rejection cost nothing: the two remaining units are still there.
    expect(limiter.limit('k', { cost: 2 })).toMatchObject({ allowed: true, remaining: 0 });
    await clock.advance(400);
    expect(limiter.limit('k', { cost: 4 }).allowed).toBe(true);
  });

  it('handles rates whose interval is not a whole number of ms', async () => {
    const { clock, limiter } = setup('gcra', 3, 1_000);
    expect(drain(limiter)).toBe(3);
    const rejected = limiter.limit('k');
    expect(rejected.retryAfterMs).toBeCloseTo(1_000 / 3, 6);
    await clock.advance(1_000);
    expect(drain(limiter)).toBe(3);
  });
});

describe('token bucket', () => {
  it('admits the burst, then refills continuously at limit per period', async () => {
    const { clock, limiter } = setup('token-bucket', 10, 1_000, 5);
    expect(drain(limiter)).toBe(5);
    expect(limiter.limit('k')).toMatchObject({ allowed: false, retryAfterMs: 100, resetAfterMs: 500 });
    await clock.advance(250);
    expect(limiter.limit('k')).toMatchObject({ allowed: true, remaining: 1 });
    expect(drain(limiter)).toBe(1);
  });

  it('rejects a heavy request without charging it (no debt)', async () => {
    const { clock, limiter } = setup('token-bucket', 10, 1_000);
    limiter.limit('k', { cost: 8 });
    expect(limiter.limit('k', { cost: 5 })).toMatchObject({ allowed: false, remaining: 2, retryAfterMs: 300 });
    expect(limiter.limit('k', { cost: 2 }).allowed).toBe(true);
    await clock.advance(500);
    expect(limiter.limit('k', { cost: 5 })).toMatchObject({ allowed: true, remaining: 0 });
  });
});

describe('fixed window', () => {
  it('admits `limit` per window, anchored at the first request', async () => {
    const { clock, limiter } = setup('fixed-window', 10, 1_000);
    await clock.advance(300);
    expect(drain(limiter)).toBe(10);
    await clock.advance(400);
    expect(limiter.limit('k')).toMatchObject({ allowed: false, remaining: 0, retryAfterMs: 600, resetAfterMs: 600 });
    await clock.advance(599);
    expect(limiter.allow('k')).toBe(false);
    await clock.advance(1);
    expect(drain(limiter)).toBe(10);
  });

  it('charges costs and rejects what does not fit for free', () => {
    const { limiter } = setup('fixed-window', 10, 1_000);
    expect(limiter.limit('k', { cost: 7 }).remaining).toBe(3);
    expect(limiter.limit('k', { cost: 4 })).toMatchObject({ allowed: false, remaining: 3 });
    expect(limiter.limit('k', { cost: 3 })).toMatchObject({ allowed: true, remaining: 0 });
  });

  it('refuses a burst option: a window admits `limit` per window', () => {
    expect(() => createRateLimiter({ algorithm: 'fixed-window', limit: 10, periodMs: 1_000, burst: 5 })).toThrow(
      /option "burst" must be left out for 'fixed-window'/,
    );
  });
});

describe('sliding window counter', () => {
  it('weights the previous window by its overlap with the last period', async () => {
    const { clock, limiter } = setup('sliding-window', 10, 1_000);
    expect(drain(limiter)).toBe(10);
    const rejected = limiter.limit('k');
    // 10 in this window: wait for the next one, where 10 * (1 - f) + 1 <= 10 needs f >= 0.1.
    expect(rejected).toMatchObject({ allowed: false, retryAfterMs: 1_100, resetAfterMs: 2_000 });
    await clock.advance(1_000);
    expect(limiter.allow('k')).toBe(false);
    await clock.advance(100);
    expect(limiter.limit('k')).toMatchObject({ allowed: true, remaining: 0 });
    await clock.advance(400); // f = 0.5: 10 * 0.5 + 1 = 6 => 4 more
    expect(drain(limiter)).toBe(4);
  });

  it('computes retry-after within the current window when its own count leaves room', async () => {
    const { clock, limiter } = setup('sliding-window', 10, 1_000);
    drain(limiter);
    await clock.advance(1_500); // previous = 10, f = 0.5 => estimate 5
    expect(drain(limiter)).toBe(5);
    // now current = 5, previous 10 * 0.5: the next fits when 10 * (1 - f) + 5 + 1 <= 10 => f >= 0.6
    expect(limiter.limit('k').retryAfterMs).toBeCloseTo(100, 6);
  });

  it('forgets windows older than the previous one', async () => {
    const { clock, limiter } = setup('sliding-window', 10, 1_000);
    drain(limiter);
    await clock.advance(2_000);
    expect(drain(limiter)).toBe(10);
  });
});

describe('every algorithm', () => {
  it.each(ALL)('%s: keys are independent', (algorithm) => {
    const { limiter } = setup(algorithm, 2, 1_000);
    expect(drain(limiter, 'a')).toBe(2);
    expect(drain(limiter, 'b')).toBe(2);
  });

  it.each(ALL)('%s: peek answers like limit without consuming', (algorithm) => {
    const { limiter } = setup(algorithm, 2, 1_000);
    expect(limiter.peek('k')).toMatchObject({ allowed: true, remaining: 1 });
    expect(limiter.peek('k')).toMatchObject({ allowed: true, remaining: 1 });
    drain(limiter);
    expect(limiter.peek('k').allowed).toBe(false);
    expect(limiter.size).toBe(1);
    expect(limiter.peek('other').allowed).toBe(true);
    expect(limiter.size).toBe(1);
  });

  it.each(ALL)('%s: reset forgets the key', (algorithm) => {
    const { limiter } = setup(algorithm, 2, 1_000);
    drain(limiter);
    limiter.reset('k');
    expect(drain(limiter)).toBe(2);
  });

  it.each(ALL)('%s: setLimit takes effect at once and burst follows the limit unless set', async (algorithm) => {
    const { clock, limiter } = setup(algorithm, 2, 1_000);
    limiter.setLimit(5);
    expect(limiter.rule).toMatchObject({ limit: 5, periodMs: 1_000, burst: 5 });
    expect(drain(limiter)).toBe(5);
    limiter.setLimit(1, 100);
    expect(limiter.rule).toMatchObject({ limit: 1, periodMs: 100 });
    await clock.advance(10_000);
    expect(drain(limiter)).toBe(1);
  });
});

describe('setBurst', () => {
  it('changes the burst of GCRA and token bucket and pins it across setLimit', async () => {
    for (const algorithm of ['gcra', 'token-bucket'] as const) {
      const { clock, limiter } = setup(algorithm, 10, 1_000);
      limiter.setBurst(2);
      expect(drain(limiter)).toBe(2);
      limiter.setLimit(100);
      expect(limiter.rule).toMatchObject({ limit: 100, burst: 2 });
      await clock.advance(10_000);
      expect(drain(limiter)).toBe(2);
      limiter.setBurst(50);
      await clock.advance(10_000);
      expect(drain(limiter)).toBe(50);
    }
  });

  it('is refused for the window algorithms and for invalid values', () => {
    const { limiter } = setup('fixed-window', 10, 1_000);
    expect(() => limiter.setBurst(5)).toThrow(/'fixed-window' takes no burst/);
    const gcra = setup('gcra', 10, 1_000).limiter;
    for (const bad of [0, -1, 1.5, Number.NaN, Infinity]) {
      expect(() => gcra.setBurst(bad)).toThrow(expect.objectContaining({ code: 'INVALID_OPTIONS', option: 'burst' }));
    }
    expect(gcra.rule.burst).toBe(10);
  });
});

// ---------------------------------------------------------------------------------------------
// Properties, on the pure engine (explicit times, no clock).

interface Step {
  readonly dt: number;
  readonly cost: number;
}

function engine(algorithm: RateLimitAlgorithm, limit: number, periodMs: number, burst: number | undefined) {
  const params = new Params(makeRule('test', 'p', algorithm, limit, periodMs, burst));
  const table = new KeyTable(100, 0);
  const out = new Verdict();
  return {
    params,
    decide(now: number, cost: number, op: typeof CONSUME | typeof PEEK = CONSUME) {
      table.apply('k', now, cost, 0, op, params, out);
      return { ...out };
    },
  };
}

const config = fc.record({
  limit: fc.integer({ min: 1, max: 20 }),
  periodMs: fc.integer({ min: 10, max: 2_000 }),
  burst: fc.integer({ min: 1, max: 20 }),
});
const steps = (maxCost: number) =>
  fc.array(fc.record({ dt: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 400 }), fc.double({ min: 0, max: 50, noNaN: true })), cost: fc.integer({ min: 1, max: maxCost }) }), {
    maxLength: 80,
  });

function run(algorithm: RateLimitAlgorithm, c: { limit: number; periodMs: number; burst: number }, seq: readonly Step[]) {
  const e = engine(algorithm, c.limit, c.periodMs, algorithm === 'gcra' || algorithm === 'token-bucket' ? c.burst : undefined);
  let now = 1_000;
  return seq.map((s) => {
    now += s.dt;
    return { now, cost: Math.min(s.cost, e.params.capacity), ...e.decide(now, Math.min(s.cost, e.params.capacity)) };
  });
}

describe('properties', () => {
  it('GCRA never admits more than burst + elapsed / interval over any window', () => {
    fc.assert(
      fc.property(config, steps(20), (c, seq) => {
        const admitted = run('gcra', c, seq).filter((d) => d.allowed);
        const T = c.periodMs / c.limit;
        for (let i = 0; i < admitted.length; i++) {
          let sum = 0;
          for (let j = i; j < admitted.length; j++) {
            sum += (admitted[j] as { cost: number }).cost;
            const span = (admitted[j] as { now: number }).now - (admitted[i] as { now: number }).now;
            if (sum > c.burst + span / T + 1e-6) return false;
          }
        }
        return true;
      }),
      { numRuns: 300 },
    );
  });

  it('the token bucket admits exactly what GCRA admits', () => {
    fc.assert(
      fc.property(config, steps(20), (c, seq) => {
        const a = run('gcra', c, seq);
        const b = run('token-bucket', c, seq);
        return a.every((d, i) => {
          const o = b[i] as (typeof b)[number];
          return d.allowed === o.allowed && d.remaining === o.remaining && Math.abs(d.retryAfterMs - o.retryAfterMs) < 1e-3;
        });
      }),
      { numRuns: 300 },
    );
  });

  it.each(ALL)('%s: a rejected request costs nothing (removing rejections changes no other decision)', (algorithm) => {
    fc.assert(
      fc.property(config, steps(20), (c, seq) => {
        const full = run(algorithm, c, seq);
        // Replay only the admitted requests, at the same times.
        const e = engine(algorithm, c.limit, c.periodMs, algorithm === 'gcra' || algorithm === 'token-bucket' ? c.burst : undefined);
        return full.filter((d) => d.allowed).every((d) => e.decide(d.now, d.cost).allowed);
      }),
      { numRuns: 200 },
    );
  });

  it.each(ALL)('%s: retryAfterMs is exact: admitted at that time, not a moment before', (algorithm) => {
    fc.assert(
      fc.property(config, steps(20), fc.integer({ min: 1, max: 20 }), (c, seq, rawCost) => {
        const e = engine(algorithm, c.limit, c.periodMs, algorithm === 'gcra' || algorithm === 'token-bucket' ? c.burst : undefined);
        let now = 1_000;
        for (const s of seq) {
          now += s.dt;
          e.decide(now, Math.min(s.cost, e.params.capacity));
        }
        const cost = Math.min(rawCost, e.params.capacity);
        const probe = e.decide(now, cost, PEEK);
        if (probe.allowed) return probe.retryAfterMs === 0;
        const r = probe.retryAfterMs;
        if (!(r > 0)) return false;
        if (r > 0.01 && e.decide(now + r - 0.01, cost, PEEK).allowed) return false;
        return e.decide(now + r, cost, PEEK).allowed;
      }),
      { numRuns: 300 },
    );
  });

  it('fixed window: never more than `limit` within one window', () => {
    fc.assert(
      fc.property(config, steps(20), (c, seq) => {
        let windowStart = -Infinity;
        let inWindow = 0;
        for (const d of run('fixed-window', c, seq)) {
          if (!d.allowed) continue;
          if (d.now >= windowStart + c.periodMs) {
            windowStart = d.now;
            inWindow = 0;
          }
          inWindow += d.cost;
          if (inWindow > c.limit) return false;
        }
        return true;
      }),
      { numRuns: 300 },
    );
  });

  it('sliding window: never more than `limit` per anchored window, 2 x limit in any rolling window', () => {
    fc.assert(
      fc.property(config, steps(20), (c, seq) => {
        const admitted = run('sliding-window', c, seq).filter((d) => d.allowed);
        if (admitted.length === 0) return true;
        const origin = (admitted[0] as { now: number }).now;
        const perWindow = new Map<number, number>();
        for (const d of admitted) {
          const w = Math.floor((d.now - origin) / c.periodMs);
          perWindow.set(w, (perWindow.get(w) ?? 0) + d.cost);
        }
        if ([...perWindow.values()].some((n) => n > c.limit)) return false;
        for (const a of admitted) {
          const rolling = admitted.filter((d) => d.now >= a.now && d.now < a.now + c.periodMs).reduce((s, d) => s + d.cost, 0);
          if (rolling > 2 * c.limit) return false;
        }
        return true;
      }),
      { numRuns: 300 },
    );
  });

  it('remaining never goes negative and counts what can still be admitted at once', () => {
    fc.assert(
      fc.property(fc.constantFrom(...ALL), config, steps(20), (algorithm, c, seq) => {
        const e = engine(algorithm, c.limit, c.periodMs, algorithm === 'gcra' || algorithm === 'token-bucket' ? c.burst : undefined);
        let now = 1_000;
        for (const s of seq) {
          now += s.dt;
          const d = e.decide(now, Math.min(s.cost, e.params.capacity));
          if (d.remaining < 0 || !Number.isInteger(d.remaining)) return false;
        }
        const probe = e.decide(now, 1, PEEK);
        if (!probe.allowed) return true;
        // `remaining` after one more unit: exactly that many further units fit right now.
        let admitted = 0;
        while (admitted <= probe.remaining && e.decide(now, 1).allowed) admitted++;
        return admitted === probe.remaining + 1;
      }),
      { numRuns: 300 },
    );
  });
});
