import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { InvalidOptionsError, createEventBus, isXError } from '@x/core';
import { createVirtualClock } from '@x/core/testing';
import { backoffDelays, constantBackoff, exponentialBackoff, linearBackoff } from './backoff.js';
import { createRetry } from './retry.js';
import type { RetryOptions } from './retry.js';
import { retryPresets } from './presets.js';
import { flaky, settle } from './test-helpers.js';

function invalid(options: unknown): InvalidOptionsError {
  try {
    createRetry(options as RetryOptions);
  } catch (error) {
    expect(isXError(error, 'INVALID_OPTIONS')).toBe(true);
    return error as InvalidOptionsError;
  }
  throw new Error(`createRetry accepted ${JSON.stringify(options)}`);
}

describe('createRetry option validation', () => {
  it.each([
    ['maxAttempts', 0],
    ['maxAttempts', -1],
    ['maxAttempts', 2.5],
    ['maxAttempts', NaN],
    ['maxAttempts', '3'],
    ['maxAttempts', null],
    ['maxElapsedMs', 0],
    ['maxElapsedMs', -5],
    ['maxElapsedMs', NaN],
    ['maxElapsedMs', '1000'],
    ['backoff', -1],
    ['backoff', NaN],
    ['backoff', Infinity],
    ['backoff', 2 ** 31],
    ['backoff', 'exponential'],
    ['random', 0.5],
    ['retryOn', 'ECONNRESET'],
    ['retryOn', [42]],
    ['retryOn', ['']],
    ['retryOn', {}],
    ['retryOnResult', true],
    ['retryAfter', 1000],
    ['budget', {}],
    ['clock', { now: () => 0 }],
    ['events', { emit: () => undefined }],
    ['name', ''],
    ['name', 7],
  ])('rejects %s = %j', (option, value) => {
    const error = invalid({ [option]: value });
    expect(error.option.startsWith(option)).toBe(true);
    expect(error.message.startsWith(`createRetry: option "${option}`)).toBe(true);
  });

  it('says in the error that maxAttempts counts the first call', () => {
    expect(invalid({ maxAttempts: 0 }).message).toBe(
      'createRetry: option "maxAttempts" must be an integer >= 1 that counts the first call (3 = 1 call + 2 retries; 1 = no retries), or Infinity with a finite maxElapsedMs, got 0',
    );
  });

  it('refuses an unbounded retry: maxAttempts Infinity needs a finite maxElapsedMs', () => {
    expect(invalid({ maxAttempts: Infinity }).message).toContain('Infinity needs a finite maxElapsedMs');
    expect(() => createRetry({ maxAttempts: Infinity, maxElapsedMs: 60_000 })).not.toThrow();
  });

  it('rejects a misspelt option instead of silently using the default', () => {
    const error = invalid({ maxAttempt: 5 });
    expect(error.option).toBe('maxAttempt');
    expect(error.message).toContain('createRetry has no such option');
  });

  it('rejects options that are not an object', () => {
    for (const value of [null, 5, 'x', [1]]) invalid(value);
  });

  it('rejects every invalid maxAttempts / maxElapsedMs / backoff number (fuzz)', () => {
    const notPositiveInteger = fc.oneof(
      fc.double({ noNaN: false }).filter((n) => !(Number.isInteger(n) && n >= 1) && n !== Infinity),
      fc.constantFrom(NaN, -Infinity, 0, -0),
      fc.string(),
      fc.boolean(),
      fc.constant(null),
    );
    const notPositive = fc.oneof(
      fc.double({ max: 0, noNaN: false }),
      fc.constantFrom(NaN, -Infinity),
      fc.string(),
      fc.constant(null),
    );
    const notDelay = fc.oneof(
      fc.double({ max: -Number.MIN_VALUE, noNaN: true }),
      fc.constantFrom(NaN, Infinity, -Infinity),
      fc.string(),
      fc.constant(null),
      fc.object(),
    );
    const cases = fc.oneof(
      notPositiveInteger.map((v) => ({ maxAttempts: v })),
      notPositive.map((v) => ({ maxElapsedMs: v })),
      notDelay.map((v) => ({ backoff: v })),
    );
    fc.assert(
      fc.property(cases, (options) => {
        try {
          createRetry(options as RetryOptions);
          return false;
        } catch (error) {
          return isXError(error, 'INVALID_OPTIONS');
        }
      }),
    );
  });

  it('accepts every valid combination (fuzz)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 1_000 }),
        fc.option(fc.double({ min: 0.001, max: 1e9, noNaN: true }), { nil: undefined }),
        fc.oneof(fc.double({ min: 0, max: 1e6, noNaN: true }), fc.constant(exponentialBackoff())),
        (maxAttempts, maxElapsedMs, backoff) => {
          createRetry({ maxAttempts, maxElapsedMs, backoff });
          return true;
        },
      ),
    );
  });
});

