import { getEventListeners } from 'node:events';
import { createEventBus, isXError, remainingMs, sleep } from '@x/core';
import type { XEvent } from '@x/core';
import { createVirtualClock } from '@x/core/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TimeoutError, createTimeout } from './index.js';
import { deferred as manual, track, unhandledRejections } from '@x/test-support';

function setup(ms = 100) {
  const clock = createVirtualClock();
  const events = createEventBus();
  const seen: XEvent[] = [];
  events.on('*', (e) => seen.push(e));
  const timeout = createTimeout(ms, { clock, events, name: 'hard', strategy: 'aggressive' });
  return { clock, events, seen, timeout };
}

// Abandoned work that rejects later must never surface as an unhandled rejection.
const watch = unhandledRejections();
const unhandled = watch.reasons;
beforeEach(watch.start);
afterEach(watch.stop);

describe('aggressive timeout', () => {
  it('rejects at the deadline while the function is still running, and reports the running work', async () => {
    const { clock, timeout, seen } = setup(100);
    const work = manual<string>();
    let signal: AbortSignal | undefined;
    const state = track(
      timeout.execute((ctx) => {
        signal = ctx.signal;
        return work.promise; // ignores its signal
      }),
    );
    await clock.advance(99);
    expect(state.settled).toBe(false);
    await clock.advance(1);
    expect(state.settled).toBe(true);
    const error = state.error as TimeoutError;
    expect(isXError(error, 'TIMEOUT')).toBe(true);
    expect(error.abandoned).toBe(true);
    expect(error.strategy).toBe('aggressive');
    expect(error.timeoutMs).toBe(100);
    expect(error.message).toBe('hard: timed out after 100 ms (the work is still running)');
    expect(signal?.aborted).toBe(true);
    expect(signal?.reason).toBe(error);
    expect(timeout.abandoned).toBe(1);
    expect(seen).toMatchObject([
      { type: 'timeout.timed_out', name: 'hard', timeoutMs: 100, strategy: 'aggressive', signalled: true },
      { type: 'timeout.abandoned', name: 'hard', reason: 'timeout', timeoutMs: 100 },
    ]);
    expect(clock.pendingTimers).toBe(0);

    await clock.advance(400);
    work.resolve('finally');
    await clock.flush();
    expect(timeout.abandoned).toBe(0);
    expect(seen[2]).toMatchObject({ type: 'timeout.abandoned_settled', durationMs: 500, ok: true, reason: 'timeout' });
    // The late value goes nowhere: the caller already has its TimeoutError.
    expect(state.error).toBe(error);
  });

  it('never leaves an unhandled rejection when abandoned work fails later', async () => {
    const { clock, timeout, seen } = setup(100);
    const work = manual<string>();
    const state = track(timeout.execute(() => work.promise));
    await clock.advance(100);
    expect(isXError(state.error, 'TIMEOUT')).toBe(true);
    work.reject(new Error('failed after we left'));
    await clock.flush();
    await clock.flush();
    expect(unhandled).toHaveLength(0);
    expect(seen.at(-1)).toMatchObject({ type: 'timeout.abandoned_settled', ok: false, durationMs: 100 });
  });

  it('reports signalled: false when the function had not read its signal, and aborts a signal read later', async () => {
    const { clock, timeout, seen } = setup(100);
    const work = manual<void>();
    let readLater: (() => AbortSignal) | undefined;
    const state = track(
      timeout.execute((ctx) => {
        readLater = () => ctx.signal;
        return work.promise;
      }),
    );
    await clock.advance(100);
    expect(seen[0]).toMatchObject({ type: 'timeout.timed_out', signalled: false });
    const signal = (readLater as () => AbortSignal)();
    expect(signal.aborted).toBe(true);
    expect(signal.reason).toBe(state.error);
    work.resolve();
    await clock.flush();
  });

  it('resolves normally before the deadline and leaves no timer or caller listener behind', async () => {
    const { clock, timeout, seen } = setup(100);
    const caller = new AbortController();
    const pending = timeout.execute(
      async ({ signal }) => {
        await sleep(30, { signal, clock });
        return 'ok';
      },
      { signal: caller.signal },
    );
    // Our watch of the caller's abort and the link of the function's signal share one listener.
    expect(getEventListeners(caller.signal, 'abort')).toHaveLength(1);
    await clock.advance(30);
    await expect(pending).resolves.toBe('ok');
    expect(getEventListeners(caller.signal, 'abort')).toHaveLength(0);
    expect(clock.pendingTimers).toBe(0);
    expect(timeout.abandoned).toBe(0);
    expect(seen).toHaveLength(0);
  });

  it('passes a rejection before the deadline through unchanged', async () => {
    const { timeout } = setup(100);
    const boom = new Error('boom');
    await expect(timeout.execute(() => Promise.reject(boom))).rejects.toBe(boom);
    await expect(
      timeout.execute(() => {
        throw boom;
      }),
    ).rejects.toBe(boom);
    expect(timeout.abandoned).toBe(0);
  });

  it('rejects with the caller reason (not a TimeoutError) as soon as the caller aborts', async () => {
    const { clock, timeout, seen } = setup(100);
    const caller = new AbortController();
    const reason = new Error('caller gave up');
    const work = manual<void>();
    let signal: AbortSignal | undefined;
    const state = track(
      timeout.execute(
        (ctx) => {
          signal = ctx.signal;
          return work.promise;
        },
        { signal: caller.signal },
      ),
    );
    await clock.advance(10);
    caller.abort(reason);
    await clock.flush();
    expect(state.error).toBe(reason);
    expect(isXError(state.error, 'TIMEOUT')).toBe(false);
    expect(signal?.aborted).toBe(true);
    expect(signal?.reason).toBe(reason);
    expect(clock.pendingTimers).toBe(0);
    expect(seen).toMatchObject([{ type: 'timeout.abandoned', reason: 'abort' }]);
    await clock.advance(200);
    work.resolve();
    await clock.flush();
    expect(seen.map((e) => e.type)).toEqual(['timeout.abandoned', 'timeout.abandoned_settled']);
    expect(seen[1]).toMatchObject({ reason: 'abort', ok: true, durationMs: 210 });
    expect(timeout.abandoned).toBe(0);
  });

  it('rejects at once with the caller reason when the caller signal is already aborted', async () => {
    const { timeout, clock } = setup(100);
    const caller = new AbortController();
    caller.abort('stop');
    await expect(timeout.execute(() => 1, { signal: caller.signal })).rejects.toBe('stop');
    await expect(timeout.executeOutcome(() => 1, { signal: caller.signal })).resolves.toEqual({ ok: false, error: 'stop' });
    expect(clock.pendingTimers).toBe(0);
  });

  it('fires at an earlier outer deadline, which the function sees', async () => {
    const clock = createVirtualClock();
    const events = createEventBus();
    const outer = createTimeout(50, { clock, events, name: 'outer' });
    const inner = createTimeout(1_000, { clock, events, name: 'inner', strategy: 'aggressive' });
    let remaining = 0;
    const work = manual<void>();
    const state = track(
      outer.execute((ctx) =>
        inner.execute((innerCtx) => {
          remaining = remainingMs(innerCtx, clock);
          return work.promise;
        }, ctx),
      ),
    );
    expect(remaining).toBe(50);
    await clock.advance(50);
    expect(isXError(state.error, 'TIMEOUT')).toBe(true);
    expect((state.error as TimeoutError).timeoutMs).toBe(50);
    expect(inner.abandoned).toBe(1);
    work.resolve();
    await clock.flush();
    expect(inner.abandoned).toBe(0);
    expect(clock.pendingTimers).toBe(0);
  });

  it('returns outcomes from executeOutcome and never rejects', async () => {
    const { clock, timeout } = setup(100);
    await expect(timeout.executeOutcome(async () => 1)).resolves.toEqual({ ok: true, value: 1 });
    const boom = new Error('boom');
    await expect(timeout.executeOutcome(async () => Promise.reject(boom))).resolves.toEqual({ ok: false, error: boom });
    const work = manual<number>();
    const pending = timeout.executeOutcome(() => work.promise);
    await clock.advance(100);
    const outcome = await pending;
    expect(outcome.ok).toBe(false);
    expect(!outcome.ok && isXError(outcome.error, 'TIMEOUT')).toBe(true);
    work.reject(new Error('late'));
    await clock.flush();
    expect(unhandled).toHaveLength(0);
  });

  it('keeps one timer for many concurrent calls and rejects each at its own deadline', async () => {
    const { clock, timeout } = setup(100);
    const works = Array.from({ length: 20 }, () => manual<number>());
    const states = [];
    for (const work of works) {
      states.push(track(timeout.execute(() => work.promise)));
      await clock.advance(5);
    }
    expect(clock.pendingTimers).toBe(1);
    // t = 100: the first call (started at 0) is due.
    for (let i = 0; i < 20; i++) {
      expect(states.filter((s) => s.settled)).toHaveLength(i + 1);
      await clock.advance(5);
    }
    expect(states.every((s) => isXError(s.error, 'TIMEOUT'))).toBe(true);
    expect(timeout.abandoned).toBe(20);
    works.forEach((w, i) => w.resolve(i));
    await clock.flush();
    expect(timeout.abandoned).toBe(0);
    expect(clock.pendingTimers).toBe(0);
  });

  it('keeps the rejection when a listener throws', async () => {
    const clock = createVirtualClock();
    const reported: unknown[] = [];
    const events = createEventBus({ onUnhandledListenerError: (error) => reported.push(error) });
    events.on('timeout.abandoned', () => {
      throw new Error('listener bug');
    });
    events.on('timeout.abandoned_settled', () => {
      throw new Error('listener bug 2');
    });
    const timeout = createTimeout(10, { clock, events, strategy: 'aggressive' });
    const work = manual<void>();
    const state = track(timeout.execute(() => work.promise));
    await clock.advance(10);
    expect(isXError(state.error, 'TIMEOUT')).toBe(true);
    work.resolve();
    await clock.flush();
    expect(reported).toHaveLength(2);
    expect(timeout.abandoned).toBe(0);
  });
});

describe('many calls on one caller signal', () => {
  it('keeps one abort listener on it for 200 concurrent aggressive calls, with no MaxListenersExceededWarning', async () => {
    const clock = createVirtualClock();
    const timeout = createTimeout(1_000, { clock, events: createEventBus(), strategy: 'aggressive' });
    const caller = new AbortController();
    const warnings: unknown[] = [];
    const onWarning = (warning: Error) => warnings.push(warning.name);
    process.on('warning', onWarning);
    try {
      const gates = Array.from({ length: 200 }, () => manual<string>());
      const calls = gates.map((gate) => timeout.execute(({ signal }) => (signal.aborted, gate.promise), { signal: caller.signal }));
      expect(getEventListeners(caller.signal, 'abort')).toHaveLength(1);
      const reason = new Error('user left');
      caller.abort(reason);
      for (const call of calls) await expect(call).rejects.toBe(reason);
      for (const gate of gates) gate.resolve('late');
      await clock.flush();
      expect(getEventListeners(caller.signal, 'abort')).toHaveLength(0);
      await new Promise((resolve) => setImmediate(resolve));
    } finally {
      process.off('warning', onWarning);
    }
    expect(warnings).not.toContain('MaxListenersExceededWarning');
  });
});
