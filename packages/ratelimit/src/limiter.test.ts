import { createEventBus, defaultEventBus, isXError } from '@x/core';
import type { Clock, XEvent } from '@x/core';
import { createVirtualClock } from '@x/core/testing';
import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { createRateLimiter } from './index.js';
import type { RateLimitRejectedEvent, RateLimiterOptions } from './index.js';

function setup(options: Partial<RateLimiterOptions> = {}) {
  const clock = createVirtualClock();
  const events = createEventBus();
  const seen: XEvent[] = [];
  events.on('*', (e) => {
    if (e.type !== 'core.instance_tracked') seen.push(e);
  });
  const limiter = createRateLimiter({ name: 'api', limit: 2, periodMs: 1_000, clock, events, ...options, store: undefined });
  return { clock, events, seen, limiter };
}

describe('createRateLimiter: options', () => {
  it('defaults to GCRA, burst = limit, unbounded wait and the name "ratelimit"', () => {
    const limiter = createRateLimiter({ limit: 5, periodMs: 60_000 });
    expect(limiter.name).toBe('ratelimit');
    expect(limiter.rule).toEqual({ name: 'ratelimit', algorithm: 'gcra', limit: 5, periodMs: 60_000, burst: 5 });
    expect(Object.isFrozen(limiter.rule)).toBe(true);
  });

  it.each([
    ['limit', { limit: 0 }, /option "limit" must be an integer in \[1, 1000000000\], got 0/],
    ['limit', { limit: -3 }, /"limit"/],
    ['limit', { limit: 1.5 }, /"limit"/],
    ['limit', { limit: Number.NaN }, /got NaN/],
    ['limit', { limit: Infinity }, /got Infinity/],
    ['limit', { limit: '10' }, /got "10"/],
    ['periodMs', { periodMs: 0 }, /"periodMs"/],
    ['periodMs', { periodMs: 2.5 }, /"periodMs"/],
    ['periodMs', { periodMs: -1 }, /"periodMs"/],
    ['periodMs', { periodMs: Infinity }, /"periodMs"/],
    ['limit', { limit: 10_000, periodMs: 1 }, /at most 1000 for periodMs 1/],
    ['burst', { burst: 0 }, /"burst"/],
    ['burst', { burst: 2.5 }, /"burst"/],
    ['burst', { burst: Number.NaN }, /"burst"/],
    ['algorithm', { algorithm: 'leaky' }, /one of 'gcra' \| 'token-bucket' \| 'sliding-window' \| 'fixed-window'/],
    ['maxWaitMs', { maxWaitMs: -1 }, /"maxWaitMs"/],
    ['maxWaitMs', { maxWaitMs: Number.NaN }, /"maxWaitMs"/],
    ['maxKeys', { maxKeys: 0 }, /"maxKeys"/],
    ['maxKeys', { maxKeys: 1.5 }, /"maxKeys"/],
    ['name', { name: '' }, /"name"/],
    ['exactTime', { exactTime: 'yes' }, /"exactTime"/],
    ['clock.now', { clock: {} }, /"clock.now"/],
    ['events.emit', { events: {} }, /"events.emit"/],
    ['store.apply', { store: {} }, /"store.apply"/],
  ])('rejects a bad %s with INVALID_OPTIONS naming it', (option, bad, message) => {
    const attempt = () => createRateLimiter({ limit: 10, periodMs: 1_000, ...(bad as object) } as RateLimiterOptions);
    expect(attempt).toThrow(message);
    try {
      attempt();
    } catch (error) {
      expect(isXError(error, 'INVALID_OPTIONS')).toBe(true);
      if (isXError(error, 'INVALID_OPTIONS')) expect(error.option).toBe(option);
    }
  });

  it('rejects a missing options object', () => {
    expect(() => createRateLimiter(undefined as unknown as RateLimiterOptions)).toThrow(/INVALID_OPTIONS|options/);
  });

  it('accepts exactly the valid numbers (fuzzed)', () => {
    const anyNumber = fc.oneof(
      fc.integer({ min: -5, max: 5_000 }),
      fc.double({ noDefaultInfinity: false }),
      fc.constantFrom(Number.NaN, Infinity, -Infinity, 0, -0, 1e9, 1e9 + 1, 365 * 24 * 3_600_000 + 1),
      fc.constant(undefined),
      fc.string(),
    );
    fc.assert(
      fc.property(anyNumber, anyNumber, anyNumber, fc.constantFrom('gcra', 'token-bucket', 'sliding-window', 'fixed-window'), (limit, periodMs, burst, algorithm) => {
        const valid =
          typeof limit === 'number' &&
          Number.isInteger(limit) &&
          limit >= 1 &&
          limit <= 1e9 &&
          typeof periodMs === 'number' &&
          Number.isInteger(periodMs) &&
          periodMs >= 1 &&
          periodMs <= 365 * 24 * 3_600_000 &&
          periodMs / limit >= 0.001 &&
          (burst === undefined ||
            (algorithm !== 'sliding-window' &&
              algorithm !== 'fixed-window' &&
              typeof burst === 'number' &&
              Number.isInteger(burst) &&
              burst >= 1 &&
              burst <= 1e9));
        try {
          const limiter = createRateLimiter({ algorithm, limit, periodMs, burst } as RateLimiterOptions);
          if (!valid) return false;
          return limiter.rule.limit === limit && limiter.rule.periodMs === periodMs && limiter.rule.burst === (burst ?? limit);
        } catch (error) {
          return !valid && isXError(error, 'INVALID_OPTIONS');
        }
      }),
      { numRuns: 2_000 },
    );
  });
});

