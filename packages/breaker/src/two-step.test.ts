import { describe, expect, it } from 'vitest';
import { collect, failTimes, setup } from './test-support.js';

describe('tryAcquire (two-step use)', () => {
  it('returns a permit while closed and records its outcome', () => {
    const { breaker } = setup({ failureThreshold: 2 });
    const a = breaker.tryAcquire();
    expect(a).not.toBeNull();
    expect(breaker.stats().runningCalls).toBe(1);
    a?.success();
    const b = breaker.tryAcquire();
    b?.failure(new Error('stream broke'));
    const c = breaker.tryAcquire();
    c?.failure(new Error('stream broke again'));
    expect(breaker.state).toBe('open');
    expect(breaker.stats().totals).toMatchObject({ requests: 3, successes: 1, failures: 2 });
    expect(breaker.stats().runningCalls).toBe(0);
  });

  it('returns null while open and counts the rejection', async () => {
    const { breaker, events } = setup({ failureThreshold: 1 });
    const rejected = collect(events, 'breaker.rejected');
    await failTimes(breaker, 1);
    expect(breaker.tryAcquire()).toBeNull();
    expect(breaker.stats().totals.rejected).toBe(1);
    expect(rejected).toMatchObject([{ reason: 'open', state: 'open', retryAfterMs: 60_000 }]);
  });

  it('counts only the first report of a permit', () => {
    const { breaker } = setup({ failureThreshold: 1 });
    const permit = breaker.tryAcquire();
    permit?.success();
    permit?.failure(new Error('late'));
    permit?.ignore();
    expect(breaker.state).toBe('closed');
    expect(breaker.stats().totals).toMatchObject({ successes: 1, failures: 0, ignored: 0 });
    expect(breaker.stats().runningCalls).toBe(0);
  });

  it('applies isFailure to permit.failure(error)', () => {
    const { breaker } = setup({ failureThreshold: 1, isFailure: (e) => (e as Error).message !== 'fine' });
    breaker.tryAcquire()?.failure(new Error('fine'));
    expect(breaker.state).toBe('closed');
    expect(breaker.stats().totals.ignored).toBe(1);
  });

  it('limits half-open permits, and ignore() gives the permit back', async () => {
    const { breaker, clock } = setup({ failureThreshold: 1, openMs: 100, successThreshold: 1 });
    await failTimes(breaker, 1);
    await clock.advance(100);
    const probe = breaker.tryAcquire();
    expect(probe).not.toBeNull();
    expect(breaker.tryAcquire()).toBeNull();
    probe?.ignore();
    expect(breaker.state).toBe('half_open');
    const next = breaker.tryAcquire();
    next?.success();
    expect(breaker.state).toBe('closed');
  });

  it('expires a half-open permit that is never settled and frees its running slot', async () => {
    const { breaker, clock } = setup({ failureThreshold: 1, openMs: 100, probeTimeoutMs: 1_000, maxConcurrent: 1 });
    await failTimes(breaker, 1);
    await clock.advance(100);
    const forgotten = breaker.tryAcquire();
    expect(forgotten).not.toBeNull();
    await clock.advance(1_000);
    expect(breaker.state).toBe('open');
    expect(breaker.stats().runningCalls).toBe(0);
    expect(breaker.stats().totals.timeouts).toBe(1);
    forgotten?.success(); // too late: changes nothing
    expect(breaker.state).toBe('open');
    expect(breaker.stats().totals.successes).toBe(0);
    await clock.advance(100);
    expect(breaker.tryAcquire()).not.toBeNull();
  });

  it('respects maxConcurrent', () => {
    const { breaker } = setup({ maxConcurrent: 1 });
    const held = breaker.tryAcquire();
    expect(breaker.tryAcquire()).toBeNull();
    held?.success();
    expect(breaker.tryAcquire()).not.toBeNull();
  });

  it('measures durations for events when someone listens', async () => {
    const { breaker, clock, events } = setup();
    const successes = collect(events, 'breaker.success');
    const permit = breaker.tryAcquire();
    await clock.advance(250);
    permit?.success();
    expect(successes).toMatchObject([{ durationMs: 250, state: 'closed', slow: false }]);
  });

  it('frees the slot of a half-open permit when another probe reopens the circuit', async () => {
    const { breaker, clock } = setup({ failureThreshold: 1, openMs: 100, halfOpenMax: 2, maxConcurrent: 2 });
    await failTimes(breaker, 1);
    await clock.advance(100);
    const forgotten = breaker.tryAcquire();
    breaker.tryAcquire()?.failure(new Error('probe failed'));
    expect(breaker.state).toBe('open');
    // The forgotten permit's lease no longer runs; it must not hold a slot forever.
    expect(breaker.stats().runningCalls).toBe(0);
    forgotten?.success(); // stale: counted, changes nothing
    expect(breaker.stats()).toMatchObject({ state: 'open', runningCalls: 0, totals: { successes: 1 } });
    await clock.advance(100);
    expect(breaker.tryAcquire()).not.toBeNull();
    expect(breaker.tryAcquire()).not.toBeNull();
  });
});
