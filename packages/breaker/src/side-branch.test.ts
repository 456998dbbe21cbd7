// `execute` records a settlement on a side branch of the promise it hands back. Nothing may throw
// there (it would be an unhandled rejection nobody can catch), and the caller's first reaction
// must see the call counted, on every path.
import { createEventBus, fallback } from '@x/core';
import type { Clock } from '@x/core';
import { createVirtualClock } from '@x/core/testing';
import { unhandledRejections } from '@x/test-support';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createBreaker, createBreakerGroup } from './index.js';
import type { BreakerOptions } from './index.js';
import { deferred, failTimes, setup } from './test-support.js';

const watch = unhandledRejections();
beforeEach(watch.start);
afterEach(watch.stop);

/** Lets every pending microtask and a macrotask turn run (unhandled rejections are reported then). */
const settleTurn = () => new Promise<void>((resolve) => setTimeout(resolve, 5));

/** A virtual clock whose `now()` throws while broken. */
function breakableClock() {
  const virtual = createVirtualClock();
  let broken = false;
  const clock: Clock = {
    now: () => {
      if (broken) throw new Error('clock broke');
      return virtual.now();
    },
    setTimeout: (fn, ms) => virtual.setTimeout(fn, ms),
    clearTimeout: (handle) => virtual.clearTimeout(handle),
  };
  return { virtual, clock, breakNow: (value: boolean) => (broken = value) };
}

describe('nothing thrown on the side branch escapes', () => {
  it('a clock whose now() throws at settlement: no unhandled rejection; the uncounted call is reported', async () => {
    const report = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    const { clock, breakNow } = breakableClock();
    // slowCallMs makes every call timed: the settlement reads the clock.
    const breaker = createBreaker({ name: 'clock', clock, events: createEventBus(), slowCallMs: 1_000 });
    const gate = deferred<number>();
    const call = breaker.execute(() => gate.promise);
    breakNow(true);
    gate.resolve(1);
    const value = await call;
    breakNow(false);
    await settleTurn();
    expect(value).toBe(1);
    expect(watch.reasons).toEqual([]);
    expect(report).toHaveBeenCalledWith('@x/breaker: recording a settled call failed; it is not counted', new Error('clock broke'));
    expect(breaker.stats().runningCalls).toBe(0);
    report.mockRestore();
  });

  it('a half-open probe whose settlement hits a throwing clock: no unhandled rejection; reported', async () => {
    const report = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    const { virtual, clock, breakNow } = breakableClock();
    const breaker = createBreaker({ name: 'probe', clock, events: createEventBus(), failureThreshold: 1, openMs: 100 });
    await failTimes(breaker, 1);
    await virtual.advance(100);
    expect(breaker.state).toBe('half_open');
    const gate = deferred<number>();
    const probe = breaker.execute(() => gate.promise);
    breakNow(true);
    gate.resolve(2);
    await probe;
    breakNow(false);
    await settleTurn();
    expect(watch.reasons).toEqual([]);
    expect(report).toHaveBeenCalledTimes(1);
    report.mockRestore();
  });

  it('an error whose `code` getter throws (hot path) is an ordinary failure: counted, nothing unhandled', async () => {
    const { breaker } = setup({ failureThreshold: 5 });
    const getterError = new Error('code getter');
    const hostileError = Object.defineProperty(new Error('down'), 'code', {
      get() {
        throw getterError;
      },
    });
    await expect(breaker.execute(() => Promise.reject(hostileError))).rejects.toBe(hostileError);
    await settleTurn();
    expect(watch.reasons).toEqual([]);
    expect(breaker.stats().totals).toMatchObject({ failures: 1, timeouts: 0 });
  });
});


/** What the caller's first `.then` reaction sees. */
function seenBy(breaker: ReturnType<typeof createBreaker>) {
  return () => ({ state: breaker.state, running: breaker.stats().runningCalls, probes: breaker.stats().halfOpenProbes, totals: breaker.stats().totals });
}

