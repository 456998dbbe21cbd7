import { getEventListeners } from 'node:events';
import { compose, createEventBus, isContextAborted, isXError, remainingMs, sleep } from '@x/core';
import type { ExecutionContext, XEvent } from '@x/core';
import { createVirtualClock } from '@x/core/testing';
import { describe, expect, it } from 'vitest';
import { TimeoutError, createTimeout } from './index.js';
import { deferred as manual, track } from '@x/test-support';

function setup(ms = 100, name = 'test') {
  const clock = createVirtualClock();
  const events = createEventBus();
  const seen: XEvent[] = [];
  events.on('*', (e) => seen.push(e));
  const timeout = createTimeout(ms, { clock, events, name });
  return { clock, events, seen, timeout };
}

describe('cooperative timeout', () => {
  it('resolves with the value of a function that finishes in time and leaves no timer', async () => {
    const { clock, timeout, seen } = setup();
    const pending = timeout.execute(async ({ signal }) => {
      await sleep(50, { signal, clock });
      return 'done';
    });
    // The policy's shared timer and the sleep's.
    expect(clock.pendingTimers).toBe(2);
    await clock.advance(50);
    await expect(pending).resolves.toBe('done');
    expect(clock.pendingTimers).toBe(0);
    expect(seen).toHaveLength(0);
  });

  it('adds its deadline to the context, so inner layers see the remaining time', async () => {
    const { clock, timeout } = setup(250);
    const start = clock.now();
    let seen: ExecutionContext | undefined;
    await timeout.execute((ctx) => {
      seen = ctx;
      return 1;
    });
    expect(seen?.deadline).toBe(start + 250);
    expect(remainingMs(seen as ExecutionContext, clock)).toBe(250);
    expect(seen?.attempt).toBe(1);
  });

  it('aborts the signal at the deadline and rejects with a TimeoutError once the function gives up', async () => {
    const { clock, timeout, seen } = setup(100);
    let signal: AbortSignal | undefined;
    const state = track(
      timeout.execute(async (ctx) => {
        signal = ctx.signal;
        await sleep(10_000, { signal: ctx.signal, clock });
        return 'late';
      }),
    );
    await clock.advance(99);
    expect(signal?.aborted).toBe(false);
    expect(state.settled).toBe(false);
    await clock.advance(1);
    expect(signal?.aborted).toBe(true);
    expect(state.settled).toBe(true);
    expect(isXError(state.error, 'TIMEOUT')).toBe(true);
    const error = state.error as TimeoutError;
    expect(error).toBeInstanceOf(TimeoutError);
    expect(error.timeoutMs).toBe(100);
    expect(error.strategy).toBe('cooperative');
    expect(error.abandoned).toBe(false);
    expect(error.policy).toBe('test');
    expect(error.message).toBe('test: timed out after 100 ms');
    expect(signal?.reason).toBe(error);
    expect(clock.pendingTimers).toBe(0);
    expect(seen).toMatchObject([
      { type: 'timeout.timed_out', source: 'timeout', name: 'test', timeoutMs: 100, strategy: 'cooperative', signalled: true },
    ]);
    expect((seen[0] as XEvent).time).toBe(clock.now());
  });

  it('waits for the function after aborting and maps its own abort error to a TimeoutError with that cause', async () => {
    const { clock, timeout } = setup(100);
    const work = manual<string>();
    const state = track(
      timeout.execute(async ({ signal }) => {
        signal.addEventListener('abort', () => {
          // Like a client that reports aborts with its own error, some time later.
          setTimeoutOn(clock, 30, () => work.reject(new DOMException('The operation was aborted.', 'AbortError')));
        });
        return work.promise;
      }),
    );
    await clock.advance(100);
    expect(state.settled).toBe(false);
    await clock.advance(30);
    expect(state.settled).toBe(true);
    expect(isXError(state.error, 'TIMEOUT')).toBe(true);
    const cause = (state.error as TimeoutError).cause as DOMException;
    expect(cause.name).toBe('AbortError');
  });

  it('returns the value of a function that ignores the abort and resolves after the deadline', async () => {
    const { clock, timeout, seen } = setup(100);
    const work = manual<string>();
    let signal: AbortSignal | undefined;
    const state = track(
      timeout.execute((ctx) => {
        signal = ctx.signal;
        return work.promise;
      }),
    );
    await clock.advance(150);
    expect(signal?.aborted).toBe(true);
    expect(state.settled).toBe(false);
    work.resolve('late but valid');
    await clock.flush();
    expect(state.value).toBe('late but valid');
    expect(seen.map((e) => e.type)).toEqual(['timeout.timed_out']);
  });

  it('creates no signal and no timer for a function that never reads ctx.signal', async () => {
    const { clock, timeout } = setup(100);
    const caller = new AbortController();
    const work = manual<number>();
    let ctxSeen: ExecutionContext | undefined;
    const state = track(
      timeout.execute(
        (ctx) => {
          ctxSeen = ctx;
          return work.promise;
        },
        { signal: caller.signal },
      ),
    );
    expect(clock.pendingTimers).toBe(0);
    expect(getEventListeners(caller.signal, 'abort')).toHaveLength(0);
    // Asking whether it is aborted must not create anything either.
    expect(isContextAborted(ctxSeen as ExecutionContext)).toBe(false);
    expect(clock.pendingTimers).toBe(0);
    await clock.advance(50);
    work.resolve(7);
    await clock.flush();
    expect(state.value).toBe(7);
    expect(clock.pendingTimers).toBe(0);
  });

  it('reports the deadline as passed, without creating a signal, once it has', async () => {
    const { clock, timeout } = setup(100);
    const work = manual<number>();
    let ctxSeen: ExecutionContext | undefined;
    const state = track(
      timeout.execute((ctx) => {
        ctxSeen = ctx;
        return work.promise;
      }),
    );
    await clock.advance(100);
    expect(isContextAborted(ctxSeen as ExecutionContext)).toBe(true);
    expect(clock.pendingTimers).toBe(0);
    work.resolve(1);
    await clock.flush();
    expect(state.value).toBe(1);
  });

  it('gives a signal read late only the remaining time', async () => {
    const { clock, timeout } = setup(100);
    let signal: AbortSignal | undefined;
    const state = track(
      timeout.execute(async (ctx) => {
        await sleep(60, { clock });
        expect(clock.pendingTimers).toBe(0);
        signal = ctx.signal;
        expect(clock.pendingTimers).toBe(1);
        await sleep(1_000, { signal, clock });
      }),
    );
    await clock.advance(60);
    expect(signal?.aborted).toBe(false);
    await clock.advance(39);
    expect(signal?.aborted).toBe(false);
    await clock.advance(1);
    expect(signal?.aborted).toBe(true);
    expect(isXError(state.error, 'TIMEOUT')).toBe(true);
    expect(clock.pendingTimers).toBe(0);
  });

  it('hands a signal read after the deadline out already aborted with the TimeoutError', async () => {
    const { clock, timeout, seen } = setup(100);
    const state = track(
      timeout.execute(async (ctx) => {
        await sleep(150, { clock });
        const { signal } = ctx;
        expect(signal.aborted).toBe(true);
        expect(isXError(signal.reason, 'TIMEOUT')).toBe(true);
        expect(clock.pendingTimers).toBe(0);
        throw signal.reason;
      }),
    );
    await clock.advance(150);
    expect(isXError(state.error, 'TIMEOUT')).toBe(true);
    expect(seen).toMatchObject([{ type: 'timeout.timed_out', signalled: true }]);
  });

  it('serves many concurrent calls with one timer and aborts each at its own deadline', async () => {
    const { clock, timeout } = setup(100);
    const signals: AbortSignal[] = [];
    const states = [];
    for (let i = 0; i < 50; i++) {
      states.push(
        track(
          timeout.execute(async ({ signal }) => {
            signals.push(signal);
            await sleep(10_000, { signal, clock });
          }),
        ),
      );
      await clock.advance(1);
    }
    // One timer for the policy; each call's sleep has one of its own.
    expect(clock.pendingTimers).toBe(51);
    await clock.advance(50); // t = 100: the first call started at 0
    expect(signals.filter((s) => s.aborted)).toHaveLength(1);
    for (let i = 1; i < 50; i++) {
      await clock.advance(1);
      expect(signals.filter((s) => s.aborted)).toHaveLength(i + 1);
    }
    expect(states.every((s) => isXError(s.error, 'TIMEOUT'))).toBe(true);
    expect(clock.pendingTimers).toBe(0);
  });

  it('clears the shared timer when the last call settles early', async () => {
    const { clock, timeout } = setup(1_000);
    const work = manual<number>();
    const state = track(
      timeout.execute(({ signal }) => {
        void signal;
        return work.promise;
      }),
    );
    expect(clock.pendingTimers).toBe(1);
    work.resolve(3);
    await clock.flush();
    expect(state.value).toBe(3);
    expect(clock.pendingTimers).toBe(0);
  });

  it('passes a synchronous throw through as a rejection', async () => {
    const { timeout } = setup();
    const boom = new Error('boom');
    await expect(
      timeout.execute(() => {
        throw boom;
      }),
    ).rejects.toBe(boom);
  });

  it('passes the function rejection through unchanged when the deadline did not fire', async () => {
    const { timeout } = setup();
    const boom = new Error('boom');
    await expect(timeout.execute(async () => Promise.reject(boom))).rejects.toBe(boom);
  });

  it('keeps an outer attempt number and fields from an enclosing context', async () => {
    const { timeout } = setup();
    let attempt = 0;
    await timeout.execute(
      (ctx) => {
        attempt = ctx.attempt;
      },
      { attempt: 3 } as never,
    );
    expect(attempt).toBe(3);
  });
});