describe('per-call validation', () => {
  it('rejects invalid costs with INVALID_OPTIONS, and says a cost above the burst can never be admitted', () => {
    const { limiter } = setup({ limit: 10, burst: 4 });
    for (const cost of [0, -1, 1.5, Number.NaN, Infinity, '2']) {
      expect(() => limiter.limit('k', { cost: cost as number })).toThrow(expect.objectContaining({ code: 'INVALID_OPTIONS', option: 'cost' }));
    }
    expect(() => limiter.limit('k', { cost: 5 })).toThrow(
      'rate limiter "api": option "cost" must be an integer in [1, 4] (a cost above the burst can never be admitted), got 5',
    );
    expect(() => limiter.allow('k', { cost: 5 })).toThrow(/can never be admitted/);
    expect(() => limiter.peek('k', { cost: 5 })).toThrow(/can never be admitted/);
  });

  it('names the limit as the bound for window algorithms', () => {
    const { limiter } = setup({ algorithm: 'fixed-window', limit: 3 });
    expect(() => limiter.limit('k', { cost: 4 })).toThrow(/a cost above the limit can never be admitted/);
  });

  it('rejects keys that are not strings', () => {
    const { limiter } = setup();
    expect(() => limiter.limit(42 as unknown as string)).toThrow(/option "key" must be a string/);
    expect(() => limiter.allow(undefined as unknown as string)).toThrow(/"key"/);
    expect(() => limiter.peek({} as unknown as string)).toThrow(/"key"/);
  });

  it('rejects a bad setLimit without changing the rule', () => {
    const { limiter } = setup();
    for (const bad of [0, 1.5, Number.NaN, -Infinity]) expect(() => limiter.setLimit(bad)).toThrow(/"limit"/);
    expect(() => limiter.setLimit(5, 0)).toThrow(/"periodMs"/);
    expect(limiter.rule).toMatchObject({ limit: 2, periodMs: 1_000 });
  });

  it('keeps the old rule on decisions made before a change', () => {
    const { limiter } = setup();
    const before = limiter.limit('k');
    limiter.setLimit(7);
    const after = limiter.limit('k');
    expect(before.rule.limit).toBe(2);
    expect(before.limit).toBe(2);
    expect(after.rule.limit).toBe(7);
    expect(after.limit).toBe(7);
  });
});

