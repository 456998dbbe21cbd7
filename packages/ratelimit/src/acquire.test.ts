import { getEventListeners } from 'node:events';
import { createEventBus, isXError } from '@x/core';
import type { Clock, XEvent } from '@x/core';
import { createVirtualClock } from '@x/core/testing';
import { describe, expect, it, vi } from 'vitest';
import { createRateLimiter } from './index.js';
import type { RateLimitDecision, RateLimiterOptions } from './index.js';
import { MAX_PERIOD_MS } from './rule.js';

function setup(options: Partial<RateLimiterOptions> = {}) {
  const clock = createVirtualClock();
  const events = createEventBus();
  const seen: XEvent[] = [];
  events.on('*', (e) => {
    if (e.type !== 'core.instance_tracked') seen.push(e);
  });
  const limiter = createRateLimiter({ name: 'acq', limit: 10, periodMs: 1_000, burst: 1, clock, events, ...options, store: undefined });
  const start = clock.now();
  /** Resolves to the virtual time (ms since start) at which `promise` settled, and how. */
  const when = (promise: Promise<unknown>) =>
    promise.then(
      () => ({ at: clock.now() - start, ok: true }),
      (error: unknown) => ({ at: clock.now() - start, ok: false, error }),
    );
  return { clock, events, seen, limiter, when, start };
}

describe('acquire', () => {
  it('resolves at once when there is capacity', async () => {
    const { limiter, when } = setup();
    const decision = await limiter.acquire('k');
    expect(decision).toMatchObject({ allowed: true, remaining: 0, retryAfterMs: 0 });
    expect(await when(limiter.acquire('other'))).toEqual({ at: 0, ok: true });
  });

  it('reserves capacity and waits exactly until it is due, first come first served (GCRA)', async () => {
    const { clock, limiter, when } = setup();
    const results = [when(limiter.acquire('k')), when(limiter.acquire('k')), when(limiter.acquire('k', { cost: 1 }))];
    // A request arriving meanwhile is behind the reservations.
    expect(limiter.limit('k')).toMatchObject({ allowed: false, retryAfterMs: 300 });
    await clock.runAll();
    expect(await Promise.all(results)).toEqual([
      { at: 0, ok: true },
      { at: 100, ok: true },
      { at: 200, ok: true },
    ]);
  });

  it('waits on the token bucket the same way', async () => {
    const { clock, limiter, when } = setup({ algorithm: 'token-bucket' });
    const results = [when(limiter.acquire('k')), when(limiter.acquire('k')), when(limiter.acquire('k'))];
    await clock.runAll();
    expect((await Promise.all(results)).map((r) => r.at)).toEqual([0, 100, 200]);
  });

  it('uses one timer per waiter and no polling', async () => {
    const { clock, limiter } = setup();
    await limiter.acquire('k');
    const pending = limiter.acquire('k', { cost: 1 });
    expect(clock.pendingTimers).toBe(1);
    await clock.advance(100);
    await pending;
    expect(clock.pendingTimers).toBe(0);
  });

  it('rejects at once with RATE_LIMITED when the wait would exceed maxWaitMs, consuming nothing', async () => {
    const { clock, limiter, when, seen } = setup({ limit: 10, burst: 1 });
    await limiter.acquire('k');
    const result = await when(limiter.acquire('k', { maxWaitMs: 99 }));
    expect(result).toMatchObject({ at: 0, ok: false });
    const error = (result as { error: unknown }).error;
    expect(isXError(error, 'RATE_LIMITED')).toBe(true);
    if (isXError(error, 'RATE_LIMITED')) {
      expect(error.retryAfterMs).toBe(100);
      expect(error.limiter).toBe('acq');
      expect(error.storeUnavailable).toBe(false);
      expect(error.message).toBe('rate limiter "acq" rejected the request (retry in 100 ms)');
    }
    expect(clock.pendingTimers).toBe(0);
    expect(seen.at(-1)).toMatchObject({ type: 'ratelimit.rejected', reason: 'limited', retryAfterMs: 100 });
    // Nothing was reserved: a wait of exactly 100 ms fits.
    const fits = when(limiter.acquire('k', { maxWaitMs: 100 }));
    await clock.advance(100);
    expect(await fits).toEqual({ at: 100, ok: true });
  });

  it('takes the limiter default maxWaitMs and lets a call override it', async () => {
    const { clock, limiter } = setup({ maxWaitMs: 0 });
    await limiter.acquire('k');
    await expect(limiter.acquire('k')).rejects.toMatchObject({ code: 'RATE_LIMITED' });
    const waited = limiter.acquire('k', { maxWaitMs: 500 });
    await clock.advance(100);
    await expect(waited).resolves.toMatchObject({ allowed: true });
  });

  it('reports the wait in the allowed event', async () => {
    const { clock, limiter, seen } = setup();
    await limiter.acquire('k');
    const pending = limiter.acquire('k');
    await clock.advance(100);
    await pending;
    expect(seen.at(-1)).toMatchObject({ type: 'ratelimit.allowed', key: 'k', waitedMs: 100 });
  });

  it('rejects bad arguments as a rejected promise, not a throw', async () => {
    const { limiter } = setup();
    const bad = [
      limiter.acquire('k', { cost: 2 }),
      limiter.acquire('k', { cost: 0 }),
      limiter.acquire('k', { maxWaitMs: -1 }),
      limiter.acquire(7 as unknown as string),
    ];
    for (const promise of bad) await expect(promise).rejects.toMatchObject({ code: 'INVALID_OPTIONS' });
    await expect(limiter.acquire('k', { cost: 2 })).rejects.toThrow(/a cost above the burst can never be admitted/);
  });
});

