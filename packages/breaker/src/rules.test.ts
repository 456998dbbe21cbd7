import { sleep } from '@x/core';
import type { VirtualClock } from '@x/core/testing';
import { describe, expect, it } from 'vitest';
import type { BreakerCounts } from './index.js';
import { collect, failTimes, setup } from './test-support.js';

describe('failure rate over a count window', () => {
  it('opens when the failure rate reaches the threshold once minimumCalls are recorded', async () => {
    const { breaker, events } = setup({ window: { kind: 'count', size: 10 }, failureRateThreshold: 0.5, minimumCalls: 4 });
    const changes = collect(events, 'breaker.state_change');
    await failTimes(breaker, 2);
    await breaker.execute(() => 1);
    expect(breaker.state).toBe('closed'); // 2/3 failed, but only 3 calls
    await breaker.execute(() => 1);
    expect(breaker.state).toBe('open'); // 2/4 = 0.5
    expect(changes).toMatchObject([{ from: 'closed', to: 'open', reason: 'failure_rate' }]);
  });

  it('forgets outcomes that slid out of the window', async () => {
    const { breaker } = setup({ window: { kind: 'count', size: 4 }, failureRateThreshold: 0.75, minimumCalls: 4 });
    await failTimes(breaker, 2);
    for (let i = 0; i < 4; i++) await breaker.execute(() => i);
    await failTimes(breaker, 2);
    expect(breaker.state).toBe('closed'); // window: ok ok fail fail = 0.5
    expect(breaker.stats().window).toEqual({ calls: 4, failures: 2, slowCalls: 0 });
    await failTimes(breaker, 1);
    expect(breaker.state).toBe('open'); // ok fail fail fail = 0.75
  });

  it('is the only failure rule when given, so failures in a row do not trip by default', async () => {
    const { breaker } = setup({ window: { kind: 'count', size: 100 }, failureRateThreshold: 0.9, minimumCalls: 20 });
    for (let i = 0; i < 10; i++) await breaker.execute(() => i);
    await failTimes(breaker, 10);
    expect(breaker.state).toBe('closed');
  });

  it('combines with failureThreshold: whichever fires first', async () => {
    const { breaker } = setup({ window: { kind: 'count', size: 100 }, failureRateThreshold: 0.9, minimumCalls: 50, failureThreshold: 3 });
    await failTimes(breaker, 3);
    expect(breaker.state).toBe('open');
  });
});

describe('failure rate over a time window', () => {
  it('counts only calls inside the window', async () => {
    const { breaker, clock } = setup({ window: { kind: 'time', ms: 10_000, buckets: 10 }, failureRateThreshold: 0.5, minimumCalls: 4 });
    await failTimes(breaker, 3);
    await clock.advance(11_000);
    await breaker.execute(() => 1);
    expect(breaker.stats().window.calls).toBe(1);
    await failTimes(breaker, 2);
    await breaker.execute(() => 1);
    expect(breaker.state).toBe('open'); // 2 of 4 in the window
  });

  it('forgets old failures after an idle gap longer than the window (no stale buckets)', async () => {
    // The cockatiel SamplingBreaker reproduction: 4 failures over 4 s, 10 minutes idle, one failure.
    const { breaker, clock } = setup({ window: { kind: 'time', ms: 5_000 }, failureRateThreshold: 0.5, minimumCalls: 5 });
    for (let i = 0; i < 4; i++) {
      await failTimes(breaker, 1);
      await clock.advance(1_000);
    }
    expect(breaker.stats().window).toMatchObject({ calls: 4, failures: 4 });
    await clock.advance(10 * 60_000);
    expect(breaker.stats().window).toMatchObject({ calls: 0, failures: 0 });
    await failTimes(breaker, 1);
    expect(breaker.state).toBe('closed');
    expect(breaker.stats().window).toMatchObject({ calls: 1, failures: 1 });
  });

  it('forgets failures after a gap of just over one window', async () => {
    const { breaker, clock } = setup({ window: { kind: 'time', ms: 1_000, buckets: 4 }, failureRateThreshold: 1, minimumCalls: 2 });
    await failTimes(breaker, 1);
    await clock.advance(1_250);
    await failTimes(breaker, 1);
    expect(breaker.state).toBe('closed');
  });
});

