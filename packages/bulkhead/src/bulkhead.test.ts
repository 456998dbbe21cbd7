import { getEventListeners } from 'node:events';
import { compose, createEventBus, deriveContext, isXError, toContext } from '@x/core';
import type { ExecuteOptions, Outcome, Policy, PolicyFn, SignalSource } from '@x/core';
import { createVirtualClock } from '@x/core/testing';
import { describe, expect, it, vi } from 'vitest';
import { BulkheadRejectedError, createBulkhead } from './index.js';
import type { BulkheadOptions } from './index.js';
import { deferred, recordingBus, track } from './test-helpers.js';

function setup(options: Partial<BulkheadOptions> = {}) {
  const clock = createVirtualClock();
  const { events, log, listenerErrors } = recordingBus();
  const bulkhead = createBulkhead({ name: 'db', maxConcurrent: 1, clock, events, ...options });
  return { clock, events, log, listenerErrors, bulkhead };
}

/** Starts a call that runs until its `finish` is called; records when it started. */
function gatedCall(started: string[], label: string) {
  const gate = deferred<string>();
  const fn = () => {
    started.push(label);
    return gate.promise;
  };
  return { fn, finish: () => gate.resolve(label) };
}

describe('createBulkhead: admission', () => {
  it('runs up to maxConcurrent calls at once and queues the rest', async () => {
    const { bulkhead, clock } = setup({ maxConcurrent: 2, maxQueue: 5 });
    const started: string[] = [];
    const calls = ['a', 'b', 'c', 'd'].map((label) => gatedCall(started, label));
    const results = calls.map((call) => track(bulkhead.execute(call.fn)));
    await clock.flush();
    expect(started).toEqual(['a', 'b']);
    expect(bulkhead.active).toBe(2);
    expect(bulkhead.queued).toBe(2);
    calls[0]?.finish();
    await clock.flush();
    expect(started).toEqual(['a', 'b', 'c']);
    expect(results[0]).toMatchObject({ state: 'fulfilled', value: 'a' });
    expect(bulkhead.active).toBe(2);
    expect(bulkhead.queued).toBe(1);
  });

  it('hands freed slots to waiters oldest first (fifo)', async () => {
    const { bulkhead, clock } = setup({ maxConcurrent: 1, maxQueue: 10 });
    const started: string[] = [];
    const calls = ['a', 'b', 'c', 'd', 'e'].map((label) => gatedCall(started, label));
    for (const call of calls) track(bulkhead.execute(call.fn));
    for (const call of calls) {
      await clock.flush();
      call.finish();
    }
    await clock.flush();
    expect(started).toEqual(['a', 'b', 'c', 'd', 'e']);
  });

  it('hands freed slots to the newest waiter first (lifo)', async () => {
    const { bulkhead, clock } = setup({ maxConcurrent: 1, maxQueue: 10, order: 'lifo' });
    const started: string[] = [];
    const calls = new Map(['a', 'b', 'c', 'd', 'e'].map((label) => [label, gatedCall(started, label)]));
    for (const call of calls.values()) track(bulkhead.execute(call.fn));
    await clock.flush();
    for (let i = 0; i < 5; i++) {
      calls.get(started[started.length - 1] as string)?.finish();
      await clock.flush();
    }
    expect(started).toEqual(['a', 'e', 'd', 'c', 'b']);
  });

  it('never lets a new caller barge past a waiter when a slot frees in the same tick', async () => {
    const { bulkhead, clock } = setup({ maxConcurrent: 1, maxQueue: 10 });
    const first = await bulkhead.acquire();
    const waiting = track(bulkhead.acquire());
    first.release();
    // Same tick as the release: the slot already belongs to the waiter.
    expect(bulkhead.tryAcquire()).toBeUndefined();
    const late = track(bulkhead.acquire());
    expect(bulkhead.active).toBe(1);
    expect(bulkhead.queued).toBe(1);
    await clock.flush();
    expect(waiting.state).toBe('fulfilled');
    expect(late.state).toBe('pending');
    waiting.value?.release();
    await clock.flush();
    expect(late.state).toBe('fulfilled');
  });

  it('gives a slot freed by a finishing execute straight to the waiter, ahead of a caller in the same tick', async () => {
    const { bulkhead, clock } = setup({ maxConcurrent: 1, maxQueue: 10 });
    const order: string[] = [];
    const gate = deferred();
    const running = bulkhead.execute(async () => {
      await gate.promise;
      order.push('a');
    });
    const waiter = bulkhead.execute(() => order.push('b'));
    gate.resolve();
    await running;
    // The waiter holds the slot already; a caller arriving now queues behind it.
    const newcomer = bulkhead.execute(() => order.push('c'));
    await Promise.all([waiter, newcomer]);
    await clock.flush();
    expect(order).toEqual(['a', 'b', 'c']);
  });

  it('rejects at once with reason full when every slot and queue place is taken', async () => {
    const { bulkhead, clock, log } = setup({ maxConcurrent: 1, maxQueue: 1, maxWaitMs: 1_000 });
    const gate = deferred();
    track(bulkhead.execute(() => gate.promise));
    track(bulkhead.execute(() => gate.promise));
    const timersBefore = clock.pendingTimers;
    const error = await bulkhead.execute(() => 'never').catch((e: unknown) => e);
    expect(isXError(error, 'BULKHEAD_FULL')).toBe(true);
    expect(error).toBeInstanceOf(BulkheadRejectedError);
    expect(error).toMatchObject({ code: 'BULKHEAD_FULL', reason: 'full', bulkhead: 'db', limit: 1, maxQueue: 1, waitedMs: 0 });
    expect(clock.pendingTimers).toBe(timersBefore);
    expect(log.filter((e) => e.type === 'bulkhead.rejected')).toMatchObject([{ reason: 'full', waitedMs: 0, active: 1, queued: 1 }]);
    expect(bulkhead.stats().rejected).toEqual({ full: 1, timeout: 0, aborted: 0 });
  });

  it('builds its rejection without a stack trace', async () => {
    const { bulkhead } = setup({ maxConcurrent: 1 });
    const permit = bulkhead.tryAcquire();
    const error = (await bulkhead.execute(() => 1).catch((e: unknown) => e)) as Error;
    expect(error.stack ?? '').not.toMatch(/\n\s+at /);
    expect(error.message).toBe('bulkhead "db" is full: 1 running, 0 queued at most');
    permit?.release();
  });

  it('rejects with no queue by default (maxQueue 0)', async () => {
    const { bulkhead } = setup({ maxConcurrent: 1 });
    const permit = await bulkhead.acquire();
    await expect(bulkhead.acquire()).rejects.toMatchObject({ reason: 'full' });
    permit.release();
    await expect(bulkhead.acquire()).resolves.toMatchObject({ released: false });
  });

  it('accepts an unbounded queue (maxQueue Infinity)', async () => {
    const { bulkhead } = setup({ maxConcurrent: 1, maxQueue: Infinity });
    const permit = await bulkhead.acquire();
    const waiters = Array.from({ length: 1_000 }, () => track(bulkhead.acquire()));
    expect(bulkhead.queued).toBe(1_000);
    permit.release();
    expect(bulkhead.queued).toBe(999);
    expect(waiters.every((w) => w.state !== 'rejected')).toBe(true);
  });
});