describe('cooperative calls that have not read their signal when they return', () => {
  function quiet(ms = 100) {
    const clock = createVirtualClock();
    // No listeners: nothing asks for overrun reports, so these calls are handed back unwrapped.
    const timeout = createTimeout(ms, { clock, events: createEventBus() });
    return { clock, timeout };
  }

  it('cost no signal, no timer and no caller listener', async () => {
    const { clock, timeout } = quiet();
    const caller = new AbortController();
    const work = manual<number>();
    const state = track(timeout.execute(() => work.promise, { signal: caller.signal }));
    expect(clock.pendingTimers).toBe(0);
    expect(getEventListeners(caller.signal, 'abort')).toHaveLength(0);
    work.resolve(4);
    await clock.flush();
    expect(state.value).toBe(4);
  });

  it('release the timer and the caller link when a late reader finishes in time', async () => {
    const { clock, timeout } = quiet();
    const caller = new AbortController();
    let signal: AbortSignal | undefined;
    const pending = timeout.execute(
      async (ctx) => {
        await sleep(10, { clock });
        signal = ctx.signal;
        await sleep(20, { signal, clock });
        return 'ok';
      },
      { signal: caller.signal },
    );
    await clock.advance(10);
    expect(getEventListeners(caller.signal, 'abort')).toHaveLength(1);
    await clock.advance(20);
    await expect(pending).resolves.toBe('ok');
    await clock.flush();
    expect(clock.pendingTimers).toBe(0);
    expect(getEventListeners(caller.signal, 'abort')).toHaveLength(0);
    caller.abort();
    expect(signal?.aborted).toBe(false);
  });

  it('abort a late reader at the deadline; it rejects with the TimeoutError when it rethrows signal.reason', async () => {
    const { clock, timeout } = quiet();
    const state = track(
      timeout.execute(async (ctx) => {
        await sleep(10, { clock });
        await sleep(1_000, { signal: ctx.signal, clock });
      }),
    );
    await clock.advance(100);
    expect(isXError(state.error, 'TIMEOUT')).toBe(true);
    expect(clock.pendingTimers).toBe(0);
  });

  it('pass a late reader\'s own error through: its promise was handed out before it read the signal', async () => {
    const { clock, timeout } = quiet();
    const own = new Error('client aborted');
    const state = track(
      timeout.execute(async (ctx) => {
        await sleep(10, { clock });
        const { signal } = ctx;
        await new Promise((_, reject) => signal.addEventListener('abort', () => reject(own)));
      }),
    );
    await clock.advance(100);
    expect(state.error).toBe(own);
    expect(clock.pendingTimers).toBe(0);
  });
  it('behave the same when someone subscribes to timeout events (a side chain watches instead)', async () => {
    const { clock, timeout, seen } = setup(100);
    const caller = new AbortController();
    const own = new Error('client aborted');
    const state = track(
      timeout.execute(
        async (ctx) => {
          await sleep(10, { clock });
          const { signal } = ctx;
          await new Promise((_, reject) => signal.addEventListener('abort', () => reject(own)));
        },
        { signal: caller.signal },
      ),
    );
    await clock.advance(100);
    expect(state.error).toBe(own);
    expect(seen).toMatchObject([{ type: 'timeout.timed_out', signalled: true }]);
    expect(clock.pendingTimers).toBe(0);
    expect(getEventListeners(caller.signal, 'abort')).toHaveLength(0);
  });
});

