import { sleep } from '@x/core';
import { describe, expect, it } from 'vitest';
import { deferred, failTimes, setup } from './test-support.js';

describe('stats', () => {
  it('starts empty and healthy', () => {
    const { breaker, clock } = setup();
    expect(breaker.stats()).toEqual({
      name: 'test',
      state: 'closed',
      totals: { requests: 0, successes: 0, failures: 0, timeouts: 0, rejected: 0, ignored: 0, slowCalls: 0 },
      consecutiveFailures: 0,
      consecutiveSuccesses: 0,
      consecutiveOpens: 0,
      window: { calls: 0, failures: 0, slowCalls: 0 },
      failureRate: 0,
      successRate: 1,
      slowCallRate: 0,
      isHealthy: true,
      runningCalls: 0,
      halfOpenProbes: 0,
      timeUntilHalfOpenMs: 0,
      lastError: undefined,
      lastFailureAt: undefined,
      lastStateChangeAt: clock.now(),
    });
  });

  it('reports every field after a mix of outcomes', async () => {
    const { breaker, clock } = setup({
      failureThreshold: 3,
      openMs: 5_000,
      window: { kind: 'count', size: 10 },
      slowCallMs: 100,
      slowCallRateThreshold: 1,
      isFailure: (e) => (e as Error).message !== 'ignored',
    });
    await breaker.execute(() => 1);
    const slow = breaker.execute(async () => {
      await sleep(100, { clock });
      return 2;
    });
    await clock.advance(100);
    await slow;
    await breaker.executeOutcome(() => Promise.reject(new Error('ignored')));
    const timeout = Object.assign(new Error('t'), { code: 'TIMEOUT' });
    await breaker.executeOutcome(() => Promise.reject(timeout));
    const pending = deferred<number>();
    const running = breaker.execute(() => pending.promise);
    const midway = breaker.stats();
    expect(midway).toMatchObject({
      state: 'closed',
      totals: { requests: 5, successes: 2, failures: 1, timeouts: 1, rejected: 0, ignored: 1, slowCalls: 1 },
      consecutiveFailures: 1,
      consecutiveSuccesses: 0,
      window: { calls: 3, failures: 1, slowCalls: 1 },
      failureRate: 1 / 3,
      successRate: 2 / 3,
      slowCallRate: 1 / 3,
      isHealthy: true,
      runningCalls: 1,
      lastError: timeout,
      lastFailureAt: clock.now(),
    });
    pending.resolve(3);
    await running;
    await failTimes(breaker, 3);
    const openedAt = clock.now();
    await clock.advance(1_000);
    await breaker.executeOutcome(() => 1);
    expect(breaker.stats()).toMatchObject({
      state: 'open',
      isHealthy: false,
      consecutiveOpens: 1,
      timeUntilHalfOpenMs: 4_000,
      lastStateChangeAt: openedAt,
      runningCalls: 0,
      totals: { requests: 9, rejected: 1, failures: 4 },
    });
  });

  it('computes rates over all recorded calls when there is no window', async () => {
    const { breaker } = setup({ failureThreshold: 10 });
    await breaker.execute(() => 1);
    await failTimes(breaker, 3);
    expect(breaker.stats()).toMatchObject({ failureRate: 0.75, successRate: 0.25 });
  });

  it('shows half-open probes in use', async () => {
    const { breaker, clock } = setup({ failureThreshold: 1, openMs: 10, halfOpenMax: 2 });
    await failTimes(breaker, 1);
    await clock.advance(10);
    const hold = deferred<number>();
    const call = breaker.execute(() => hold.promise);
    expect(breaker.stats()).toMatchObject({ state: 'half_open', halfOpenProbes: 1, runningCalls: 1, isHealthy: false });
    hold.resolve(1);
    await call;
  });

  it('gives a scrape-time gauge the state from the state getter without touching stats', async () => {
    const { breaker, clock } = setup({ failureThreshold: 1, openMs: 10 });
    const gauge = () => ({ closed: 0, half_open: 1, open: 2, isolated: 3, disabled: 4, metrics_only: 5 })[breaker.state];
    expect(gauge()).toBe(0);
    await failTimes(breaker, 1);
    expect(gauge()).toBe(2);
    await clock.advance(10);
    expect(gauge()).toBe(1);
  });

  it('registers itself with its bus, so an exporter can read the state at scrape time', async () => {
    const { breaker, events } = setup({ failureThreshold: 1 });
    const tracked = events.tracked('breaker');
    expect(tracked).toHaveLength(1);
    expect(tracked[0]).toMatchObject({ source: 'breaker', name: 'test' });
    expect(tracked[0]?.instance).toBe(breaker);
    await failTimes(breaker, 1);
    expect((tracked[0]?.instance as typeof breaker).state).toBe('open');
  });
});
