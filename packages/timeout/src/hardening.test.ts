import { createEventBus, systemClock } from '@x/core';
import type { Clock } from '@x/core';
import { createVirtualClock } from '@x/core/testing';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createTimeout } from './index.js';

const waitForAbort = ({ signal }: { signal: AbortSignal }) =>
  new Promise((_, reject) => {
    signal.addEventListener('abort', () => reject(signal.reason));
  });

describe('one time base (issue 11, defect 7)', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('fires a 1 s timeout under fake timers installed after the system clock was first read', async () => {
    systemClock.now(); // core's origin is cached with the real performance.timeOrigin
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'], now: 0 });
    const timeout = createTimeout(1_000, { events: createEventBus() });
    const outcome = timeout.executeOutcome(waitForAbort);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(await outcome).toMatchObject({ ok: false, error: { code: 'TIMEOUT' } });
  });

  it('takes every reading from the injected clock, never from performance directly', async () => {
    const clock = createVirtualClock({ now: 1_000 });
    const reads = vi.spyOn(clock, 'now');
    const timeout = createTimeout(50, { clock, events: createEventBus() });
    const seen: (number | undefined)[] = [];
    const outcome = timeout.executeOutcome((ctx) => {
      seen.push(ctx.deadline);
      return waitForAbort(ctx);
    });
    expect(seen).toEqual([1_050]);
    expect(reads).toHaveBeenCalled();
    await clock.advance(50);
    expect(await outcome).toMatchObject({ ok: false, error: { code: 'TIMEOUT' } });
  });
});

describe('late cooperative abort (issue 11, defect 8)', () => {
  /** Like Node: a timer fires up to `early` ms before its delay by the clock, and no delay is under 1 ms. */
  function earlyClock(early: number): Clock & { advance(ms: number): Promise<void> } {
    const inner = createVirtualClock({ now: 0 });
    return {
      now: () => inner.now(),
      setTimeout: (callback, ms) => inner.setTimeout(callback, Math.max(1, ms) - early),
      clearTimeout: (handle) => inner.clearTimeout(handle),
      advance: (ms) => inner.advance(ms),
    };
  }

  it('aborts the signal when the shared timer fires a fraction of a millisecond early', async () => {
    const clock = earlyClock(0.4);
    const timeout = createTimeout(2, { clock, events: createEventBus() });
    let signal: AbortSignal | undefined;
    const outcome = timeout.executeOutcome((ctx) => {
      signal = ctx.signal;
      return waitForAbort(ctx);
    });
    await clock.advance(1.6); // the timer fires now, 0.4 ms before the deadline by the clock
    expect(signal?.aborted).toBe(true);
    expect(await outcome).toMatchObject({ ok: false, error: { code: 'TIMEOUT' } });
  });

  it('on the system clock, no call of 100 sees its signal still live 1 ms after a 2 ms deadline', async () => {
    const timeout = createTimeout(2, { events: createEventBus() });
    let late = 0;
    for (let i = 0; i < 100; i++) {
      await timeout.executeOutcome(
        ({ signal }) =>
          new Promise<void>((resolve) => {
            setTimeout(() => {
              if (!signal.aborted) late++;
              resolve();
            }, 3);
          }),
      );
    }
    expect(late).toBe(0);
  });
});

describe('stats() (issue 11)', () => {
  it('counts calls, calls that timed out (also on entry), and abandoned work', async () => {
    const clock = createVirtualClock({ now: 0 });
    for (const strategy of ['cooperative', 'aggressive'] as const) {
      const timeout = createTimeout(100, { clock, events: createEventBus(), strategy, name: 'db' });
      expect(timeout.stats()).toEqual({ timeoutMs: 100, strategy, calls: 0, timedOut: 0, abandoned: 0 });
      await timeout.execute(async () => 1);
      const slow = timeout.executeOutcome(waitForAbort);
      const ignoring = timeout.executeOutcome(() => new Promise<void>((resolve) => clock.setTimeout(() => resolve(), 150)));
      await timeout.executeOutcome(async () => 1, { deadline: clock.now() - 1 });
      await clock.advance(100);
      await slow;
      expect(timeout.stats(), strategy).toEqual({
        timeoutMs: 100,
        strategy,
        calls: 4,
        timedOut: strategy === 'aggressive' ? 3 : 2, // a cooperative call that ignores its signal is not cut
        abandoned: strategy === 'aggressive' ? 1 : 0, // the work that ignores its signal, still running
      });
      await clock.advance(50);
      await ignoring;
      expect(timeout.stats().abandoned).toBe(0);
    }
  });
});

describe('inputs (issue 11, defects 4 and 5)', () => {
  it('never reads an option from Object.prototype', () => {
    const proto = Object.prototype as Record<string, unknown>;
    proto.strategy = 'aggressive';
    proto.name = 'inherited';
    try {
      const timeout = createTimeout(10);
      expect(timeout.strategy).toBe('cooperative');
      expect(timeout.name).toBe('timeout');
    } finally {
      delete proto.strategy;
      delete proto.name;
    }
  });

  it('suggests the option a misspelt key meant', () => {
    expect(() => createTimeout(10, { stratgy: 'aggressive' } as never)).toThrow(/did you mean "strategy"/);
  });

  it('rejects a fn that is not a function and a null, NaN, string or object deadline, at the call, for both strategies', async () => {
    for (const strategy of ['cooperative', 'aggressive'] as const) {
      const timeout = createTimeout(10, { strategy, events: createEventBus() });
      await expect(timeout.execute('not a function' as never)).rejects.toMatchObject({ code: 'INVALID_OPTIONS', option: 'fn' });
      expect(await timeout.executeOutcome(null as never)).toMatchObject({ ok: false, error: { code: 'INVALID_OPTIONS' } });
      for (const deadline of [null, NaN, '5', {}]) {
        await expect(timeout.execute(async () => 1, { deadline } as never)).rejects.toMatchObject({ code: 'INVALID_OPTIONS', option: 'deadline' });
      }
      await expect(timeout.execute(async () => 1, { signal: 42 } as never)).rejects.toMatchObject({ code: 'INVALID_OPTIONS', option: 'signal' });
      expect(timeout.stats().calls).toBe(0);
    }
  });
});