describe('caller abort versus timeout', () => {
  it('rejects with the caller reason, not a TimeoutError, when the caller aborts', async () => {
    const { clock, timeout, seen } = setup(100);
    const caller = new AbortController();
    const reason = new Error('user navigated away');
    const state = track(
      timeout.execute(({ signal }) => sleep(10_000, { signal, clock }), { signal: caller.signal }),
    );
    await clock.advance(10);
    caller.abort(reason);
    await clock.flush();
    expect(state.error).toBe(reason);
    expect(isXError(state.error, 'TIMEOUT')).toBe(false);
    // The deadline passing later changes nothing.
    await clock.advance(200);
    expect(seen).toHaveLength(0);
    expect(clock.pendingTimers).toBe(0);
  });

  it('keeps the TimeoutError when the caller aborts after the timeout fired', async () => {
    const { clock, timeout } = setup(100);
    const caller = new AbortController();
    const work = manual<void>();
    const state = track(
      timeout.execute(
        ({ signal }) => {
          signal.addEventListener('abort', () => setTimeoutOn(clock, 20, () => work.reject(signal.reason)));
          return work.promise;
        },
        { signal: caller.signal },
      ),
    );
    await clock.advance(100);
    caller.abort(new Error('too late'));
    await clock.advance(20);
    expect(isXError(state.error, 'TIMEOUT')).toBe(true);
  });

  it('rejects at once with the caller reason when the caller signal is already aborted', async () => {
    const { timeout } = setup();
    const caller = new AbortController();
    const reason = new Error('cancelled');
    caller.abort(reason);
    let called = false;
    await expect(
      timeout.execute(
        () => {
          called = true;
        },
        { signal: caller.signal },
      ),
    ).rejects.toBe(reason);
    expect(called).toBe(false);
    await expect(timeout.executeOutcome(() => 1, { signal: caller.signal })).resolves.toEqual({ ok: false, error: reason });
  });
});