describe('the state is current when the caller resumes', () => {
  const failPaths: [string, BreakerOptions, { signal?: AbortSignal } | undefined][] = [
    ['slowCallMs', { failureThreshold: 1, slowCallMs: 1_000 }, undefined],
    ['count window', { window: { kind: 'count', size: 10 }, minimumCalls: 1, failureRateThreshold: 0.5 }, undefined],
    ['signal', { failureThreshold: 1 }, { signal: new AbortController().signal }],
  ];
  for (const [name, options, callOptions] of failPaths) {
    it(`a failure that trips is seen by the caller (${name})`, async () => {
      const { breaker } = setup(options);
      const seen = await breaker.execute(() => Promise.reject(new Error('x')), callOptions).then(undefined, seenBy(breaker));
      expect(seen).toMatchObject({ state: 'open', running: 0 });
    });
  }

  it('success/failure listeners (timed path)', async () => {
    const { breaker, events } = setup({ failureThreshold: 1 });
    events.on('breaker.failure', () => undefined);
    const seen = await breaker.execute(() => Promise.reject(new Error('x'))).then(undefined, seenBy(breaker));
    expect(seen).toMatchObject({ state: 'open', running: 0 });
  });

  it('half-open probe success closes before the caller resumes; failure reopens', async () => {
    const { breaker, clock } = setup({ failureThreshold: 1, openMs: 100, probeTimeoutMs: 1_000, successThreshold: 1 });
    await failTimes(breaker, 1);
    await clock.advance(100);
    const seen = await breaker.execute(async () => 1).then(seenBy(breaker));
    expect(seen).toMatchObject({ state: 'closed', running: 0, probes: 0 });
    await failTimes(breaker, 1);
    await clock.advance(100);
    const seen2 = await breaker.execute(() => Promise.reject(new Error('x'))).then(undefined, seenBy(breaker));
    expect(seen2).toMatchObject({ state: 'open', running: 0, probes: 0 });
  });

  it('maxConcurrent: the caller may start the next call from its own reaction', async () => {
    for (const slowCallMs of [undefined, 1_000]) {
      const { breaker } = setup({ maxConcurrent: 1, ...(slowCallMs === undefined ? {} : { slowCallMs }) });
      const next = await breaker.execute(async () => 1).then(() => breaker.executeOutcome(async () => 2));
      expect(next).toEqual({ ok: true, value: 2 });
    }
  });

  it('a Promise subclass, a foreign thenable and a plain value (hot and slow path)', async () => {
    class Sub<T> extends Promise<T> {}
    const makers: (() => PromiseLike<never> | never)[] = [
      () => Sub.reject(new Error('x')) as never,
      () => ({ then: (_: unknown, reject?: (e: unknown) => unknown) => reject?.(new Error('x')) }) as never,
      () => {
        throw new Error('x');
      },
    ];
    for (const make of makers) {
      for (const callOptions of [undefined, { signal: new AbortController().signal }]) {
        const { breaker } = setup({ failureThreshold: 1 });
        const seen = await breaker.execute(make, callOptions).then(undefined, seenBy(breaker));
        expect(seen).toMatchObject({ state: 'open', running: 0 });
      }
    }
  });

  it('group execute', async () => {
    const clock = createVirtualClock();
    const group = createBreakerGroup({ clock, events: createEventBus(), defaults: { failureThreshold: 1 } });
    const seen = await group.execute('a', () => Promise.reject(new Error('x'))).then(undefined, () => group.get('a')?.state);
    expect(seen).toBe('open');
  });

  it('fallback(breaker, handler): the handler sees the state after the call', async () => {
    const { breaker } = setup({ failureThreshold: 1 });
    const safe = fallback(breaker, () => breaker.state);
    expect(await safe.execute(() => Promise.reject(new Error('x')))).toBe('open');
  });

  it('throwing isFailure, shouldTrip, openMs and listeners leave no unhandled rejection', async () => {
    const { breaker, events } = setup({
      failureThreshold: 1,
      isFailure: () => {
        throw new Error('isFailure');
      },
      shouldTrip: () => {
        throw new Error('shouldTrip');
      },
      openMs: () => {
        throw new Error('openMs');
      },
    });
    for (const type of ['breaker.failure', 'breaker.state_change'] as const) {
      events.on(type, () => {
        throw new Error(type);
      });
    }
    events.on('core.listener_error', () => undefined);
    await breaker.execute(() => Promise.reject(new Error('x'))).catch(() => undefined);
    expect(breaker.state).toBe('open');
    await settleTurn();
    expect(watch.reasons).toEqual([]);
  });
});