describe('createBulkhead: waiting', () => {
  it('rejects a waiter with reason timeout once maxWaitMs passes on the clock', async () => {
    const { bulkhead, clock, log } = setup({ maxConcurrent: 1, maxQueue: 5, maxWaitMs: 100 });
    const permit = await bulkhead.acquire();
    const waiter = track(bulkhead.execute(() => 'late'));
    await clock.advance(99);
    expect(waiter.state).toBe('pending');
    await clock.advance(1);
    expect(waiter.state).toBe('rejected');
    expect(waiter.error).toMatchObject({ code: 'BULKHEAD_FULL', reason: 'timeout', waitedMs: 100 });
    expect((waiter.error as Error).message).toBe('bulkhead "db": no slot after waiting 100 ms in the queue');
    expect(bulkhead.queued).toBe(0);
    expect(clock.pendingTimers).toBe(0);
    expect(log.filter((e) => e.type === 'bulkhead.rejected')).toMatchObject([{ reason: 'timeout', waitedMs: 100 }]);
    permit.release();
    expect(bulkhead.active).toBe(0);
  });

  it('serves every waiter of one bulkhead with a single timer', async () => {
    const { bulkhead, clock } = setup({ maxConcurrent: 1, maxQueue: 50, maxWaitMs: 100 });
    const permit = await bulkhead.acquire();
    const waiters: ReturnType<typeof track>[] = [];
    for (let i = 0; i < 10; i++) {
      waiters.push(track(bulkhead.acquire()));
      await clock.advance(5);
    }
    expect(clock.pendingTimers).toBe(1);
    await clock.advance(100 - 50 + 20); // t=120: the waiters queued at 0..20 expired
    expect(waiters.map((w) => w.state)).toEqual([...Array(5).fill('rejected'), ...Array(5).fill('pending')]);
    permit.release();
    await clock.flush();
    expect(waiters[5]?.state).toBe('fulfilled');
    await clock.runAll();
    expect(waiters.slice(6).every((w) => w.state === 'rejected')).toBe(true);
    expect(clock.pendingTimers).toBe(0);
  });

  it('clears its timer when the last timed waiter gets a slot', async () => {
    const { bulkhead, clock } = setup({ maxConcurrent: 1, maxQueue: 5, maxWaitMs: 1_000 });
    const permit = await bulkhead.acquire();
    const waiter = track(bulkhead.acquire());
    expect(clock.pendingTimers).toBe(1);
    permit.release();
    expect(clock.pendingTimers).toBe(0);
    await clock.flush();
    expect(waiter.state).toBe('fulfilled');
  });

  it('never waits past the context deadline and rejects as timeout then', async () => {
    const { bulkhead, clock } = setup({ maxConcurrent: 1, maxQueue: 5, maxWaitMs: 1_000 });
    const permit = await bulkhead.acquire();
    const waiter = track(bulkhead.execute(() => 'late', { deadline: clock.now() + 30 }));
    await clock.advance(29);
    expect(waiter.state).toBe('pending');
    await clock.advance(1);
    expect(waiter.error).toMatchObject({ code: 'BULKHEAD_FULL', reason: 'timeout', waitedMs: 30 });
    expect(clock.pendingTimers).toBe(0);
    permit.release();
  });

  it('keeps each waiter to its own deadline when deadlines arrive out of order', async () => {
    const { bulkhead, clock } = setup({ maxConcurrent: 1, maxQueue: 5 });
    const permit = await bulkhead.acquire();
    const start = clock.now();
    const late = track(bulkhead.acquire({ deadline: start + 50 }));
    const early = track(bulkhead.acquire({ deadline: start + 10 }));
    const never = track(bulkhead.acquire());
    await clock.advance(10);
    expect([late.state, early.state, never.state]).toEqual(['pending', 'rejected', 'pending']);
    await clock.advance(40);
    expect([late.state, never.state]).toEqual(['rejected', 'pending']);
    expect(clock.pendingTimers).toBe(0);
    permit.release();
    await clock.flush();
    expect(never.state).toBe('fulfilled');
  });

  it('rejects as timeout at once when the deadline has already passed and it would have to wait', async () => {
    const { bulkhead, clock } = setup({ maxConcurrent: 1, maxQueue: 5 });
    const permit = await bulkhead.acquire();
    await expect(bulkhead.execute(() => 1, { deadline: clock.now() })).rejects.toMatchObject({ reason: 'timeout', waitedMs: 0 });
    expect(clock.pendingTimers).toBe(0);
    permit.release();
    // With a free slot the deadline is the function's business, not the bulkhead's.
    await expect(bulkhead.execute(() => 1, { deadline: clock.now() - 1 })).resolves.toBe(1);
  });

  it('treats maxWaitMs 0 as never wait', async () => {
    const { bulkhead } = setup({ maxConcurrent: 1, maxQueue: 5, maxWaitMs: 0 });
    const permit = await bulkhead.acquire();
    await expect(bulkhead.acquire()).rejects.toMatchObject({ reason: 'timeout' });
    permit.release();
  });

  it('waits without a timer when neither maxWaitMs nor a deadline bounds the wait', async () => {
    const { bulkhead, clock } = setup({ maxConcurrent: 1, maxQueue: 5 });
    const permit = await bulkhead.acquire();
    const waiter = track(bulkhead.acquire());
    expect(clock.pendingTimers).toBe(0);
    await clock.advance(3_600_000);
    expect(waiter.state).toBe('pending');
    permit.release();
    await clock.flush();
    expect(waiter.state).toBe('fulfilled');
  });
});