describe('deadlines from outside', () => {
  it('fires at an earlier deadline passed by the caller', async () => {
    const { clock, timeout } = setup(1_000);
    const state = track(
      timeout.execute(({ signal }) => sleep(10_000, { signal, clock }), { deadline: clock.now() + 300 }),
    );
    await clock.advance(299);
    expect(state.settled).toBe(false);
    await clock.advance(1);
    expect(isXError(state.error, 'TIMEOUT')).toBe(true);
    expect((state.error as TimeoutError).timeoutMs).toBe(300);
  });

  it('lets an outer timeout shorten an inner one: the inner sees the outer deadline', async () => {
    const clock = createVirtualClock();
    const events = createEventBus();
    const outer = createTimeout(100, { clock, events, name: 'outer' });
    const inner = createTimeout(1_000, { clock, events, name: 'inner' });
    let remaining = 0;
    let signal: AbortSignal | undefined;
    const state = track(
      outer.execute((outerCtx) =>
        inner.execute(async (ctx) => {
          remaining = remainingMs(ctx, clock);
          signal = ctx.signal;
          await sleep(10_000, { signal, clock });
        }, outerCtx),
      ),
    );
    expect(remaining).toBe(100);
    await clock.advance(99);
    expect(signal?.aborted).toBe(false);
    await clock.advance(1);
    expect(signal?.aborted).toBe(true);
    expect(isXError(state.error, 'TIMEOUT')).toBe(true);
    expect((state.error as TimeoutError).timeoutMs).toBe(100);
    expect(clock.pendingTimers).toBe(0);
  });

  it('composes: an inner timeout that is shorter fires first and the outer passes its error on', async () => {
    const clock = createVirtualClock();
    const events = createEventBus();
    const outer = createTimeout(1_000, { clock, events, name: 'outer' });
    const inner = createTimeout(100, { clock, events, name: 'inner' });
    const policy = compose(outer, inner);
    const state = track(policy.execute(({ signal }) => sleep(10_000, { signal, clock })));
    await clock.advance(100);
    expect((state.error as TimeoutError).policy).toBe('inner');
    expect(clock.pendingTimers).toBe(0);
  });

  it('rejects at once, without calling the function, when the enclosing deadline has passed', async () => {
    const { clock, timeout, seen } = setup(100);
    let called = false;
    const error = await timeout
      .execute(
        () => {
          called = true;
        },
        { deadline: clock.now() - 5 },
      )
      .catch((e: unknown) => e);
    expect(called).toBe(false);
    expect(isXError(error, 'TIMEOUT')).toBe(true);
    expect((error as TimeoutError).timeoutMs).toBe(0);
    // The dependency was never asked: a breaker around this timeout must not count it.
    expect((error as TimeoutError).started).toBe(false);
    expect((error as TimeoutError).message).toBe('test: the deadline had passed before the call started');
    expect(seen).toMatchObject([{ type: 'timeout.timed_out', timeoutMs: 0, signalled: false }]);
  });

  it('marks a timeout of a call that did start as started', async () => {
    const { clock, timeout } = setup(100);
    const pending = timeout.execute(({ signal }) => sleep(1_000, { signal, clock })).catch((e: unknown) => e);
    await clock.advance(100);
    expect(await pending).toMatchObject({ code: 'TIMEOUT', started: true, timeoutMs: 100 });
  });

  it('treats ms = Infinity as no timeout of its own while still enforcing an outer deadline', async () => {
    const clock = createVirtualClock();
    const timeout = createTimeout(Infinity, { clock, events: createEventBus() });
    let deadline: number | undefined = 0;
    await timeout.execute(({ deadline: d, signal }) => {
      deadline = d;
      void signal;
    });
    expect(deadline).toBeUndefined();
    expect(clock.pendingTimers).toBe(0);
    const state = track(
      timeout.execute(({ signal }) => sleep(10_000, { signal, clock }), { deadline: clock.now() + 50 }),
    );
    await clock.advance(50);
    expect(isXError(state.error, 'TIMEOUT')).toBe(true);
  });
});