describe('unbounded attempts need a wait', () => {
  // A retry loop with no wait never yields to timers: an abort or a timeout driven by one could
  // not stop it before maxElapsedMs (cockatiel's defaults do this).
  it.each([
    ['0', 0],
    ['constantBackoff(0)', constantBackoff(0)],
    ['linearBackoff with 0 initial and step', linearBackoff({ initialMs: 0, stepMs: 0 })],
    ['exponentialBackoff from 0', exponentialBackoff({ initialMs: 0 })],
    ['exponentialBackoff capped at 0', exponentialBackoff({ maxMs: 0 })],
  ])('refuses maxAttempts Infinity with %s', (_label, backoff) => {
    const error = invalid({ maxAttempts: Infinity, maxElapsedMs: 1_000, backoff });
    expect(error.message).toMatch(/^createRetry: option "backoff"/);
    expect(error.message).toContain('a backoff that waits (> 0 ms) when maxAttempts is Infinity');
  });

  it('accepts no wait with bounded attempts, and any wait with unbounded ones', () => {
    expect(() => createRetry({ maxAttempts: 5, backoff: 0 })).not.toThrow();
    expect(() => createRetry({ maxAttempts: Infinity, maxElapsedMs: 1_000, backoff: linearBackoff({ initialMs: 0, stepMs: 10 }) })).not.toThrow();
    expect(() => createRetry({ maxAttempts: Infinity, maxElapsedMs: 1_000, backoff: () => 0 })).not.toThrow();
  });
});

describe('retryPresets', () => {
  it("carry go-cachex's numbers", () => {
    expect(retryPresets.default.maxAttempts).toBe(3);
    expect(retryPresets.default.backoff.options).toEqual({ initialMs: 100, maxMs: 5_000, multiplier: 2, jitter: 'equal' });
    expect(retryPresets.aggressive.maxAttempts).toBe(5);
    expect(retryPresets.aggressive.backoff.options).toEqual({ initialMs: 50, maxMs: 10_000, multiplier: 1.5, jitter: 'equal' });
    expect(retryPresets.conservative.maxAttempts).toBe(2);
    expect(retryPresets.conservative.backoff.options).toEqual({ initialMs: 500, maxMs: 2_000, multiplier: 2, jitter: 'equal' });
  });

  it('produce the documented delay sequences (upper bound of the jitter range)', () => {
    const top = () => 1;
    expect(backoffDelays(retryPresets.default.backoff, 7, top)).toEqual([100, 200, 400, 800, 1_600, 3_200, 5_000]);
    expect(backoffDelays(retryPresets.aggressive.backoff, 4, top)).toEqual([50, 75, 112.5, 168.75]);
    expect(backoffDelays(retryPresets.conservative.backoff, 4, top)).toEqual([500, 1_000, 2_000, 2_000]);
    expect(backoffDelays(retryPresets.default.backoff, 3, () => 0)).toEqual([50, 100, 200]);
  });

  it('are frozen', () => {
    expect(Object.isFrozen(retryPresets)).toBe(true);
    expect(Object.isFrozen(retryPresets.default)).toBe(true);
  });

  it('spread into createRetry, and createRetry() uses the default preset', async () => {
    for (const [preset, attempts] of [
      [{}, 3],
      [retryPresets.aggressive, 5],
      [retryPresets.conservative, 2],
    ] as const) {
      const clock = createVirtualClock();
      const retry = createRetry({ ...preset, clock, events: createEventBus(), random: () => 0.999 });
      const { fn, calls } = flaky(10, 'x');
      const result = settle(retry.execute(fn));
      await clock.runAll();
      expect(result.state.done).toBe(true);
      expect(calls).toHaveLength(attempts);
    }
  });
});
