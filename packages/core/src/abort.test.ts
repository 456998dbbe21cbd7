import { getEventListeners } from 'node:events';
import { describe, expect, it } from 'vitest';
import { isAbortError, linkSignal, MAX_TIMER_MS, sleep, unwatchAbort, watchAbort } from './index.js';
import type { Clock } from './index.js';
import { createVirtualClock } from './testing.js';

const listeners = (signal: AbortSignal) => getEventListeners(signal, 'abort').length;

describe('linkSignal', () => {
  it('aborts the child with the parent reason', () => {
    const parent = new AbortController();
    const child = linkSignal(parent.signal);
    expect(listeners(parent.signal)).toBe(1);
    parent.abort('stop');
    expect(child.signal.aborted).toBe(true);
    expect(child.signal.reason).toBe('stop');
  });

  it('is aborted at once when the parent already is', () => {
    const parent = new AbortController();
    parent.abort('early');
    const child = linkSignal(parent.signal);
    expect(child.signal.reason).toBe('early');
    expect(listeners(parent.signal)).toBe(0);
  });

  it('aborting the child leaves the parent alone and detaches from it', () => {
    const parent = new AbortController();
    const child = linkSignal(parent.signal);
    child.abort('mine');
    expect(child.signal.reason).toBe('mine');
    expect(parent.signal.aborted).toBe(false);
    expect(listeners(parent.signal)).toBe(0);
  });

  it('dispose removes the listener, is idempotent, and cuts the link', () => {
    const parent = new AbortController();
    const child = linkSignal(parent.signal);
    child.dispose();
    child.dispose();
    expect(listeners(parent.signal)).toBe(0);
    parent.abort();
    expect(child.signal.aborted).toBe(false);
  });

  it('keeps the child’s own reason when it was aborted first and the parent aborts later', () => {
    const parent = new AbortController();
    const child = linkSignal(parent.signal);
    child.abort('mine');
    parent.abort('theirs');
    child.dispose();
    child.dispose();
    expect(child.signal.reason).toBe('mine');
  });

  it('works without a parent', () => {
    const child = linkSignal();
    expect(child.signal.aborted).toBe(false);
    child.abort(new Error('x'));
    expect(child.signal.aborted).toBe(true);
  });
});

describe('watchAbort', () => {
  it('puts one listener on a signal however many calls watch it, and removes it with the last', () => {
    const controller = new AbortController();
    const watchers = Array.from({ length: 1_000 }, () => ({ calls: 0, handleEvent() { this.calls++; } }));
    for (const w of watchers) watchAbort(controller.signal, w);
    expect(listeners(controller.signal)).toBe(1);
    for (const w of watchers.slice(0, 999)) unwatchAbort(controller.signal, w);
    expect(listeners(controller.signal)).toBe(1);
    unwatchAbort(controller.signal, watchers[999] as (typeof watchers)[number]);
    expect(listeners(controller.signal)).toBe(0);
  });

  it('calls every watcher once on abort, in order, skipping one removed by an earlier watcher, and goes away', () => {
    const controller = new AbortController();
    const order: string[] = [];
    const b = { handleEvent: () => order.push('b') };
    const a = { handleEvent: () => (order.push('a'), unwatchAbort(controller.signal, b)) };
    const c = { handleEvent: () => order.push('c') };
    for (const w of [a, b, c]) watchAbort(controller.signal, w);
    controller.abort();
    expect(order).toEqual(['a', 'c']);
    expect(listeners(controller.signal)).toBe(0);
    unwatchAbort(controller.signal, c); // after the fact: nothing to do
  });

  it('lets the other watchers run when one throws, and reports the error', async () => {
    const controller = new AbortController();
    const reported: unknown[] = [];
    const onError = (error: unknown) => reported.push(error);
    process.on('uncaughtException', onError);
    const boom = new Error('watcher broke');
    let ran = false;
    watchAbort(controller.signal, { handleEvent: () => { throw boom; } });
    watchAbort(controller.signal, { handleEvent: () => (ran = true) });
    try {
      controller.abort();
      expect(ran).toBe(true);
      await new Promise((resolve) => setTimeout(resolve, 0));
    } finally {
      process.off('uncaughtException', onError);
    }
    expect(reported).toEqual([boom]);
  });
});

