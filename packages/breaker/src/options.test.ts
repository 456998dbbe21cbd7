import { createEventBus, InvalidOptionsError, isXError } from '@x/core';
import { createVirtualClock } from '@x/core/testing';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { breakerPresets, createBreaker } from './index.js';
import type { BreakerOptions } from './index.js';
import { failTimes, setup } from './test-support.js';

function invalid(options: unknown): InvalidOptionsError {
  try {
    createBreaker(options as BreakerOptions);
  } catch (error) {
    if (isXError(error, 'INVALID_OPTIONS')) return error;
    throw error;
  }
  throw new Error(`accepted ${JSON.stringify(options)}`);
}

/** Values that are not numbers, or numbers nobody should be allowed to pass by accident. */
const junk = fc.oneof(
  fc.constantFrom(Number.NaN, -Infinity, -1, -0.5, null, true, '5', [], {}, () => 1, 10n),
  fc.string(),
);

/** For each numeric option: an arbitrary of values it must reject. */
const badValues: Record<string, fc.Arbitrary<unknown>> = {
  failureThreshold: fc.oneof(junk, fc.constantFrom(0, 1.5, Infinity), fc.double({ min: 0.01, max: 1e6, noInteger: true })),
  failureRateThreshold: fc.oneof(junk, fc.constantFrom(0, 1.0001, 2, Infinity), fc.double({ min: 1.0001, max: 1e6 })),
  minimumCalls: fc.oneof(junk, fc.constantFrom(0, 2.5, Infinity)),
  slowCallMs: fc.oneof(junk, fc.constantFrom(0, Infinity)),
  openMs: fc.oneof(fc.constantFrom(Number.NaN, -1, Infinity, null, '60000', {}), fc.double({ max: -0.001 })),
  halfOpenMax: fc.oneof(junk, fc.constantFrom(0, 1.5, Infinity)),
  successThreshold: fc.oneof(junk, fc.constantFrom(0, 1.5, Infinity)),
  probeTimeoutMs: fc.oneof(junk, fc.constantFrom(0, -Infinity)),
  maxConcurrent: fc.oneof(junk, fc.constantFrom(0, 2.5)),
  name: fc.constantFrom('', 5, null, {}),
  isFailure: fc.constantFrom('yes', 1, {}, null),
  shouldTrip: fc.constantFrom('yes', 1, {}, null),
  clock: fc.constantFrom(1, 'clock', {}, { now: 1 }, { now: () => 1, setTimeout: () => 1 }),
  events: fc.constantFrom(1, {}, { on: () => () => {}, emit: () => {} }),
  window: fc.oneof(
    fc.constantFrom(1, 'count', [], null),
    fc.record({ kind: fc.constantFrom('sliding', 'COUNT', undefined), size: fc.constant(10) }),
    fc.record({ kind: fc.constant('count'), size: fc.oneof(junk, fc.constantFrom(0, 1.5, Infinity, 2_000_000)) }),
    fc.record({ kind: fc.constant('time'), ms: fc.oneof(junk, fc.constantFrom(0, Infinity)) }),
    fc.record({ kind: fc.constant('time'), ms: fc.constant(1_000), buckets: fc.oneof(junk, fc.constantFrom(0, 1.5, 100_000)) }),
  ),
  initialState: fc.oneof(
    fc.constantFrom(1, 'state', null, {}),
    fc.record({ version: fc.constantFrom(2, '1', undefined) }),
  ),
};