describe('executeOutcome (cooperative)', () => {
  it('returns outcomes and never rejects', async () => {
    const { clock, timeout } = setup(100);
    await expect(timeout.executeOutcome(async () => 5)).resolves.toEqual({ ok: true, value: 5 });
    const boom = new Error('boom');
    await expect(timeout.executeOutcome(() => Promise.reject(boom))).resolves.toEqual({ ok: false, error: boom });
    await expect(
      timeout.executeOutcome(() => {
        throw boom;
      }),
    ).resolves.toEqual({ ok: false, error: boom });
    const pending = timeout.executeOutcome(({ signal }) => sleep(1_000, { signal, clock }));
    await clock.advance(100);
    const outcome = await pending;
    expect(outcome.ok).toBe(false);
    expect(!outcome.ok && isXError(outcome.error, 'TIMEOUT')).toBe(true);
    expect(clock.pendingTimers).toBe(0);
  });
});

describe('timeout events (cooperative)', () => {
  it('reports an overrun of a function that never read its signal when it settles, with signalled: false', async () => {
    const { clock, timeout, seen } = setup(100);
    const work = manual<number>();
    const state = track(timeout.execute(() => work.promise));
    await clock.advance(180);
    expect(seen).toHaveLength(0);
    work.resolve(1);
    await clock.flush();
    expect(state.value).toBe(1);
    expect(seen).toMatchObject([{ type: 'timeout.timed_out', timeoutMs: 100, signalled: false, time: clock.now() }]);
  });

  it('emits nothing for calls that finish in time', async () => {
    const { timeout, seen } = setup(100);
    for (let i = 0; i < 5; i++) await timeout.execute(({ signal }) => signal.aborted);
    expect(seen).toHaveLength(0);
  });

  it('keeps the outcome when a listener throws and reports the listener error', async () => {
    const clock = createVirtualClock();
    const unhandled: unknown[] = [];
    const events = createEventBus({ onUnhandledListenerError: (error) => unhandled.push(error) });
    const listenerErrors: XEvent[] = [];
    events.on('timeout.timed_out', () => {
      throw new Error('listener bug');
    });
    events.on('core.listener_error', (e) => listenerErrors.push(e));
    const timeout = createTimeout(100, { clock, events });
    let signal: AbortSignal | undefined;
    const state = track(
      timeout.execute((ctx) => {
        signal = ctx.signal;
        return sleep(1_000, { signal, clock });
      }),
    );
    await clock.advance(100);
    expect(signal?.aborted).toBe(true);
    expect(isXError(state.error, 'TIMEOUT')).toBe(true);
    expect(listenerErrors).toMatchObject([{ type: 'core.listener_error', eventType: 'timeout.timed_out' }]);
    expect(unhandled).toHaveLength(0);
    expect(clock.pendingTimers).toBe(0);
  });

  it('uses the default event bus when none is given', async () => {
    const { defaultEventBus } = await import('@x/core');
    const clock = createVirtualClock();
    const seen: XEvent[] = [];
    const off = defaultEventBus().on('timeout.timed_out', (e) => seen.push(e));
    try {
      const timeout = createTimeout(10, { clock, name: 'default-bus' });
      const pending = timeout.execute(({ signal }) => sleep(100, { signal, clock })).catch(() => undefined);
      await clock.advance(10);
      await pending;
    } finally {
      off();
    }
    expect(seen).toMatchObject([{ type: 'timeout.timed_out', name: 'default-bus' }]);
  });
});