describe('sleep', () => {
  it('resolves 0, NaN and negative delays on the next advance(0), leaving no timer', async () => {
    const clock = createVirtualClock({ now: 0 });
    const done: number[] = [];
    for (const ms of [0, Number.NaN, -1]) void sleep(ms, { clock }).then(() => done.push(ms));
    await clock.advance(0);
    expect(done).toEqual([0, Number.NaN, -1]);
    expect(clock.pendingTimers).toBe(0);
  });

  it('resolves after the delay on the given clock', async () => {
    const clock = createVirtualClock({ now: 0 });
    let done = false;
    void sleep(100, { clock }).then(() => (done = true));
    await clock.advance(99);
    expect(done).toBe(false);
    await clock.advance(1);
    expect(done).toBe(true);
  });

  it('does not wake before its end on a clock whose timers fire early (as Node\'s can, by up to 1 ms)', async () => {
    const virtual = createVirtualClock({ now: 0 });
    const early: Clock = {
      now: () => virtual.now(),
      setTimeout: (callback, ms) => virtual.setTimeout(callback, Math.max(0, ms - 0.5)),
      clearTimeout: (handle) => virtual.clearTimeout(handle),
    };
    let wokeAt = -1;
    void sleep(1_000, { clock: early }).then(() => (wokeAt = virtual.now()));
    await virtual.advance(999.5);
    expect(wokeAt).toBe(-1);
    await virtual.advance(1);
    expect(wokeAt).toBeGreaterThanOrEqual(1_000);
  });

  it('waits longer than the timer limit in steps, never with a delay the runtime would fire at once', async () => {
    const virtual = createVirtualClock({ now: 0 });
    const delays: number[] = [];
    const clock: Clock = {
      now: () => virtual.now(),
      setTimeout: (callback, ms) => {
        delays.push(ms);
        return virtual.setTimeout(callback, ms);
      },
      clearTimeout: (handle) => virtual.clearTimeout(handle),
    };
    let done = false;
    void sleep(MAX_TIMER_MS + 1_000, { clock }).then(() => (done = true));
    await virtual.advance(MAX_TIMER_MS);
    expect(done).toBe(false);
    await virtual.advance(1_000);
    expect(done).toBe(true);
    expect(delays).toEqual([MAX_TIMER_MS, 1_000]);
  });

  it('rejects at once with the reason when aborted, clearing its timer and listener', async () => {
    const clock = createVirtualClock({ now: 0 });
    const controller = new AbortController();
    const pending = sleep(1_000, { clock, signal: controller.signal });
    expect(listeners(controller.signal)).toBe(1);
    expect(clock.pendingTimers).toBe(1);
    const reason = new Error('caller gave up');
    controller.abort(reason);
    await expect(pending).rejects.toBe(reason);
    expect(clock.pendingTimers).toBe(0);
    expect(listeners(controller.signal)).toBe(0);
  });

  it('rejects without scheduling anything when the signal is already aborted', async () => {
    const clock = createVirtualClock({ now: 0 });
    const controller = new AbortController();
    controller.abort('already');
    await expect(sleep(10, { clock, signal: controller.signal })).rejects.toBe('already');
    expect(clock.pendingTimers).toBe(0);
  });

  it('removes its listener when it completes normally', async () => {
    const clock = createVirtualClock({ now: 0 });
    const controller = new AbortController();
    const pending = sleep(10, { clock, signal: controller.signal });
    await clock.advance(10);
    await pending;
    expect(listeners(controller.signal)).toBe(0);
  });

  it('uses the system clock by default', async () => {
    await expect(sleep(1)).resolves.toBeUndefined();
  });
});

describe('isAbortError', () => {
  it('recognises the signal reason and errors named AbortError', () => {
    const controller = new AbortController();
    controller.abort('custom reason');
    expect(isAbortError('custom reason', controller.signal)).toBe(true);
    expect(isAbortError(new DOMException('aborted', 'AbortError'))).toBe(true);
    expect(isAbortError(new Error('plain'))).toBe(false);
    expect(isAbortError('custom reason')).toBe(false);
  });

  it('answers false, without throwing, for an error whose name getter throws', () => {
    const hostile = Object.defineProperty(new Error('x'), 'name', {
      get() {
        throw new Error('name getter');
      },
    });
    expect(isAbortError(hostile)).toBe(false);
  });
});

describe('sleep options (issue 11, defect 4)', () => {
  it('never reads a clock or signal set on Object.prototype', async () => {
    const proto = Object.prototype as Record<string, unknown>;
    const aborted = AbortSignal.abort(new Error('inherited'));
    proto.signal = aborted;
    try {
      const clock = createVirtualClock();
      const done = sleep(10, { clock });
      await clock.advance(10);
      await expect(done).resolves.toBeUndefined();
    } finally {
      delete proto.signal;
    }
  });
});