describe('option validation', () => {
  it('rejects every invalid value of every option with INVALID_OPTIONS naming it (fuzz)', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...Object.keys(badValues)).chain((option) => fc.tuple(fc.constant(option), badValues[option] as fc.Arbitrary<unknown>)),
        ([option, value]) => {
          const error = invalid({ [option]: value });
          expect(error.option.split(/[.[]/)[0]).toBe(option);
          expect(error.message).toContain('createBreaker');
          expect(error.message).toContain(`"${error.option}"`);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('accepts valid values across the ranges (fuzz)', () => {
    fc.assert(
      fc.property(
        fc.record(
          {
            failureThreshold: fc.integer({ min: 1, max: 1_000 }),
            failureRateThreshold: fc.double({ min: 0.001, max: 1, noNaN: true }),
            slowCallMs: fc.double({ min: 0.001, max: 1e7, noNaN: true }),
            slowCallRateThreshold: fc.double({ min: 0.001, max: 1, noNaN: true }),
            openMs: fc.oneof(fc.double({ min: 0, max: 1e9, noNaN: true }), fc.constant((n: number) => n * 1_000)),
            halfOpenMax: fc.integer({ min: 1, max: 100 }),
            successThreshold: fc.integer({ min: 1, max: 100 }),
            probeTimeoutMs: fc.oneof(fc.double({ min: 0.001, max: 1e9, noNaN: true }), fc.constant(Infinity)),
            maxConcurrent: fc.oneof(fc.integer({ min: 1, max: 10_000 }), fc.constant(Infinity)),
            window: fc.oneof(
              fc.record({ kind: fc.constant('count' as const), size: fc.integer({ min: 10, max: 1_000 }) }),
              fc.record({ kind: fc.constant('time' as const), ms: fc.double({ min: 1, max: 1e7, noNaN: true }), buckets: fc.integer({ min: 1, max: 100 }) }),
            ),
            minimumCalls: fc.integer({ min: 1, max: 10 }),
          },
          { requiredKeys: [] },
        ).filter((o) => o.slowCallRateThreshold === undefined || o.slowCallMs !== undefined),
        (options) => {
          const breaker = createBreaker({ ...options, clock: createVirtualClock(), events: createEventBus() });
          expect(breaker.state).toBe('closed');
        },
      ),
      { numRuns: 300 },
    );
  });

  it('names the option, range and value in the message', () => {
    expect(invalid({ failureThreshold: 0 }).message).toBe('createBreaker: option "failureThreshold" must be an integer >= 1, got 0');
    expect(invalid({ failureRateThreshold: 1.5 }).message).toBe('createBreaker: option "failureRateThreshold" must be a finite number in (0, 1], got 1.5');
    expect(invalid({ window: { kind: 'count', size: 0 } }).option).toBe('window.size');
    expect(invalid({ openMs: Number.NaN }).value).toBeNaN();
  });

  it('rejects combinations that could never work', () => {
    expect(invalid({ slowCallRateThreshold: 0.5 }).option).toBe('slowCallRateThreshold');
    expect(invalid({ window: { kind: 'count', size: 5 }, minimumCalls: 6 }).option).toBe('minimumCalls');
  });

  it('rejects a malformed initialState field by field', () => {
    const good = {
      version: 1,
      state: 'open',
      openUntil: 5,
      consecutiveOpens: 1,
      consecutiveFailures: 0,
      consecutiveSuccesses: 0,
      halfOpenSuccesses: 0,
      lastStateChangeAt: 0,
      lastFailureAt: null,
      window: null,
    };
    createBreaker({ initialState: good as never, events: createEventBus() });
    const cases: [Record<string, unknown>, string][] = [
      [{ state: 'broken' }, 'initialState.state'],
      [{ openUntil: null }, 'initialState.openUntil'],
      [{ consecutiveOpens: -1 }, 'initialState.consecutiveOpens'],
      [{ lastStateChangeAt: Number.NaN }, 'initialState.lastStateChangeAt'],
      [{ window: { kind: 'count', outcomes: [4] } }, 'initialState.window.outcomes[0]'],
      [{ window: { kind: 'time', bucketMs: 100, buckets: [[1, 1, 2, 0]] } }, 'initialState.window.buckets[0][2]'],
      [{ window: { kind: 'time', bucketMs: 0, buckets: [] } }, 'initialState.window.bucketMs'],
    ];
    for (const [patch, option] of cases) expect(invalid({ initialState: { ...good, ...patch } }).option).toBe(option);
  });

  it('rejects a non-object options argument', () => {
    expect(invalid(5).option).toBe('options');
    expect(invalid(null).option).toBe('options');
  });
});

describe('breakerPresets', () => {
  it("match TDTP's DefaultConfig, AggressiveConfig and ConservativeConfig", () => {
    expect(breakerPresets).toEqual({
      default: { failureThreshold: 5, openMs: 60_000, maxConcurrent: Infinity, successThreshold: 2 },
      aggressive: { failureThreshold: 3, openMs: 30_000, maxConcurrent: 100, successThreshold: 3 },
      conservative: { failureThreshold: 10, openMs: 120_000, maxConcurrent: Infinity, successThreshold: 5 },
    });
    expect(Object.isFrozen(breakerPresets)).toBe(true);
    expect(Object.isFrozen(breakerPresets.aggressive)).toBe(true);
  });

  it('behave as configured', async () => {
    const { breaker, clock } = setup({ ...breakerPresets.aggressive });
    await failTimes(breaker, 3);
    expect(breaker.stats().timeUntilHalfOpenMs).toBe(30_000);
    await clock.advance(30_000);
    await breaker.execute(() => 1);
    await breaker.execute(() => 1);
    expect(breaker.state).toBe('half_open');
    await breaker.execute(() => 1);
    expect(breaker.state).toBe('closed');
  });

  it('are what createBreaker() does with no options', async () => {
    const { breaker } = setup();
    await failTimes(breaker, breakerPresets.default.failureThreshold);
    expect(breaker.stats().timeUntilHalfOpenMs).toBe(breakerPresets.default.openMs);
  });
});

describe('createBreaker: misspelt options', () => {
  it('names an unknown option instead of silently ignoring it', () => {
    expect(() => createBreaker({ failureTreshold: 3 } as never)).toThrow(/createBreaker: option "failureTreshold" must be absent: createBreaker has no such option/);
  });
});
