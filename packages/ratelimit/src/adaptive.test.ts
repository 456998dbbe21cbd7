import { XError, compose, createEventBus, isXError } from '@x/core';
import type { XEvent } from '@x/core';
import { createVirtualClock } from '@x/core/testing';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createAdaptiveRateLimiter, createRateLimiter } from './index.js';
import type { AdaptiveRateLimiterOptions } from './index.js';

function setup(options: Partial<AdaptiveRateLimiterOptions> = {}, limit = 1_000) {
  const clock = createVirtualClock();
  const events = createEventBus();
  const seen: XEvent[] = [];
  events.on('ratelimit.limit_changed', (e) => seen.push(e));
  const limiter = createRateLimiter({ name: 'partner', limit, periodMs: 1_000, clock, events });
  const adaptive = createAdaptiveRateLimiter({ limiter, minLimit: 100, maxLimit: 5_000, targetLatencyMs: 100, windowSize: 10, clock, events, ...options });
  const feed = (ms: number, n = 10) => {
    for (let i = 0; i < n; i++) adaptive.recordLatency(ms);
  };
  return { clock, limiter, adaptive, seen, feed };
}

describe('createAdaptiveRateLimiter', () => {
  it('cuts the limit in proportion to the overshoot, at most by half', () => {
    const { adaptive, limiter, seen, feed } = setup();
    feed(125);
    expect(adaptive.limit).toBe(800);
    expect(limiter.rule.limit).toBe(800);
    expect(seen[0]).toMatchObject({ type: 'ratelimit.limit_changed', name: 'partner', from: 1_000, to: 800, reason: 'latency', latencyMs: 125, drops: 0 });
    feed(10_000);
    expect(adaptive.limit).toBe(400);
    feed(101);
    expect(adaptive.limit).toBe(360); // at least the 0.9 decrease factor
  });

  it('raises the limit by a small step while under target, up to maxLimit', () => {
    const { adaptive, feed } = setup({}, 4_900);
    feed(20);
    expect(adaptive.limit).toBe(5_000);
    feed(20);
    expect(adaptive.limit).toBe(5_000);
  });

  it('never goes below minLimit, and clamps a starting limit into range', () => {
    const { adaptive, feed } = setup({}, 150);
    feed(1_000);
    expect(adaptive.limit).toBe(100);
    feed(1_000);
    expect(adaptive.limit).toBe(100);
    const { adaptive: high } = setup({}, 9_000);
    expect(high.limit).toBe(5_000);
  });

  it('uses the configured percentile of each window', () => {
    const { adaptive } = setup({ percentile: 0.5 });
    for (let i = 0; i < 10; i++) adaptive.recordLatency(i < 6 ? 50 : 500);
    expect(adaptive.limit).toBe(1_050);
  });

  it('treats drops in a window as overload even when latency is fine', () => {
    const { adaptive, seen, feed } = setup();
    adaptive.recordDrop();
    feed(10);
    expect(adaptive.limit).toBe(900);
    expect(seen[0]).toMatchObject({ reason: 'drops', drops: 1 });
  });

  it('a window with drops never cuts the limit by more than half, whatever decreaseFactor', () => {
    const { adaptive, seen, feed } = setup({ decreaseFactor: 0.2, minLimit: 1 });
    adaptive.recordDrop();
    feed(10);
    expect(adaptive.limit).toBe(500);
    expect(seen[0]).toMatchObject({ from: 1_000, to: 500, reason: 'drops' });
  });

  it('never cuts an odd limit by more than half: half of 3 rounds up to 2', () => {
    const { adaptive, feed } = setup({ minLimit: 1, maxLimit: 1_000, targetLatencyMs: 10 }, 3);
    feed(1_000); // 100x over target: the cut is capped at half
    expect(adaptive.limit).toBe(2);
    feed(1_000);
    expect(adaptive.limit).toBe(1);
  });

  it("refuses a maxLimit above one decision per microsecond of the limiter's period, naming the bound", () => {
    const limiter = createRateLimiter({ limit: 990_000, periodMs: 1_000, events: createEventBus() });
    const error = (() => {
      try {
        createAdaptiveRateLimiter({ limiter, minLimit: 1, maxLimit: 5_000_000, targetLatencyMs: 100, events: createEventBus() });
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(isXError(error, 'INVALID_OPTIONS')).toBe(true);
    expect((error as Error).message).toBe(
      "createAdaptiveRateLimiter: option \"maxLimit\" must be at most 1000000 for the limiter's periodMs 1000 (one decision per microsecond at most), got 5000000",
    );
    expect(createAdaptiveRateLimiter({ limiter, minLimit: 1, maxLimit: 1_000_000, targetLatencyMs: 100, events: createEventBus() }).limit).toBe(990_000);
  });

  it("growing never throws when the limiter's period was shortened later: it stops at the period's cap", async () => {
    const limiter = createRateLimiter({ limit: 1_000, periodMs: 5_000, events: createEventBus() });
    const adaptive = createAdaptiveRateLimiter({ limiter, minLimit: 1, maxLimit: 5_000_000, targetLatencyMs: 100, windowSize: 1, events: createEventBus() });
    limiter.setLimit(990_000, 1_000); // the period now caps the limit at 1 000 000
    expect(() => adaptive.recordLatency(1)).not.toThrow();
    expect(adaptive.limit).toBe(1_000_000);
    // Through its policy a successful call stays a success.
    await expect(adaptive.policy('k').execute(() => 'value')).resolves.toBe('value');
    expect(adaptive.limit).toBe(1_000_000);
  });

  it('measures calls run through its policy: their own duration, not the wait; timeouts are drops', async () => {
    const { clock, adaptive } = setup({ windowSize: 2 });
    const policy = compose(adaptive.policy('k'));
    const slow = (ms: number) => () => new Promise((resolve) => clock.setTimeout(() => resolve(ms), ms));
    const a = policy.execute(slow(300));
    const b = policy.execute(slow(300));
    await clock.runAll();
    await Promise.all([a, b]);
    expect(adaptive.limit).toBe(500);
    const timeout = new XError('TIMEOUT', 'took too long');
    await expect(policy.execute(() => Promise.reject(timeout))).rejects.toBe(timeout);
    expect(adaptive.limit).toBe(500); // a drop adds no sample: the window is not complete yet
    await expect(adaptive.policy('k').executeOutcome(() => 'fast')).resolves.toEqual({ ok: true, value: 'fast' });
    await adaptive.policy('k').execute(() => 'fast');
    expect(adaptive.limit).toBe(450);
  });

  it('works on a limiter whose burst follows the limit', () => {
    const { limiter, feed } = setup();
    feed(200);
    expect(limiter.rule).toMatchObject({ limit: 500, burst: 500 });
  });

  it('validates its options and the samples it is given', () => {
    const limiter = createRateLimiter({ limit: 10, periodMs: 1_000 });
    const base = { limiter, minLimit: 1, maxLimit: 10, targetLatencyMs: 50 };
    expect(() => createAdaptiveRateLimiter({ ...base, minLimit: 0 })).toThrow(/"minLimit"/);
    expect(() => createAdaptiveRateLimiter({ ...base, maxLimit: 0 })).toThrow(/"maxLimit"/);
    expect(() => createAdaptiveRateLimiter({ ...base, targetLatencyMs: 0 })).toThrow(/"targetLatencyMs"/);
    expect(() => createAdaptiveRateLimiter({ ...base, windowSize: 1.5 })).toThrow(/"windowSize"/);
    expect(() => createAdaptiveRateLimiter({ ...base, percentile: 0 })).toThrow(/"percentile"/);
    expect(() => createAdaptiveRateLimiter({ ...base, decreaseFactor: 1 })).toThrow(/"decreaseFactor"/);
    expect(() => createAdaptiveRateLimiter({ ...base, increaseRatio: 2 })).toThrow(/"increaseRatio"/);
    expect(() => createAdaptiveRateLimiter({ ...base, limiter: {} as typeof limiter })).toThrow(/"limiter.setLimit"/);
    const adaptive = createAdaptiveRateLimiter(base);
    for (const bad of [-1, Number.NaN, Infinity]) expect(() => adaptive.recordLatency(bad)).toThrow(/"ms"/);
  });

  it('keeps the limit within bounds whatever the samples (fuzzed)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 500 }),
        fc.integer({ min: 0, max: 500 }),
        fc.array(fc.oneof(fc.double({ min: 0, max: 10_000, noNaN: true }), fc.constant(-1)), { maxLength: 300 }),
        (min, spread, samples) => {
          const limiter = createRateLimiter({ limit: min, periodMs: 1_000, events: createEventBus() });
          const adaptive = createAdaptiveRateLimiter({ limiter, minLimit: min, maxLimit: min + spread, targetLatencyMs: 100, windowSize: 7, events: createEventBus() });
          for (const s of samples) {
            if (s < 0) adaptive.recordDrop();
            else adaptive.recordLatency(s);
            if (adaptive.limit < min || adaptive.limit > min + spread) return false;
          }
          return true;
        },
      ),
    );
  });
});

describe('createAdaptiveRateLimiter options', () => {
  it('refuses a misspelt option with INVALID_OPTIONS naming it', () => {
    const limiter = createRateLimiter({ limit: 100, periodMs: 1_000, events: createEventBus() });
    let error: unknown;
    try {
      createAdaptiveRateLimiter({ limiter, minLimit: 10, maxLimit: 200, targetLatencyMs: 50, decreaseFactr: 0.5 } as unknown as AdaptiveRateLimiterOptions);
    } catch (e) {
      error = e;
    }
    expect(isXError(error, 'INVALID_OPTIONS')).toBe(true);
    expect((error as Error).message).toMatch(/^createAdaptiveRateLimiter: option "decreaseFactr"/);
  });
});