describe('createBulkhead: abort', () => {
  it('takes an aborted waiter out of the queue at once, rejects it with its own reason and frees its place', async () => {
    const { bulkhead, clock, log } = setup({ maxConcurrent: 1, maxQueue: 1, maxWaitMs: 1_000 });
    const permit = await bulkhead.acquire();
    const controller = new AbortController();
    const called: string[] = [];
    const waiter = track(bulkhead.execute(() => called.push('aborted one'), { signal: controller.signal }));
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(1);
    const reason = new Error('user went away');
    controller.abort(reason);
    expect(bulkhead.queued).toBe(0);
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
    expect(clock.pendingTimers).toBe(0);
    // The freed queue place is usable right away.
    const next = track(bulkhead.execute(() => called.push('next')));
    expect(bulkhead.queued).toBe(1);
    await clock.flush();
    expect(waiter.state).toBe('rejected');
    expect(waiter.error).toBe(reason);
    permit.release();
    await clock.flush();
    expect(next.state).toBe('fulfilled');
    expect(called).toEqual(['next']);
    expect(bulkhead.stats().rejected).toEqual({ full: 0, timeout: 0, aborted: 1 });
    expect(log.filter((e) => e.type === 'bulkhead.rejected')).toMatchObject([{ reason: 'aborted' }]);
  });

  it('rejects with the reason at once when the signal is already aborted', async () => {
    const { bulkhead, log } = setup({ maxConcurrent: 1, maxQueue: 1 });
    const controller = new AbortController();
    controller.abort('stop');
    let ran = false;
    await expect(bulkhead.execute(() => (ran = true), { signal: controller.signal })).rejects.toBe('stop');
    await expect(bulkhead.acquire({ signal: controller.signal })).rejects.toBe('stop');
    await expect(bulkhead.executeOutcome(() => 1, { signal: controller.signal })).resolves.toEqual({ ok: false, error: 'stop' });
    expect(ran).toBe(false);
    expect(bulkhead.active).toBe(0);
    expect(bulkhead.stats().rejected.aborted).toBe(3);
    expect(log.filter((e) => e.type === 'bulkhead.rejected').map((e) => 'reason' in e && e.reason)).toEqual(['aborted', 'aborted', 'aborted']);
  });

  it('does not start a waiter aborted after it got its slot, and passes the slot on', async () => {
    const { bulkhead, clock } = setup({ maxConcurrent: 1, maxQueue: 5 });
    const permit = await bulkhead.acquire();
    const controller = new AbortController();
    let ran = false;
    const aborted = track(bulkhead.execute(() => (ran = true), { signal: controller.signal }));
    const next = track(bulkhead.execute(() => 'next'));
    permit.release(); // the slot goes to the first waiter; its function starts on a microtask
    controller.abort('changed my mind');
    await clock.flush();
    expect(ran).toBe(false);
    expect(aborted.error).toBe('changed my mind');
    expect(next).toMatchObject({ state: 'fulfilled', value: 'next' });
    expect(bulkhead.active).toBe(0);
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
  });

  it('listens to a lazily created context signal (an outer timeout) while queued', async () => {
    const { bulkhead, clock } = setup({ maxConcurrent: 1, maxQueue: 5 });
    const controller = new AbortController();
    let created = 0;
    const source: SignalSource = {
      get signal() {
        created++;
        return controller.signal;
      },
      get aborted() {
        return controller.signal.aborted;
      },
    };
    const ctx = deriveContext(toContext(), { signal: source });
    // A free slot does not create the signal...
    await bulkhead.execute(() => 0, ctx);
    const held = await bulkhead.acquire();
    expect(created).toBe(0);
    // ...but waiting does, so the waiter can leave when it aborts.
    const waiter = track(bulkhead.execute(() => 1, ctx));
    expect(created).toBe(1);
    controller.abort('outer timeout');
    await clock.flush();
    expect(waiter.error).toBe('outer timeout');
    held.release();
  });
});

