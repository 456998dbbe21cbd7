import { createEventBus, sleep } from '@x/core';
import type { EventBus, XEvent } from '@x/core';
import { createVirtualClock } from '@x/core/testing';
import { describe, expect, it, vi } from 'vitest';
import { createBreaker } from './index.js';
import { busWithoutVersion } from '@x/test-support';
import { collect, deferred, failing, failTimes, setup } from './test-support.js';

describe('events', () => {
  it('reports every state change with from, to, reason, time and openMs', async () => {
    const { breaker, clock, events } = setup({ failureThreshold: 1, openMs: 1_000, successThreshold: 1 });
    const changes = collect(events, 'breaker.state_change');
    const t0 = clock.now();
    await failTimes(breaker, 1);
    await clock.advance(1_500);
    expect(changes).toHaveLength(1); // open → half-open is only noticed on the next read
    expect(breaker.state).toBe('half_open');
    await breaker.execute(() => 1);
    expect(changes).toEqual([
      { type: 'breaker.state_change', source: 'breaker', name: 'test', time: t0, from: 'closed', to: 'open', reason: 'consecutive_failures', openMs: 1_000 },
      // Stamped with the moment it happened, not the moment it was noticed.
      { type: 'breaker.state_change', source: 'breaker', name: 'test', time: t0 + 1_000, from: 'open', to: 'half_open', reason: 'open_elapsed', openMs: undefined },
      { type: 'breaker.state_change', source: 'breaker', name: 'test', time: t0 + 1_500, from: 'half_open', to: 'closed', reason: 'half_open_success', openMs: undefined },
    ]);
  });

  it('reports successes and failures with durations for metrics', async () => {
    const { breaker, clock, events } = setup({ failureThreshold: 3 });
    const successes = collect(events, 'breaker.success');
    const failures = collect(events, 'breaker.failure');
    const ok = breaker.execute(async () => {
      await sleep(40, { clock });
      return 1;
    });
    await clock.advance(40);
    await ok;
    const error = Object.assign(new Error('slow db'), { code: 'TIMEOUT' });
    const bad = breaker.executeOutcome(async () => {
      await sleep(25, { clock });
      throw error;
    });
    await clock.advance(25);
    await bad;
    expect(successes).toMatchObject([{ type: 'breaker.success', source: 'breaker', name: 'test', durationMs: 40, state: 'closed', slow: false }]);
    expect(failures).toMatchObject([{ type: 'breaker.failure', name: 'test', durationMs: 25, state: 'closed', error, timeout: true, slow: false }]);
  });

  it('reports rejections with their reason: open, half_open_full, too_many_calls', async () => {
    const { breaker, clock, events } = setup({ failureThreshold: 1, openMs: 100, maxConcurrent: 2, probeTimeoutMs: 1_000 });
    const rejected = collect(events, 'breaker.rejected');
    const hold = deferred<number>();
    const a = breaker.execute(() => hold.promise);
    const b = breaker.execute(() => hold.promise);
    await breaker.executeOutcome(() => 1);
    hold.resolve(1);
    await Promise.all([a, b]);
    await failTimes(breaker, 1);
    await breaker.executeOutcome(() => 1);
    await clock.advance(100);
    const probe = breaker.execute(() => hold.promise.then(() => new Promise<number>(() => {})));
    await breaker.executeOutcome(() => 1);
    void probe;
    expect(rejected.map((e) => [e.reason, e.state, e.retryAfterMs])).toEqual([
      ['too_many_calls', 'closed', undefined],
      ['open', 'open', 100],
      ['half_open_full', 'half_open', 1_000],
    ]);
  });

  it('reports ignored outcomes with their reason', async () => {
    const { breaker, events } = setup({ isFailure: (e) => (e as Error).message !== 'not mine' });
    const ignored = collect(events, 'breaker.ignored');
    await breaker.executeOutcome(failing('not mine'));
    const controller = new AbortController();
    const call = breaker.executeOutcome(
      ({ signal }) => new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason))),
      { signal: controller.signal },
    );
    controller.abort();
    await call;
    breaker.tryAcquire()?.ignore();
    expect(ignored.map((e) => [e.reason, e.state])).toEqual([
      ['not_failure', 'closed'],
      ['caller_abort', 'closed'],
      ['released', 'closed'],
    ]);
  });

  it('starts reporting outcomes to a listener that subscribes after unobserved calls, and stops when it leaves', async () => {
    const events = createEventBus();
    const breaker = createBreaker({ name: 'late', events, failureThreshold: 100 });
    for (let i = 0; i < 5; i++) await breaker.execute(async () => i);
    const seen: string[] = [];
    const stop = events.on('*', (e) => seen.push(e.type));
    await breaker.execute(async () => 'ok');
    await breaker.executeOutcome(async () => {
      throw new Error('down');
    });
    stop();
    await breaker.execute(async () => 'ok');
    expect(seen).toEqual(['breaker.success', 'breaker.failure']);
    expect(breaker.stats().totals).toMatchObject({ requests: 8, successes: 7, failures: 1 });
  });

  it('works with a bus that has no version (an older core): every call checks listeners', async () => {
    const inner = createEventBus();
    const events = busWithoutVersion(inner);
    const breaker = createBreaker({ events, failureThreshold: 2 });
    await breaker.execute(async () => 1);
    const seen = collect(inner, 'breaker.success');
    await breaker.execute(async () => 2);
    expect(seen).toHaveLength(1);
    await breaker.executeOutcome(failing());
    await breaker.executeOutcome(failing());
    expect(breaker.state).toBe('open');
  });

  it('does not read the clock when nobody listens and no option needs time', async () => {
    const now = vi.fn(() => 1_000);
    const clock = { now, setTimeout: () => 0, clearTimeout: () => {} };
    const breaker = createBreaker({ clock, events: createEventBus() });
    now.mockClear();
    for (let i = 0; i < 10; i++) await breaker.execute(() => i);
    expect(now).not.toHaveBeenCalled();
  });

  it('a throwing listener does not change any outcome', async () => {
    const errors: unknown[] = [];
    const events = createEventBus({ onUnhandledListenerError: (error) => errors.push(error) });
    const clock = createVirtualClock();
    const breaker = createBreaker({ name: 'x', clock, events, failureThreshold: 1, openMs: 10, successThreshold: 1 });
    for (const type of ['breaker.success', 'breaker.failure', 'breaker.rejected', 'breaker.state_change', 'breaker.ignored'] as const) {
      events.on(type, () => {
        throw new Error(`listener of ${type}`);
      });
    }
    expect(await breaker.execute(() => 'value')).toBe('value');
    const error = new Error('real');
    await expect(breaker.execute(() => Promise.reject(error))).rejects.toBe(error);
    expect(breaker.state).toBe('open');
    expect((await breaker.executeOutcome(() => 1)).ok).toBe(false);
    await clock.advance(10);
    expect(await breaker.execute(() => 'probe')).toBe('probe');
    expect(breaker.state).toBe('closed');
    expect(errors.length).toBeGreaterThanOrEqual(6);
  });

  it('a bus whose emit throws does not change any outcome either', async () => {
    const inner = createEventBus();
    const events: EventBus = {
      on: inner.on,
      track: inner.track,
      tracked: inner.tracked,
      hasListeners: () => true,
      emit: (_event: XEvent) => {
        throw new Error('broken bus');
      },
    };
    const breaker = createBreaker({ events, failureThreshold: 1, clock: createVirtualClock() });
    expect(await breaker.execute(() => 1)).toBe(1);
    await expect(breaker.execute(failing('x'))).rejects.toThrow('x');
    expect(breaker.state).toBe('open');
  });

  it('a listener that changes the breaker mid-event does not corrupt the state', async () => {
    const { breaker, events } = setup({ failureThreshold: 1 });
    events.on('breaker.failure', () => breaker.forceOpen());
    await failTimes(breaker, 1);
    expect(breaker.state).toBe('isolated');
    breaker.forceClose();
    expect(await breaker.execute(() => 1)).toBe(1);
  });

  it('registers event types in the core map (typed subscription)', () => {
    const events = createEventBus();
    const seen: string[] = [];
    events.on('breaker.state_change', (e) => seen.push(`${e.from}->${e.to}`));
    const breaker = createBreaker({ events, clock: createVirtualClock() });
    breaker.forceOpen();
    expect(seen).toEqual(['closed->isolated']);
  });
});

describe('hot path and late subscribers', () => {
  it('a hot-path call that settles after a state_change listener subscribed reports the trip it causes', async () => {
    const { breaker, events } = setup({ failureThreshold: 2 });
    for (let i = 0; i < 3; i++) await breaker.execute(() => i);
    const gate = deferred<never>();
    const call = breaker.executeOutcome(() => gate.promise);
    await breaker.executeOutcome(() => Promise.reject(new Error('x')));
    const changes = collect(events, 'breaker.state_change');
    gate.reject(new Error('y'));
    await call;
    expect(changes.map((c) => [c.to, c.reason])).toEqual([['open', 'consecutive_failures']]);
  });
});