describe('after the call settled', () => {
  it('hands out a signal that is not linked to the caller when ctx.signal is first read late', async () => {
    const { clock, timeout } = setup(100);
    const caller = new AbortController();
    let saved: ExecutionContext | undefined;
    await timeout.execute(
      (ctx) => {
        saved = ctx;
      },
      { signal: caller.signal },
    );
    const signal = (saved as ExecutionContext).signal;
    expect(signal.aborted).toBe(false);
    expect(getEventListeners(caller.signal, 'abort')).toHaveLength(0);
    expect(clock.pendingTimers).toBe(0);
  });

  it('detaches the signal from the caller when the call settles', async () => {
    const { clock, timeout } = setup(100);
    const caller = new AbortController();
    let signal: AbortSignal | undefined;
    await timeout.execute(
      (ctx) => {
        signal = ctx.signal;
        expect(getEventListeners(caller.signal, 'abort')).toHaveLength(1);
      },
      { signal: caller.signal },
    );
    expect(getEventListeners(caller.signal, 'abort')).toHaveLength(0);
    caller.abort();
    expect(signal?.aborted).toBe(false);
    expect(clock.pendingTimers).toBe(0);
  });
});

function setTimeoutOn(clock: { setTimeout(cb: () => void, ms: number): unknown }, ms: number, cb: () => void): void {
  clock.setTimeout(cb, ms);
}