describe('createBulkhead: permits and limits', () => {
  it('frees one slot however many times a permit is released', async () => {
    const { bulkhead } = setup({ maxConcurrent: 2, maxQueue: 5 });
    const a = await bulkhead.acquire();
    const b = await bulkhead.acquire();
    expect(bulkhead.active).toBe(2);
    a.release();
    a.release();
    a.release();
    expect(a.released).toBe(true);
    expect(bulkhead.active).toBe(1);
    const c = bulkhead.tryAcquire();
    expect(c).toBeDefined();
    expect(bulkhead.tryAcquire()).toBeUndefined();
    b.release();
    c?.release();
    expect(bulkhead.active).toBe(0);
  });

  it('admits waiters at once when the limit grows', async () => {
    const { bulkhead, clock, log } = setup({ maxConcurrent: 1, maxQueue: 10 });
    const held = await bulkhead.acquire();
    const waiters = Array.from({ length: 4 }, () => track(bulkhead.acquire()));
    bulkhead.setLimit(3);
    expect(bulkhead.active).toBe(3);
    expect(bulkhead.queued).toBe(2);
    await clock.flush();
    expect(waiters.map((w) => w.state)).toEqual(['fulfilled', 'fulfilled', 'pending', 'pending']);
    expect(log.find((e) => e.type === 'bulkhead.limit_changed')).toMatchObject({ from: 1, to: 3, name: 'db' });
    held.release();
  });

  it('admits nobody after the limit shrinks until the running calls drop below it', async () => {
    const { bulkhead, clock } = setup({ maxConcurrent: 3, maxQueue: 10 });
    const held = await Promise.all([bulkhead.acquire(), bulkhead.acquire(), bulkhead.acquire()]);
    const waiter = track(bulkhead.acquire());
    bulkhead.setLimit(1);
    expect(bulkhead.limit).toBe(1);
    held[0]?.release();
    held[1]?.release();
    await clock.flush();
    expect(bulkhead.active).toBe(1);
    expect(waiter.state).toBe('pending');
    held[2]?.release();
    await clock.flush();
    expect(waiter.state).toBe('fulfilled');
    expect(bulkhead.active).toBe(1);
  });

  it('rejects invalid limits in setLimit and keeps the old one', () => {
    const { bulkhead } = setup({ maxConcurrent: 2 });
    for (const bad of [0, -1, 1.5, Number.NaN, Infinity, '3' as unknown as number]) {
      expect(() => bulkhead.setLimit(bad)).toThrow(expect.objectContaining({ code: 'INVALID_OPTIONS' }));
    }
    expect(bulkhead.limit).toBe(2);
  });

  it('frees the slot when the function throws synchronously or rejects', async () => {
    const { bulkhead } = setup({ maxConcurrent: 1 });
    const boom = new Error('boom');
    await expect(
      bulkhead.execute(() => {
        throw boom;
      }),
    ).rejects.toBe(boom);
    expect(bulkhead.active).toBe(0);
    await expect(bulkhead.execute(() => Promise.reject(boom))).rejects.toBe(boom);
    expect(bulkhead.active).toBe(0);
    await expect(bulkhead.execute(() => 'fine')).resolves.toBe('fine');
  });

  it('frees the slot when a queued function throws', async () => {
    const { bulkhead, clock } = setup({ maxConcurrent: 1, maxQueue: 2 });
    const permit = await bulkhead.acquire();
    const thrower = track(
      bulkhead.execute(() => {
        throw new Error('sync');
      }),
    );
    const rejecter = track(bulkhead.execute(() => Promise.reject(new Error('async'))));
    permit.release();
    await clock.flush();
    expect(thrower.error).toMatchObject({ message: 'sync' });
    expect(rejecter.error).toMatchObject({ message: 'async' });
    expect(bulkhead.active).toBe(0);
  });
});

