import { getEventListeners } from 'node:events';
import { createEventBus, MAX_TIMER_MS } from '@x/core';
import type { Clock } from '@x/core';
import { createVirtualClock } from '@x/core/testing';
import { describe, expect, it } from 'vitest';
import { BreakerOpenError, createBreaker } from './index.js';
import { collect, deferred, failTimes, setup } from './test-support.js';

describe('forceOpen / forceClose / reset', () => {
  it('forceOpen isolates: every call is rejected with retryAfterMs Infinity and time never half-opens it', async () => {
    const { breaker, clock, events } = setup({ openMs: 10 });
    const changes = collect(events, 'breaker.state_change');
    breaker.forceOpen();
    breaker.forceOpen(); // idempotent
    expect(breaker.state).toBe('isolated');
    const result = await breaker.executeOutcome(() => 1);
    const error = (result as { error: BreakerOpenError }).error;
    expect(error).toBeInstanceOf(BreakerOpenError);
    expect(error.state).toBe('isolated');
    expect(error.retryAfterMs).toBe(Infinity);
    expect(error.message).toMatch(/isolated/);
    await clock.advance(10 ** 7);
    expect(breaker.state).toBe('isolated');
    expect(breaker.stats().timeUntilHalfOpenMs).toBe(Infinity);
    expect(breaker.tryAcquire()).toBeNull();
    breaker.forceClose();
    expect(breaker.state).toBe('closed');
    expect(await breaker.execute(() => 2)).toBe(2);
    expect(changes.map((c) => [c.from, c.to, c.reason])).toEqual([
      ['closed', 'isolated', 'force_open'],
      ['isolated', 'closed', 'force_close'],
    ]);
  });

  it('forceClose closes an open circuit and clears trip counts but keeps totals', async () => {
    const { breaker } = setup({ failureThreshold: 2 });
    await failTimes(breaker, 2);
    breaker.forceClose();
    expect(breaker.state).toBe('closed');
    expect(breaker.stats()).toMatchObject({ consecutiveFailures: 0, consecutiveOpens: 0, totals: { failures: 2, requests: 2 } });
    await failTimes(breaker, 1);
    expect(breaker.state).toBe('closed');
  });

  it('forceClose on a closed circuit clears the failure streak without an event', async () => {
    const { breaker, events } = setup({ failureThreshold: 3 });
    const changes = collect(events, 'breaker.state_change');
    await failTimes(breaker, 2);
    breaker.forceClose();
    await failTimes(breaker, 2);
    expect(breaker.state).toBe('closed');
    expect(changes).toEqual([]);
  });

  it('reset makes the breaker as new: closed, no totals, no last error', async () => {
    const { breaker } = setup({ failureThreshold: 1 });
    await failTimes(breaker, 1);
    await breaker.executeOutcome(() => 1);
    breaker.reset();
    const stats = breaker.stats();
    expect(stats.state).toBe('closed');
    expect(stats.totals).toEqual({ requests: 0, successes: 0, failures: 0, timeouts: 0, rejected: 0, ignored: 0, slowCalls: 0 });
    expect(stats.lastError).toBeUndefined();
    expect(stats.lastFailureAt).toBeUndefined();
  });

  it('reset also ends forceOpen isolation', () => {
    const { breaker } = setup();
    breaker.forceOpen();
    breaker.reset();
    expect(breaker.state).toBe('closed');
  });
});

describe('isolate', () => {
  it('is reference-counted: the circuit closes when the last handle is released', async () => {
    const { breaker, events } = setup();
    const changes = collect(events, 'breaker.state_change');
    const a = breaker.isolate();
    const b = breaker.isolate();
    expect(breaker.state).toBe('isolated');
    a.release();
    a.release(); // idempotent: must not release b's reference
    expect(breaker.state).toBe('isolated');
    b.release();
    expect(breaker.state).toBe('closed');
    expect(changes.map((c) => c.reason)).toEqual(['isolate', 'isolation_released']);
  });

  it('stays isolated while forceOpen is in effect, even when every handle is released', () => {
    const { breaker } = setup();
    const handle = breaker.isolate();
    breaker.forceOpen();
    handle.release();
    expect(breaker.state).toBe('isolated');
    breaker.forceClose();
    expect(breaker.state).toBe('closed');
  });

  it('handles taken before forceClose do nothing when released afterwards', async () => {
    const { breaker } = setup({ failureThreshold: 1 });
    const stale = breaker.isolate();
    breaker.forceClose();
    const fresh = breaker.isolate();
    stale.release();
    expect(breaker.state).toBe('isolated');
    fresh.release();
    expect(breaker.state).toBe('closed');
  });

  it('releases into a closed circuit, whatever the state before isolation', async () => {
    const { breaker } = setup({ failureThreshold: 1 });
    await failTimes(breaker, 1);
    const handle = breaker.isolate();
    expect(breaker.state).toBe('isolated');
    handle.release();
    expect(breaker.state).toBe('closed');
  });

  it('makes results of calls that started before isolation stale', async () => {
    const { breaker } = setup({ failureThreshold: 1 });
    const pending = deferred<never>();
    const call = breaker.executeOutcome(() => pending.promise);
    const handle = breaker.isolate();
    handle.release();
    pending.reject(new Error('late'));
    await call;
    expect(breaker.state).toBe('closed');
  });
});

