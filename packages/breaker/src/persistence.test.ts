import { createEventBus } from '@x/core';
import { createVirtualClock } from '@x/core/testing';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createBreaker } from './index.js';
import type { BreakerOpenError, BreakerOptions, BreakerSnapshot } from './index.js';
import { collect, deferred, failTimes, setup } from './test-support.js';

/** Serializes through JSON, as a real restart would. */
const roundTrip = (value: unknown): BreakerSnapshot => JSON.parse(JSON.stringify(value)) as BreakerSnapshot;

describe('toJSON / initialState', () => {
  it('restores an open circuit that half-opens at the same time', async () => {
    const { breaker, clock } = setup({ failureThreshold: 2, openMs: 10_000 });
    await failTimes(breaker, 2);
    await clock.advance(4_000);
    const snapshot = roundTrip(breaker);
    expect(snapshot).toMatchObject({ version: 1, state: 'open', openUntil: clock.now() + 6_000, consecutiveOpens: 1, consecutiveFailures: 2 });
    const restored = createBreaker({ clock, events: createEventBus(), failureThreshold: 2, openMs: 10_000, initialState: snapshot });
    expect(restored.state).toBe('open');
    expect(restored.stats().timeUntilHalfOpenMs).toBe(6_000);
    await clock.advance(6_000);
    expect(restored.state).toBe('half_open');
  });

  it('restores the window contents and failure streak, so a restart does not forget failures', async () => {
    const options: BreakerOptions = { window: { kind: 'count', size: 10 }, failureRateThreshold: 0.5, minimumCalls: 4, failureThreshold: 3 };
    const { breaker, clock } = setup(options);
    await breaker.execute(() => 1);
    await failTimes(breaker, 2);
    const restored = createBreaker({ ...options, clock, events: createEventBus(), initialState: roundTrip(breaker.toJSON()) });
    expect(restored.stats()).toMatchObject({ consecutiveFailures: 2, window: { calls: 3, failures: 2 } });
    await failTimes(restored, 1);
    expect(restored.state).toBe('open');
  });

  it('restores a time window', async () => {
    const options: BreakerOptions = { window: { kind: 'time', ms: 10_000 }, failureRateThreshold: 1, minimumCalls: 3, failureThreshold: 100 };
    const { breaker, clock } = setup(options);
    await failTimes(breaker, 2);
    const restored = createBreaker({ ...options, clock, events: createEventBus(), initialState: roundTrip(breaker) });
    expect(restored.stats().window).toEqual({ calls: 2, failures: 2, slowCalls: 0 });
    await clock.advance(20_000);
    expect(restored.stats().window.calls).toBe(0);
  });

  it('restores half-open progress and forceOpen isolation', async () => {
    const { breaker, clock } = setup({ failureThreshold: 1, openMs: 10, successThreshold: 3 });
    await failTimes(breaker, 1);
    await clock.advance(10);
    await breaker.execute(() => 1);
    const halfOpen = createBreaker({ clock, successThreshold: 3, events: createEventBus(), initialState: roundTrip(breaker) });
    expect(halfOpen.state).toBe('half_open');
    await halfOpen.execute(() => 1);
    await halfOpen.execute(() => 1);
    expect(halfOpen.state).toBe('closed');

    breaker.forceOpen();
    const isolated = createBreaker({ clock, events: createEventBus(), initialState: roundTrip(breaker) });
    expect(isolated.state).toBe('isolated');
    await clock.advance(10 ** 6);
    expect(isolated.state).toBe('isolated');
    isolated.forceClose();
    expect(isolated.state).toBe('closed');
  });

  it('persists isolation by handles as closed (handles belong to the process that took them)', () => {
    const { breaker } = setup();
    breaker.isolate();
    expect(breaker.toJSON().state).toBe('closed');
  });

  it('round-trips any reachable state (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.oneof(fc.constant('ok'), fc.constant('fail'), fc.integer({ min: 1, max: 3_000 }), fc.constant('force')), { maxLength: 30 }),
        async (steps) => {
          const clock = createVirtualClock();
          const options: BreakerOptions = { failureThreshold: 2, openMs: 1_000, successThreshold: 2, window: { kind: 'count', size: 5 }, clock, events: createEventBus() };
          const breaker = createBreaker(options);
          for (const step of steps) {
            if (step === 'ok') await breaker.executeOutcome(() => 1);
            else if (step === 'fail') await breaker.executeOutcome(() => Promise.reject(new Error('x')));
            else if (step === 'force') breaker.forceOpen();
            else await clock.advance(step);
          }
          const snapshot = roundTrip(breaker);
          const restored = createBreaker({ ...options, initialState: snapshot });
          expect(roundTrip(restored)).toEqual(snapshot);
          expect(restored.state).toBe(breaker.state);
        },
      ),
      { numRuns: 60 },
    );
  });
});

describe('snapshots of isolated and half-open circuits', () => {
  it('toJSON while isolated by isolate() persists "closed" with the fresh counts that releasing the handles would give', async () => {
    const options = { failureThreshold: 3, openMs: (n: number) => n * 1_000 };
    const { breaker, clock } = setup(options);
    await failTimes(breaker, 3);
    expect(breaker.state).toBe('open');
    breaker.isolate();
    const snapshot = JSON.parse(JSON.stringify(breaker));
    expect(snapshot.state).toBe('closed');
    // Releasing the handles closes with fresh counts, so a restored "closed" breaker should need
    // 3 failures to open, and open for openMs(1).
    const events = createEventBus();
    const changes = collect(events, 'breaker.state_change');
    const restored = createBreaker({ ...options, clock, events, initialState: snapshot });
    await failTimes(restored, 1);
    expect(restored.state).toBe('closed');
    expect(changes).toEqual([]);
  });

  it('a restored half-open circuit with unbounded leases reports the open period as retryAfterMs for half_open_full', async () => {
    const options = { failureThreshold: 1, openMs: 5_000, probeTimeoutMs: Infinity };
    const { breaker, clock } = setup(options);
    await failTimes(breaker, 1);
    await clock.advance(5_000);
    expect(breaker.state).toBe('half_open');
    const restored = createBreaker({ ...options, clock, events: createEventBus(), initialState: JSON.parse(JSON.stringify(breaker)) });
    const gate = deferred<number>();
    const probe = restored.execute(() => gate.promise);
    const result = await restored.executeOutcome(() => 1);
    const error = (result as { error: BreakerOpenError }).error;
    expect(error.reason).toBe('half_open_full');
    // With unbounded leases it is the length of the last open period; 0 would invite a hot retry loop.
    expect(error.retryAfterMs).toBe(5_000);
    gate.resolve(1);
    await probe;
  });
});
