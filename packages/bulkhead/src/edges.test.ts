// Edge cases of admission, release and abort that the README promises, found by an audit.
import { getEventListeners } from 'node:events';
import { isXError } from '@x/core';
import type { Clock } from '@x/core';
import { createVirtualClock } from '@x/core/testing';
import { describe, expect, it } from 'vitest';
import { createBulkhead } from './index.js';
import type { BulkheadOptions } from './index.js';
import { hostilePromise, reentrantHostilePromise } from '@x/test-support';
import { deferred, recordingBus, track } from './test-helpers.js';

function setup(options: Partial<BulkheadOptions> = {}) {
  const clock = createVirtualClock();
  const { events, log } = recordingBus();
  const bulkhead = createBulkhead({ name: 'edges', maxConcurrent: 1, clock, events, ...options });
  return { clock, log, bulkhead };
}

describe('a waiter aborted after it got its slot', () => {
  // README "How a call is admitted" 5 + "Errors": a waiter aborted between getting its slot and
  // starting "is not started and passes the slot on"; an abort "is still counted:
  // stats().rejected.aborted and a bulkhead.rejected event with reason: 'aborted'".
  it('counts a waiter aborted after it got its slot (but before it started) as aborted, not admitted', async () => {
    const { bulkhead, clock, log } = setup({ maxConcurrent: 1, maxQueue: 5 });
    const permit = await bulkhead.acquire();
    const controller = new AbortController();
    let ran = false;
    const aborted = track(bulkhead.execute(() => (ran = true), { signal: controller.signal }));
    permit.release(); // the slot goes to the waiter; its function would start on a microtask
    controller.abort('gone');
    await clock.flush();
    expect(ran).toBe(false);
    expect(aborted.error).toBe('gone');
    // Only the first acquire actually got to run.
    expect(bulkhead.stats()).toMatchObject({ admitted: 1, rejected: { full: 0, timeout: 0, aborted: 1 } });
    expect(log.filter((e) => e.type === 'bulkhead.rejected')).toMatchObject([{ reason: 'aborted' }]);
  });
});

describe('slots, queue places and listeners under churn', () => {
  it('frees the queue place of a waiter that aborts, and the slot is never leaked', async () => {
    const { bulkhead, clock } = setup({ maxConcurrent: 1, maxQueue: 1, maxWaitMs: 1_000 });
    const gate = deferred();
    const running = track(bulkhead.execute(() => gate.promise));
    const controller = new AbortController();
    const waiter = track(bulkhead.acquire({ signal: controller.signal }));
    // Queue is full now.
    await expect(bulkhead.execute(() => 1)).rejects.toMatchObject({ reason: 'full' });
    controller.abort(new Error('left'));
    await clock.flush();
    expect(waiter.state).toBe('rejected');
    // Its place is free again, and the slot count did not move.
    const next = track(bulkhead.execute(() => 'next'));
    expect(bulkhead.queued).toBe(1);
    expect(bulkhead.active).toBe(1);
    gate.resolve();
    await clock.flush();
    expect(running.state).toBe('fulfilled');
    expect(next).toMatchObject({ state: 'fulfilled', value: 'next' });
    expect(bulkhead.active).toBe(0);
    expect(bulkhead.queued).toBe(0);
    expect(clock.pendingTimers).toBe(0);
  });

  it('frees the slot exactly once per call whatever the function does (sync throw, rejection, value, outcome path)', async () => {
    const { bulkhead, clock } = setup({ maxConcurrent: 2, maxQueue: 10 });
    const boom = new Error('boom');
    const calls = [
      track(bulkhead.execute(() => { throw boom; })),
      track(bulkhead.execute(() => Promise.reject(boom))),
      track(bulkhead.execute(() => 'v')),
      track(bulkhead.executeOutcome(() => { throw boom; })),
      track(bulkhead.executeOutcome(() => Promise.reject(boom))),
      track(bulkhead.executeOutcome(() => 'v')),
    ];
    await clock.flush();
    expect(calls.map((c) => c.state)).toEqual(['rejected', 'rejected', 'fulfilled', 'fulfilled', 'fulfilled', 'fulfilled']);
    expect(bulkhead.active).toBe(0);
    // Exactly two slots are still there: a third concurrent call queues.
    const a = await bulkhead.acquire();
    const b = await bulkhead.acquire();
    expect(bulkhead.tryAcquire()).toBeUndefined();
    a.release();
    a.release();
    b.release();
    expect(bulkhead.active).toBe(0);
  });

  it('executeOutcome never rejects: full, timeout, abort (queued and at entry) and failures all resolve', async () => {
    const { bulkhead, clock } = setup({ maxConcurrent: 1, maxQueue: 2, maxWaitMs: 10 });
    const permit = await bulkhead.acquire();
    const controller = new AbortController();
    const timedOut = bulkhead.executeOutcome(() => 1);
    const abortedInQueue = bulkhead.executeOutcome(() => 2, { signal: controller.signal });
    const full = bulkhead.executeOutcome(() => 3);
    const abortedAtEntry = bulkhead.executeOutcome(() => 4, { signal: AbortSignal.abort('early') });
    controller.abort('late');
    await clock.advance(10);
    const results = await Promise.all([timedOut, abortedInQueue, full, abortedAtEntry]);
    expect(results).toMatchObject([
      { ok: false, error: { code: 'BULKHEAD_FULL', reason: 'timeout' } },
      { ok: false, error: 'late' },
      { ok: false, error: { code: 'BULKHEAD_FULL', reason: 'full' } },
      { ok: false, error: 'early' },
    ]);
    permit.release();
  });

  it('FIFO under churn: waiters start in arrival order even when some in the middle leave', async () => {
    const { bulkhead, clock } = setup({ maxConcurrent: 1, maxQueue: 10, maxWaitMs: 100 });
    const order: number[] = [];
    const hold = await bulkhead.acquire();
    const controllers = Array.from({ length: 6 }, () => new AbortController());
    const calls = controllers.map((c, i) => track(bulkhead.execute(() => order.push(i), { signal: c.signal })));
    controllers[1]?.abort();
    controllers[4]?.abort();
    hold.release();
    await clock.flush();
    expect(order).toEqual([0, 2, 3, 5]);
    expect(calls.filter((c) => c.state === 'rejected')).toHaveLength(2);
  });

  it('a wait longer than a timer allows re-arms in steps of at most 2^31 - 1 ms and expires on time', async () => {
    const base = createVirtualClock();
    const delays: number[] = [];
    const clock: Clock = {
      now: () => base.now(),
      setTimeout: (cb, ms) => {
        delays.push(ms);
        return base.setTimeout(cb, ms);
      },
      clearTimeout: (h) => base.clearTimeout(h),
    };
    const { events } = recordingBus();
    const bulkhead = createBulkhead({ maxConcurrent: 1, maxQueue: 1, maxWaitMs: 5_000_000_000, clock, events });
    const permit = await bulkhead.acquire();
    const start = base.now();
    const waiter = track(bulkhead.acquire());
    await base.advance(4_999_999_999);
    expect(waiter.state).toBe('pending');
    await base.advance(1);
    expect(waiter.state).toBe('rejected');
    expect(base.now() - start).toBe(5_000_000_000);
    expect(Math.max(...delays)).toBeLessThanOrEqual(2 ** 31 - 1);
    permit.release();
  });

  it('refuses infinite, negative and fractional limits with INVALID_OPTIONS naming the value', () => {
    for (const bad of [Infinity, -1, 0.5]) {
      let error: unknown;
      try {
        createBulkhead({ maxConcurrent: bad });
      } catch (e) {
        error = e;
      }
      expect(isXError(error, 'INVALID_OPTIONS')).toBe(true);
      expect((error as Error).message).toBe(`createBulkhead: option "maxConcurrent" must be an integer in [1, 9007199254740991], got ${String(bad)}`);
    }
    expect(() => createBulkhead({ maxConcurrent: 1, maxQueue: -Infinity })).toThrow(/option "maxQueue" must be an integer >= 0, got -Infinity/);
    expect(() => createBulkhead({ maxConcurrent: 1, maxWaitMs: -Infinity })).toThrow(/option "maxWaitMs".*got -Infinity/);
    // Edge values that are allowed.
    expect(createBulkhead({ maxConcurrent: Number.MAX_SAFE_INTEGER }).limit).toBe(Number.MAX_SAFE_INTEGER);
  });

  it('removes the abort listener of a waiter that timed out', async () => {
    const { bulkhead, clock } = setup({ maxConcurrent: 1, maxQueue: 1, maxWaitMs: 5 });
    const permit = await bulkhead.acquire();
    const controller = new AbortController();
    const waiter = track(bulkhead.acquire({ signal: controller.signal }));
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(1);
    await clock.advance(5);
    expect(waiter.error).toMatchObject({ reason: 'timeout' });
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
    permit.release();
  });
});