describe('createBulkhead: outcomes', () => {
  it('returns rejections as outcomes without rejecting', async () => {
    const { bulkhead, clock } = setup({ maxConcurrent: 1, maxQueue: 1, maxWaitMs: 10 });
    const permit = await bulkhead.acquire();
    const queued = bulkhead.executeOutcome(() => 'queued');
    const full = await bulkhead.executeOutcome(() => 'full');
    expect(full.ok).toBe(false);
    expect(!full.ok && full.error).toMatchObject({ code: 'BULKHEAD_FULL', reason: 'full' });
    await clock.advance(10);
    const timedOut = await queued;
    expect(!timedOut.ok && timedOut.error).toMatchObject({ reason: 'timeout' });
    permit.release();
  });

  it('builds an outcome rejection without a rejected promise or a stack', async () => {
    const { bulkhead } = setup({ maxConcurrent: 1 });
    const permit = bulkhead.tryAcquire();
    const reject = vi.spyOn(Promise, 'reject');
    const outcome = await bulkhead.executeOutcome(() => 1);
    expect(reject).not.toHaveBeenCalled();
    expect(outcome.ok).toBe(false);
    expect(((!outcome.ok && outcome.error) as Error).stack ?? '').not.toMatch(/\n\s+at /);
    permit?.release();
  });

  it('returns values and function failures as outcomes, at once and after queueing', async () => {
    const { bulkhead, clock } = setup({ maxConcurrent: 1, maxQueue: 3 });
    const gate = deferred<number>();
    const first = bulkhead.executeOutcome(() => gate.promise);
    const second = bulkhead.executeOutcome(() => 2);
    const third = bulkhead.executeOutcome(() => Promise.reject(new Error('no')));
    const fourth = bulkhead.executeOutcome(() => {
      throw new Error('sync no');
    });
    gate.resolve(1);
    await clock.flush();
    expect(await first).toEqual({ ok: true, value: 1 });
    expect(await second).toEqual({ ok: true, value: 2 });
    expect(await third).toMatchObject({ ok: false, error: { message: 'no' } });
    expect(await fourth).toMatchObject({ ok: false, error: { message: 'sync no' } });
    const direct: Outcome<never> = await bulkhead.executeOutcome(() => {
      throw new Error('direct');
    });
    expect(direct).toMatchObject({ ok: false, error: { message: 'direct' } });
    expect(bulkhead.active).toBe(0);
  });
});

