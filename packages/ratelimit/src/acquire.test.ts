import { getEventListeners } from 'node:events';
import { createEventBus, isXError } from '@x/core';
import type { Clock, XEvent } from '@x/core';
import { createVirtualClock } from '@x/core/testing';
import type { VirtualClock } from '@x/core/testing';
import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { createRateLimiter } from './index.js';
import type { RateLimitDecision, RateLimiterOptions, RateLimitStore, StoreRequest, StoreVerdict } from './index.js';
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

  it('stops waiting at once on abort, gives the last reservations back and removes its listener', async () => {
    const { clock, limiter, when, seen } = setup();
    await limiter.acquire('k'); // t=0
    const ahead = when(limiter.acquire('k')); // t=100
    const controllers = [new AbortController(), new AbortController()];
    const [second, last] = controllers.map((c) => when(limiter.acquire('k', { signal: c.signal }))); // t=200, t=300
    expect(getEventListeners(controllers[0]?.signal as AbortSignal, 'abort')).toHaveLength(1);
    await clock.advance(50);
    controllers[1]?.abort(new Error('stop')); // the last reservation, then the new last one
    controllers[0]?.abort(new Error('stop'));
    expect(await Promise.all([second, last])).toMatchObject([
      { at: 50, ok: false, error: new Error('stop') },
      { at: 50, ok: false, error: new Error('stop') },
    ]);
    for (const c of controllers) expect(getEventListeners(c.signal, 'abort')).toHaveLength(0);
    expect(seen.filter((e) => e.type === 'ratelimit.rejected' && e.reason === 'aborted')).toHaveLength(2);
    // Both were at the end of the schedule when aborted, so both were given back: a newcomer takes
    // the slot at 200, right behind the waiter still queued.
    const newcomer = when(limiter.acquire('k'));
    await clock.runAll();
    expect(await Promise.all([ahead, newcomer])).toEqual([
      { at: 100, ok: true },
      { at: 200, ok: true },
    ]);
  });

  it.each(['gcra', 'token-bucket'] as const)(
    '%s: aborting a reservation in the middle of the queue never lets two callers through at once (burst 1)',
    async (algorithm) => {
      const { clock, limiter, start } = setup({ algorithm, limit: 10, periodMs: 1_000, burst: 1 }); // one every 100 ms
      const admittedAt: number[] = [];
      const note = (p: Promise<unknown>) => p.then(() => admittedAt.push(clock.now() - start), () => {});
      await note(limiter.acquire('k')); // t=0
      const controller = new AbortController();
      void note(limiter.acquire('k', { signal: controller.signal })); // reserved for t=100
      void note(limiter.acquire('k')); // t=200
      void note(limiter.acquire('k')); // t=300
      await clock.advance(50);
      controller.abort('gone');
      void note(limiter.acquire('k')); // a newcomer after the abort
      await clock.runAll();
      admittedAt.sort((x, y) => x - y);
      // With burst 1 no two admissions may share an instant (or be closer than 100 ms). The slot the
      // aborted waiter left in the middle of the schedule is not handed out again.
      expect(admittedAt).toEqual([0, 200, 300, 400]);
    },
  );

  it('aborting reservations in the middle of the queue never lets a newcomer overtake earlier waiters', async () => {
    const { clock, limiter, when } = setup({ limit: 10, periodMs: 1_000, burst: 1 });
    await limiter.acquire('k'); // t=0
    const controllers = [new AbortController(), new AbortController()];
    const first = when(limiter.acquire('k')); // t=100
    void limiter.acquire('k', { signal: controllers[0]?.signal }).catch(() => {}); // t=200
    void limiter.acquire('k', { signal: controllers[1]?.signal }).catch(() => {}); // t=300
    const last = when(limiter.acquire('k')); // t=400
    await clock.advance(50);
    for (const c of controllers) c.abort('gone');
    const newcomer = when(limiter.acquire('k'));
    await clock.runAll();
    // Served in arrival order: the newcomer comes after the last waiter that was already queued.
    expect(await Promise.all([first, last, newcomer])).toEqual([
      { at: 100, ok: true },
      { at: 400, ok: true },
      { at: 500, ok: true },
    ]);
  });

  it.each(['gcra', 'token-bucket'] as const)(
    '%s: whatever waiters abort, never admits more than burst + w × limit / periodMs, and serves waiters in arrival order (fuzzed)',
    async (algorithm) => {
      await fc.assert(
        fc.asyncProperty(
          fc.record({ limit: fc.integer({ min: 1, max: 10 }), periodMs: fc.integer({ min: 100, max: 1_000 }), burst: fc.integer({ min: 1, max: 4 }) }),
          fc.array(fc.record({ dt: fc.integer({ min: 0, max: 150 }), abort: fc.boolean(), pick: fc.nat(), cost: fc.integer({ min: 1, max: 4 }) }), { minLength: 1, maxLength: 25 }),
          async (c, steps) => {
            const clock = createVirtualClock({ now: 0 }); // small times: exact enough to compare
            const limiter = createRateLimiter({ algorithm, ...c, clock, events: createEventBus() });
            const admitted: { arrival: number; at: number; cost: number }[] = [];
            const pending: AbortController[] = [];
            const settled: Promise<unknown>[] = [];
            let arrival = 0;
            for (const step of steps) {
              await clock.advance(step.dt);
              if (step.abort && pending.length > 0) {
                pending.splice(step.pick % pending.length, 1)[0]?.abort('gone');
                continue;
              }
              const controller = new AbortController();
              const cost = Math.min(step.cost, c.burst);
              const order = arrival++;
              pending.push(controller);
              settled.push(
                limiter.acquire('k', { cost, signal: controller.signal }).then(
                  () => admitted.push({ arrival: order, at: clock.now(), cost }),
                  () => {},
                ),
              );
            }
            await clock.runAll();
            await Promise.all(settled);
            const T = c.periodMs / c.limit;
            const byTime = [...admitted].sort((x, y) => x.at - y.at || x.arrival - y.arrival);
            for (let i = 0; i < byTime.length; i++) {
              let sum = 0;
              for (let j = i; j < byTime.length; j++) {
                sum += (byTime[j] as { cost: number }).cost;
                if (sum > c.burst + ((byTime[j] as { at: number }).at - (byTime[i] as { at: number }).at) / T + 1e-4) return false;
              }
            }
            const byArrival = [...admitted].sort((x, y) => x.arrival - y.arrival);
            return byArrival.every((x, i) => i === 0 || x.at >= (byArrival[i - 1] as { at: number }).at);
          },
        ),
        { numRuns: 150 },
      );
    },
  );
});