describe('events', () => {
  it('reports admissions and rejections with the limiter name, never needing the key for metrics', () => {
    const { limiter, seen, clock } = setup();
    limiter.limit('user:1');
    limiter.allow('user:1', { cost: 1 });
    limiter.limit('user:1');
    expect(seen).toEqual([
      { type: 'ratelimit.allowed', source: 'ratelimit', name: 'api', time: clock.now(), key: 'user:1', cost: 1, remaining: 1, waitedMs: 0, degraded: undefined },
      { type: 'ratelimit.allowed', source: 'ratelimit', name: 'api', time: clock.now(), key: 'user:1', cost: 1, remaining: 0, waitedMs: 0, degraded: undefined },
      {
        type: 'ratelimit.rejected',
        source: 'ratelimit',
        name: 'api',
        time: clock.now(),
        key: 'user:1',
        cost: 1,
        reason: 'limited',
        retryAfterMs: 500,
        degraded: undefined,
      },
    ]);
  });

  it('does not emit for peeks', () => {
    const { limiter, seen } = setup();
    limiter.peek('k');
    expect(seen).toEqual([]);
  });

  it('reads no clock for events when nobody listens', () => {
    const inner = createVirtualClock();
    const now = vi.fn(() => inner.now());
    const clock: Clock = { now, setTimeout: inner.setTimeout, clearTimeout: inner.clearTimeout };
    const events = createEventBus();
    const limiter = createRateLimiter({ limit: 1, periodMs: 1_000, clock, events });
    now.mockClear();
    limiter.limit('k');
    limiter.limit('k');
    expect(now).toHaveBeenCalledTimes(2);
    events.on('ratelimit.rejected', () => {});
    now.mockClear();
    limiter.limit('k');
    expect(now).toHaveBeenCalledTimes(2);
  });

  it('a throwing listener never changes the decision', () => {
    const { limiter, events } = setup();
    const errors: unknown[] = [];
    events.on('core.listener_error', (e) => errors.push(e.error));
    events.on('ratelimit.allowed', () => {
      throw new Error('listener broke');
    });
    expect(limiter.limit('k').allowed).toBe(true);
    expect(limiter.allow('k')).toBe(true);
    expect(errors).toHaveLength(2);
  });

  it('uses the default bus when given none', () => {
    const seen: RateLimitRejectedEvent[] = [];
    const off = defaultEventBus().on('ratelimit.rejected', (e) => seen.push(e));
    try {
      const limiter = createRateLimiter({ name: 'default-bus', limit: 1, periodMs: 1_000 });
      limiter.limit('k');
      limiter.limit('k');
      expect(seen.map((e) => e.name)).toEqual(['default-bus']);
    } finally {
      off();
    }
  });
});

describe('time source', () => {
  it('with the system clock, decisions in one turn share a time and the next turn reads it again', async () => {
    const limiter = createRateLimiter({ limit: 1_000, periodMs: 1_000 });
    expect(limiter.limit('k', { cost: 100 }).resetAfterMs).toBe(100);
    const start = performance.now();
    while (performance.now() - start < 2) {
      // spin: real time passes inside one turn
    }
    expect(limiter.limit('k').resetAfterMs).toBe(101);
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(limiter.limit('k').resetAfterMs).toBeLessThan(98);
  });

  it('with exactTime, reads the clock for every decision', () => {
    const limiter = createRateLimiter({ limit: 1_000, periodMs: 1_000, exactTime: true });
    expect(limiter.limit('k', { cost: 100 }).resetAfterMs).toBeLessThanOrEqual(100);
    const start = performance.now();
    while (performance.now() - start < 2) {
      // spin: real time passes inside one turn
    }
    expect(limiter.limit('k').resetAfterMs).toBeLessThan(99.5);
  });
});

describe('stats()', () => {
  it('counts decisions (not cost units) and rejections by reason, peeks excluded', () => {
    const clock = createVirtualClock({ now: 0 });
    const limiter = createRateLimiter({ limit: 3, periodMs: 1_000, clock, events: createEventBus() });
    expect(limiter.stats()).toEqual({ allowed: 0, rejected: { limited: 0, store_unavailable: 0, aborted: 0 } });
    limiter.limit('a', { cost: 2 });
    limiter.allow('a');
    limiter.allow('a');
    limiter.peek('a');
    expect(limiter.stats()).toEqual({ allowed: 2, rejected: { limited: 1, store_unavailable: 0, aborted: 0 } });
  });
});

describe('createRateLimiter: misspelt options', () => {
  it('names an unknown option instead of silently ignoring it', () => {
    expect(() => createRateLimiter({ limit: 1, periodMs: 1_000, brust: 5 } as never)).toThrow(/createRateLimiter: option "brust" must be absent: createRateLimiter has no such option/);
  });
});