describe('createBulkhead: events and stats', () => {
  it('reports admissions, queueing and wait times', async () => {
    const { bulkhead, clock, log } = setup({ maxConcurrent: 1, maxQueue: 2 });
    const permit = await bulkhead.acquire();
    const waiter = bulkhead.acquire();
    await clock.advance(40);
    permit.release();
    (await waiter).release();
    const types = log.map((e) => e.type);
    expect(types).toEqual(['bulkhead.admitted', 'bulkhead.queued', 'bulkhead.admitted']);
    expect(log[0]).toMatchObject({ source: 'bulkhead', name: 'db', fromQueue: false, waitedMs: 0, active: 1, queued: 0, limit: 1 });
    expect(log[1]).toMatchObject({ active: 1, queued: 1 });
    expect(log[2]).toMatchObject({ fromQueue: true, waitedMs: 40, active: 1, queued: 0, time: clock.now() });
    expect(bulkhead.stats()).toEqual({
      active: 0,
      queued: 0,
      limit: 1,
      maxQueue: 2,
      maxWaitMs: Infinity,
      order: 'fifo',
      admitted: 2,
      rejected: { full: 0, timeout: 0, aborted: 0 },
    });
  });

  it('keeps outcomes unchanged when event listeners throw', async () => {
    const clock = createVirtualClock();
    const errors: unknown[] = [];
    const events = createEventBus({ onUnhandledListenerError: (error) => errors.push(error) });
    for (const type of ['bulkhead.admitted', 'bulkhead.queued', 'bulkhead.rejected', 'bulkhead.limit_changed'] as const) {
      events.on(type, () => {
        throw new Error(`listener of ${type}`);
      });
    }
    const bulkhead = createBulkhead({ maxConcurrent: 1, maxQueue: 1, maxWaitMs: 5, clock, events });
    await expect(bulkhead.execute(() => 'ok')).resolves.toBe('ok');
    const permit = await bulkhead.acquire();
    const queued = track(bulkhead.execute(() => 'queued'));
    await expect(bulkhead.execute(() => 'full')).rejects.toMatchObject({ reason: 'full' });
    bulkhead.setLimit(2);
    await clock.flush();
    expect(queued).toMatchObject({ state: 'fulfilled', value: 'queued' });
    permit.release();
    expect(bulkhead.active).toBe(0);
    expect(errors.length).toBeGreaterThanOrEqual(5);
  });

  it('uses the default event bus and system clock when given none', async () => {
    const bulkhead = createBulkhead({ maxConcurrent: 1 });
    expect(bulkhead.name).toBe('bulkhead');
    await expect(bulkhead.execute(() => 7)).resolves.toBe(7);
  });
});