describe('acquire: abort', () => {
  it('rejects with the reason of an already aborted signal, without consuming', async () => {
    const { limiter, seen } = setup();
    const reason = new Error('caller gone');
    await expect(limiter.acquire('k', { signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
    expect(limiter.limit('k').allowed).toBe(true);
    expect(seen[0]).toMatchObject({ type: 'ratelimit.rejected', reason: 'aborted' });
  });

  it('stops waiting at once on abort, gives the reservation back and removes its listener', async () => {
    const { clock, limiter, when, seen } = setup();
    await limiter.acquire('k');
    const controller = new AbortController();
    const waiting = when(limiter.acquire('k', { signal: controller.signal }));
    const behind = when(limiter.acquire('k'));
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(1);
    await clock.advance(50);
    controller.abort(new Error('stop'));
    expect(await waiting).toMatchObject({ at: 50, ok: false, error: new Error('stop') });
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
    expect(seen.some((e) => e.type === 'ratelimit.rejected' && e.reason === 'aborted')).toBe(true);
    // The aborted reservation was refunded: the request behind keeps its own slot (200 ms), and at
    // that time there is room again at once (without the refund the next slot would be at 300).
    await clock.runAll();
    expect(await behind).toEqual({ at: 200, ok: true });
    expect(limiter.peek('k').allowed).toBe(true);
  });

  it('leaves no listener on a long-lived signal after many waits', async () => {
    const { clock, limiter } = setup({ limit: 1_000, burst: 1 });
    const controller = new AbortController();
    const all = Array.from({ length: 50 }, () => limiter.acquire('k', { signal: controller.signal }));
    await clock.runAll();
    await Promise.all(all);
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
  });
});

describe('acquire: window algorithms', () => {
  it('sleeps until the window resets and decides again', async () => {
    const { clock, limiter, when } = setup({ algorithm: 'fixed-window', limit: 2, burst: undefined });
    await limiter.acquire('k');
    await clock.advance(300);
    await limiter.acquire('k');
    const third = when(limiter.acquire('k'));
    await clock.runAll();
    expect(await third).toEqual({ at: 1_000, ok: true });
  });

  it('a waiter beaten to the slot sleeps again while its budget allows, then gives up', async () => {
    const { clock, limiter, when } = setup({ algorithm: 'fixed-window', limit: 1, burst: undefined });
    await limiter.acquire('k');
    const patient = when(limiter.acquire('k', { maxWaitMs: 2_500 }));
    const impatient = when(limiter.acquire('k', { maxWaitMs: 1_500 }));
    await clock.runAll();
    // Both wake at 1000; the first takes the slot, the second would need until 2000: within 1500? no.
    const results = await Promise.all([patient, impatient]);
    expect(results[0]).toEqual({ at: 1_000, ok: true });
    expect(results[1]).toMatchObject({ at: 1_000, ok: false });
    expect((results[1] as { error: unknown }).error).toMatchObject({ code: 'RATE_LIMITED', retryAfterMs: 1_000 });
  });

  it('sliding window waiters wake at the hinted time', async () => {
    const { clock, limiter, when } = setup({ algorithm: 'sliding-window', limit: 10, burst: undefined });
    for (let i = 0; i < 10; i++) await limiter.acquire('k');
    const next = when(limiter.acquire('k'));
    await clock.runAll();
    expect(await next).toEqual({ at: 1_100, ok: true });
  });

  it('fails a waiter whose cost no longer fits after the rule changed', async () => {
    const { clock, limiter, when } = setup({ algorithm: 'fixed-window', limit: 5, burst: undefined });
    await limiter.acquire('k', { cost: 5 });
    const big = when(limiter.acquire('k', { cost: 5 }));
    limiter.setLimit(3);
    await clock.runAll();
    expect(await big).toMatchObject({ ok: false, error: expect.objectContaining({ code: 'INVALID_OPTIONS' }) });
  });
});

describe('acquire: long waits', () => {
  it('waits longer than one timer allows by re-arming, never passing a delay above 2^31 - 1', async () => {
    const inner = createVirtualClock();
    const delays: number[] = [];
    const clock: Clock = {
      now: () => inner.now(),
      setTimeout: (callback, ms) => {
        delays.push(ms);
        return inner.setTimeout(callback, ms);
      },
      clearTimeout: (handle) => inner.clearTimeout(handle),
    };
    const limiter = createRateLimiter({ limit: 1, periodMs: MAX_PERIOD_MS, clock, events: createEventBus() });
    await limiter.acquire('k');
    let decision: RateLimitDecision | undefined;
    const started = inner.now();
    void limiter.acquire('k').then((d) => {
      decision = d;
    });
    await inner.runAll();
    expect(decision?.allowed).toBe(true);
    expect(inner.now() - started).toBe(MAX_PERIOD_MS);
    expect(delays.length).toBeGreaterThan(10);
    expect(Math.max(...delays)).toBeLessThanOrEqual(2_147_483_647);
  });
});

describe('acquire: timing of the fast path', () => {
  it('does not touch timers or signals when admitted at once', async () => {
    const { clock, limiter } = setup({ limit: 100, burst: 100 });
    const signal = new AbortController().signal;
    const add = vi.spyOn(signal, 'addEventListener');
    await limiter.acquire('k', { signal });
    expect(add).not.toHaveBeenCalled();
    expect(clock.pendingTimers).toBe(0);
  });
});