describe('a function whose promise has a throwing then()', () => {
  // Policies call `.then` on what `fn` returned; a native promise with its own throwing `then`
  // must become that call's failure, and its slot must come back.
  it('rejects (execute) or fails (executeOutcome) without throwing synchronously, and frees the slot', async () => {
    const { bulkhead, clock } = setup({ maxConcurrent: 1 });
    const boom = new Error('then method');
    for (const mode of ['execute', 'executeOutcome'] as const) {
      let call: Promise<unknown> | undefined;
      expect(() => {
        call = bulkhead[mode](() => hostilePromise(boom));
      }, mode).not.toThrow();
      if (mode === 'execute') await expect(call).rejects.toBe(boom);
      else await expect(call).resolves.toEqual({ ok: false, error: boom });
      expect(bulkhead.stats().active, mode).toBe(0);
    }
    expect(await bulkhead.execute(async () => 'next')).toBe('next');
    await clock.flush();
  });

  it('fails a queued call the same way and still starts the waiters behind it', async () => {
    const { bulkhead, clock } = setup({ maxConcurrent: 1, maxQueue: 5 });
    const boom = new Error('then method');
    const permit = await bulkhead.acquire();
    const hostile = track(bulkhead.execute(() => hostilePromise(boom)));
    const hostileOutcome = track(bulkhead.executeOutcome(() => hostilePromise(boom)));
    const after = track(bulkhead.execute(async () => 'after'));
    permit.release();
    await clock.flush();
    expect(hostile.error).toBe(boom);
    expect(hostileOutcome.value).toEqual({ ok: false, error: boom });
    expect(after.value).toBe('after');
    expect(bulkhead.stats()).toMatchObject({ active: 0, queued: 0 });
  });

  it('frees the slot once when that then() registered its handlers before throwing', async () => {
    const { bulkhead, clock } = setup({ maxConcurrent: 1, maxQueue: 0 });
    await bulkhead.execute(() => reentrantHostilePromise(new Error('then'))).catch(() => undefined);
    await clock.flush();
    expect(bulkhead.stats().active).toBe(0);
    // The limit still holds: one slot, not two.
    const held = await bulkhead.acquire();
    await expect(bulkhead.executeOutcome(async () => 1)).resolves.toMatchObject({ ok: false });
    held.release();
  });
});