describe('createBulkhead: composition', () => {
  function tagging(tag: string): Policy<{ tag: string }> {
    return {
      name: 'tag',
      execute<T>(fn: PolicyFn<T, { tag: string }>, options?: ExecuteOptions) {
        return Promise.resolve(fn(deriveContext(toContext(options), { fields: { tag } })));
      },
      executeOutcome<T>(fn: PolicyFn<T, { tag: string }>, options?: ExecuteOptions): Promise<Outcome<T>> {
        return this.execute(fn, options).then(
          (value) => ({ ok: true, value }) as const,
          (error: unknown) => ({ ok: false, error }) as const,
        );
      },
    };
  }

  it('passes the enclosing context (signal, deadline, fields) to the function unchanged', async () => {
    const { bulkhead, clock } = setup({ maxConcurrent: 1, maxQueue: 1 });
    const controller = new AbortController();
    const deadline = clock.now() + 1_000;
    const policy = compose(tagging('t1'), bulkhead);
    const seen = await policy.execute((ctx) => ({ tag: ctx.tag, deadline: ctx.deadline, signal: ctx.signal, attempt: ctx.attempt }), {
      signal: controller.signal,
      deadline,
    });
    expect(seen).toEqual({ tag: 't1', deadline, signal: controller.signal, attempt: 1 });
  });

  it('honours the deadline of an enclosing context while queued', async () => {
    const { bulkhead, clock } = setup({ maxConcurrent: 1, maxQueue: 1 });
    const permit = await bulkhead.acquire();
    const policy = compose(tagging('t'), bulkhead);
    const result = track(policy.executeOutcome(() => 1, { deadline: clock.now() + 20 }));
    await clock.advance(20);
    expect(result.value).toMatchObject({ ok: false, error: { reason: 'timeout' } });
    permit.release();
  });

  it('is a Policy that compose accepts as the inner layer', async () => {
    const { bulkhead } = setup({ maxConcurrent: 2 });
    const policy: Policy = bulkhead;
    expect(policy.name).toBe('db');
    await expect(compose(bulkhead, tagging('x')).execute((ctx) => ctx.tag)).resolves.toBe('x');
  });
});