describe('waitUntilReady', () => {
  it('resolves at once when closed', async () => {
    const { breaker } = setup();
    await expect(breaker.waitUntilReady()).resolves.toBeUndefined();
  });

  it('waits until the circuit half-opens, using one timer only while someone waits', async () => {
    const { breaker, clock } = setup({ failureThreshold: 1, openMs: 1_000 });
    await failTimes(breaker, 1);
    let ready = false;
    const waits = [breaker.waitUntilReady(), breaker.waitUntilReady()];
    void Promise.all(waits).then(() => {
      ready = true;
    });
    expect(clock.pendingTimers).toBe(1);
    await clock.advance(999);
    expect(ready).toBe(false);
    await clock.advance(1);
    expect(ready).toBe(true);
    expect(breaker.state).toBe('half_open');
    expect(clock.pendingTimers).toBe(0);
  });

  it('waits for a probe permit when half-open is full', async () => {
    const { breaker, clock } = setup({ failureThreshold: 1, openMs: 100, successThreshold: 2, probeTimeoutMs: 10_000 });
    await failTimes(breaker, 1);
    await clock.advance(100);
    const probe = deferred<number>();
    const call = breaker.execute(() => probe.promise);
    let ready = false;
    const wait = breaker.waitUntilReady().then(() => {
      ready = true;
    });
    await clock.advance(50);
    expect(ready).toBe(false);
    probe.resolve(1);
    await call;
    await wait;
    expect(ready).toBe(true);
    expect(breaker.state).toBe('half_open');
  });

  it('follows a hung probe lease running out: reopened, then half-open again', async () => {
    const { breaker, clock } = setup({ failureThreshold: 1, openMs: 100, probeTimeoutMs: 500 });
    await failTimes(breaker, 1);
    await clock.advance(100);
    void breaker.execute(() => new Promise(() => {}));
    let readyAt = -1;
    void breaker.waitUntilReady().then(() => {
      readyAt = clock.now();
    });
    const start = clock.now();
    await clock.advance(10_000);
    // The lease ended at +500 (reopen), the circuit half-opened again at +600.
    expect(readyAt - start).toBe(600);
  });

  it('waits while isolated and resolves when released', async () => {
    const { breaker, clock } = setup();
    const handle = breaker.isolate();
    let ready = false;
    const wait = breaker.waitUntilReady().then(() => {
      ready = true;
    });
    expect(clock.pendingTimers).toBe(0);
    await clock.advance(1_000);
    expect(ready).toBe(false);
    handle.release();
    await wait;
    expect(ready).toBe(true);
  });

  it('rejects with the abort reason and removes its listener and timer', async () => {
    const { breaker, clock } = setup({ failureThreshold: 1, openMs: 1_000 });
    await failTimes(breaker, 1);
    const controller = new AbortController();
    const wait = breaker.waitUntilReady({ signal: controller.signal });
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(1);
    expect(clock.pendingTimers).toBe(1);
    const reason = new Error('stop waiting');
    controller.abort(reason);
    await expect(wait).rejects.toBe(reason);
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
    expect(clock.pendingTimers).toBe(0);
  });

  it('removes its abort listener when it resolves', async () => {
    const { breaker, clock } = setup({ failureThreshold: 1, openMs: 1_000 });
    await failTimes(breaker, 1);
    const controller = new AbortController();
    const wait = breaker.waitUntilReady({ signal: controller.signal });
    await clock.advance(1_000);
    await wait;
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
  });

  it('rejects at once when the signal is already aborted', async () => {
    const { breaker } = setup();
    const controller = new AbortController();
    controller.abort('nope');
    await expect(breaker.waitUntilReady({ signal: controller.signal })).rejects.toBe('nope');
  });
});

describe('controls and waits found by the audit', () => {
  it('waitUntilReady keeps its wake timer within MAX_TIMER_MS, so an open period over 24.8 days is one timer, not a 1 ms loop', async () => {
    // A clock that behaves like Node/browser timers: delays over 2^31-1 ms fire after 1 ms.
    const virtual = createVirtualClock();
    let scheduled = 0;
    const clock: Clock = {
      now: () => virtual.now(),
      setTimeout: (callback, ms) => {
        scheduled++;
        return virtual.setTimeout(callback, ms > MAX_TIMER_MS ? 1 : ms);
      },
      clearTimeout: (handle) => virtual.clearTimeout(handle),
    };
    const breaker = createBreaker({ clock, events: createEventBus(), failureThreshold: 1, openMs: 40 * 86_400_000 });
    await failTimes(breaker, 1);
    void breaker.waitUntilReady();
    await virtual.advance(100);
    // One timer per 24.8 days is enough (the clock fires longer delays at once).
    expect(scheduled).toBeLessThanOrEqual(2);
  });

  it('reset() and forceClose() on a closed circuit start a new generation: a call made before changes nothing (after reset, not even the totals)', async () => {
    const { breaker } = setup({ failureThreshold: 1 });
    const gate = deferred<never>();
    const before = breaker.executeOutcome(() => gate.promise);
    breaker.reset(); // "as new"
    gate.reject(new Error('late'));
    await before;
    const { totals } = breaker.stats();
    expect(totals.failures).toBeLessThanOrEqual(totals.requests);
    expect(breaker.state).toBe('closed');

    const second = setup({ failureThreshold: 2 }).breaker;
    await failTimes(second, 1);
    const gate2 = deferred<never>();
    const call = second.executeOutcome(() => gate2.promise);
    second.forceClose(); // clears the trip counts
    gate2.reject(new Error('late'));
    await call;
    expect(second.stats().consecutiveFailures).toBe(0);
  });

});