describe('acquire: store-backed', () => {
  /** A store that admits everything, answering `delayMs` after each call (on the virtual clock). */
  function slowStore(clock: VirtualClock, delayMs: number) {
    const requests: StoreRequest[] = [];
    const store: RateLimitStore = {
      apply(request) {
        requests.push(request);
        return new Promise<StoreVerdict>((resolve) => {
          clock.setTimeout(
            () => resolve({ allowed: true, remaining: 0, retryAfterMs: 0, resetAfterMs: 100, waitMs: 0, degraded: undefined, reservation: 42 }),
            delayMs,
          );
        });
      },
      reset: () => Promise.resolve(),
    };
    return { store, requests };
  }

  it('an abort during the store round trip rejects at once, and what the store admitted meanwhile is given back', async () => {
    const clock = createVirtualClock();
    const { store, requests } = slowStore(clock, 20);
    const limiter = createRateLimiter({ name: 'acq', limit: 10, periodMs: 1_000, store, clock, events: createEventBus() });
    const controller = new AbortController();
    let settled: { at: number; ok: boolean; value: unknown } | undefined;
    const start = clock.now();
    limiter.acquire('k', { signal: controller.signal }).then(
      (value) => (settled = { at: clock.now() - start, ok: true, value }),
      (error: unknown) => (settled = { at: clock.now() - start, ok: false, value: error }),
    );
    await clock.advance(5);
    controller.abort('caller left');
    await clock.advance(0);
    expect(settled).toEqual({ at: 5, ok: false, value: 'caller left' });
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
    await clock.runAll();
    // The capacity the store granted meanwhile is given back, naming the admission's reservation.
    expect(requests.map((r) => [r.op, r.reservation])).toEqual([
      [0, undefined],
      [2, 42],
    ]);
    // An acquire the store answers in time resolves and leaves no listener behind.
    const other = new AbortController();
    const admitted = limiter.acquire('k', { signal: other.signal });
    await clock.advance(20);
    await expect(admitted).resolves.toMatchObject({ allowed: true });
    expect(getEventListeners(other.signal, 'abort')).toHaveLength(0);
  });

  it('a policy execution aborted during the store round trip rejects at once without running the function', async () => {
    const clock = createVirtualClock();
    const { store, requests } = slowStore(clock, 20);
    const limiter = createRateLimiter({ name: 'acq', limit: 10, periodMs: 1_000, store, clock, events: createEventBus() });
    const controller = new AbortController();
    const fn = vi.fn(() => 'ran');
    const outcome = limiter.policy('k').executeOutcome(fn, { signal: controller.signal });
    await clock.advance(5);
    controller.abort('caller left');
    expect(await outcome).toEqual({ ok: false, error: 'caller left' });
    await clock.runAll();
    expect(fn).not.toHaveBeenCalled();
    expect(requests.map((r) => r.op)).toEqual([0, 2]);
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