describe('slow calls', () => {
  const slowCall = (clock: VirtualClock, ms: number) => async () => {
    await sleep(ms, { clock });
    return ms;
  };

  it('opens when the slow-call rate reaches the threshold', async () => {
    const { breaker, clock, events } = setup({ slowCallMs: 100, slowCallRateThreshold: 0.5, window: { kind: 'count', size: 4 }, minimumCalls: 4 });
    const changes = collect(events, 'breaker.state_change');
    const run = async (ms: number) => {
      const call = breaker.execute(slowCall(clock, ms));
      await clock.advance(ms);
      return call;
    };
    await run(10);
    await run(150);
    await run(20);
    expect(breaker.state).toBe('closed');
    await run(100); // exactly slowCallMs counts as slow: 2 of 4
    expect(breaker.state).toBe('open');
    expect(changes).toMatchObject([{ reason: 'slow_call_rate' }]);
    expect(breaker.stats().totals).toMatchObject({ successes: 4, slowCalls: 2, failures: 0 });
  });

  it('uses a 100% slow-call rate and a 100-call window when only slowCallMs is given', async () => {
    const { breaker, clock } = setup({ slowCallMs: 50, minimumCalls: 3 });
    for (let i = 0; i < 2; i++) {
      const call = breaker.execute(slowCall(clock, 60));
      await clock.advance(60);
      await call;
    }
    await breaker.execute(() => 'fast');
    const call = breaker.execute(slowCall(clock, 60));
    await clock.advance(60);
    await call;
    expect(breaker.state).toBe('closed');
    expect(breaker.stats().slowCallRate).toBeCloseTo(0.75);
    // The default failure rule still applies alongside.
    await failTimes(breaker, 5);
    expect(breaker.state).toBe('open');
  });
});

describe('custom rule', () => {
  it('asks shouldTrip with the counts after each failure', async () => {
    const seen: BreakerCounts[] = [];
    const { breaker } = setup({
      window: { kind: 'count', size: 10 },
      shouldTrip: (counts) => {
        seen.push(counts);
        return counts.windowFailures >= 2 && counts.failureRate > 0.6;
      },
    });
    await breaker.execute(() => 1);
    await failTimes(breaker, 2);
    expect(breaker.state).toBe('open');
    expect(seen).toEqual([
      {
        consecutiveFailures: 1,
        consecutiveSuccesses: 0,
        windowCalls: 2,
        windowFailures: 1,
        windowSlowCalls: 0,
        failureRate: 0.5,
        slowCallRate: 0,
      },
      {
        consecutiveFailures: 2,
        consecutiveSuccesses: 0,
        windowCalls: 3,
        windowFailures: 2,
        windowSlowCalls: 0,
        failureRate: 2 / 3,
        slowCallRate: 0,
      },
    ]);
  });

  it('replaces the default rule, and a throwing rule counts as "do not trip"', async () => {
    const { breaker } = setup({
      shouldTrip: () => {
        throw new Error('broken rule');
      },
    });
    await failTimes(breaker, 20);
    expect(breaker.state).toBe('closed');
    expect(breaker.stats().totals.failures).toBe(20);
  });

  it('reports reason custom', async () => {
    const { breaker, events } = setup({ shouldTrip: (c) => c.consecutiveFailures === 2 });
    const changes = collect(events, 'breaker.state_change');
    await failTimes(breaker, 2);
    expect(changes).toMatchObject([{ from: 'closed', to: 'open', reason: 'custom' }]);
  });
});
