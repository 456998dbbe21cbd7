import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { isXError } from '@x/core';
import { backoffDelays, constantBackoff, exponentialBackoff, linearBackoff, sanitizeDelay } from './backoff.js';
import type { Jitter } from './backoff.js';
import { sequence } from './test-helpers.js';

const none = () => 0.5; // unused by 'none' jitter, but must be passed

describe('constantBackoff', () => {
  it('waits the same delay before every retry', () => {
    expect(backoffDelays(constantBackoff(250), 4, none)).toEqual([250, 250, 250, 250]);
  });

  it('spreads the delay with full and equal jitter', () => {
    expect(backoffDelays(constantBackoff(200, { jitter: 'full' }), 3, sequence(0, 0.5, 0.99))).toEqual([0, 100, 198]);
    expect(backoffDelays(constantBackoff(200, { jitter: 'equal' }), 3, sequence(0, 0.5, 0.99))).toEqual([100, 150, 199]);
  });

  it('describes its parameters', () => {
    const backoff = constantBackoff(10);
    expect(backoff.kind).toBe('constant');
    expect(backoff.options).toEqual({ delayMs: 10, jitter: 'none' });
    expect(Object.isFrozen(backoff.options)).toBe(true);
  });
});

describe('linearBackoff', () => {
  it('adds stepMs per retry up to maxMs', () => {
    expect(backoffDelays(linearBackoff({ initialMs: 100, stepMs: 200, maxMs: 600 }), 5, none)).toEqual([
      100, 300, 500, 600, 600,
    ]);
  });

  it('steps by initialMs when stepMs is not given', () => {
    expect(backoffDelays(linearBackoff({ initialMs: 50 }), 4, none)).toEqual([50, 100, 150, 200]);
  });

  it('applies jitter after the cap', () => {
    const backoff = linearBackoff({ initialMs: 100, stepMs: 100, maxMs: 200, jitter: 'full' });
    expect(backoffDelays(backoff, 4, () => 0.5)).toEqual([50, 100, 100, 100]);
  });
});

describe('exponentialBackoff', () => {
  it('multiplies the delay per retry and caps it at maxMs', () => {
    const backoff = exponentialBackoff({ initialMs: 100, maxMs: 1_000, multiplier: 2, jitter: 'none' });
    expect(backoffDelays(backoff, 6, none)).toEqual([100, 200, 400, 800, 1_000, 1_000]);
  });

  it('supports fractional multipliers', () => {
    const backoff = exponentialBackoff({ initialMs: 100, maxMs: 10_000, multiplier: 1.5, jitter: 'none' });
    expect(backoffDelays(backoff, 4, none)).toEqual([100, 150, 225, 337.5]);
  });

  it('full jitter draws from [0, nominal)', () => {
    const backoff = exponentialBackoff({ initialMs: 100, maxMs: 1_000, jitter: 'full' });
    expect(backoffDelays(backoff, 5, () => 0.5)).toEqual([50, 100, 200, 400, 500]);
    expect(backoffDelays(backoff, 3, () => 0)).toEqual([0, 0, 0]);
  });

  it('equal jitter draws from [nominal/2, nominal)', () => {
    const backoff = exponentialBackoff({ initialMs: 100, maxMs: 1_000, jitter: 'equal' });
    expect(backoffDelays(backoff, 5, () => 0)).toEqual([50, 100, 200, 400, 500]);
    expect(backoffDelays(backoff, 5, () => 0.5)).toEqual([75, 150, 300, 600, 750]);
  });

  it('decorrelated jitter builds each delay on the previous one', () => {
    const backoff = exponentialBackoff({ initialMs: 100, maxMs: 1_000, jitter: 'decorrelated' });
    // next = initial + r × (3 × max(previous, initial) − initial), capped at maxMs
    expect(backoffDelays(backoff, 6, sequence(0.5, 1, 0, 1, 1, 1))).toEqual([
      100 + 0.5 * 200, // 200
      100 + 1 * 500, // 600
      100, // r = 0 goes back to the floor
      100 + 1 * 200, // 300
      100 + 1 * 800, // 900
      1_000, // 2700, capped
    ]);
  });

  it('uses 100 ms → 30 s, × 2, full jitter by default', () => {
    const backoff = exponentialBackoff();
    expect(backoff.options).toEqual({ initialMs: 100, maxMs: 30_000, multiplier: 2, jitter: 'full' });
  });

  it('stays at maxMs for huge attempt numbers instead of overflowing', () => {
    const backoff = exponentialBackoff({ initialMs: 100, maxMs: 5_000, jitter: 'none' });
    expect(backoff(10_000, 0, none)).toBe(5_000);
    expect(backoff(Number.MAX_SAFE_INTEGER, 0, none)).toBe(5_000);
  });

  it('returns 0 for initialMs 0 whatever the attempt', () => {
    expect(exponentialBackoff({ initialMs: 0, jitter: 'none' })(5_000, 0, none)).toBe(0);
  });
});

describe('jitter with a faulty random source', () => {
  it.each([NaN, -1, 2, Infinity, -Infinity])('keeps delays within [0, maxMs] when random() returns %s', (r) => {
    for (const jitter of ['none', 'full', 'equal', 'decorrelated'] as const) {
      const delays = backoffDelays(exponentialBackoff({ initialMs: 10, maxMs: 100, jitter }), 10, () => r);
      for (const d of delays) {
        expect(Number.isNaN(d)).toBe(false);
        expect(d).toBeGreaterThanOrEqual(0);
        expect(d).toBeLessThanOrEqual(100);
      }
    }
  });
});

describe('backoff properties', () => {
  const jitterArb = fc.constantFrom<Jitter>('none', 'full', 'equal', 'decorrelated');
  const unitArb = fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true });

  it('exponential delays are always within [0, maxMs] and never NaN', () => {
    fc.assert(
      fc.property(
        fc.double({ min: 0, max: 1e7, noNaN: true }),
        fc.double({ min: 0, max: 1e7, noNaN: true }),
        fc.double({ min: 1, max: 1000, noNaN: true }),
        jitterArb,
        fc.array(unitArb, { minLength: 1, maxLength: 50 }),
        (a, b, multiplier, jitter, randoms) => {
          const [initialMs, maxMs] = a <= b ? [a, b] : [b, a];
          const backoff = exponentialBackoff({ initialMs, maxMs, multiplier, jitter });
          for (const d of backoffDelays(backoff, randoms.length, sequence(...randoms))) {
            if (Number.isNaN(d) || d < 0 || d > maxMs) return false;
          }
          return true;
        },
      ),
    );
  });

  it('equal jitter never rounds above the nominal delay, even for subnormal delays', () => {
    const tiny = exponentialBackoff({ initialMs: 0, maxMs: 7.4e-323, multiplier: 1, jitter: 'equal' });
    for (const d of backoffDelays(exponentialBackoff({ initialMs: 7.4e-323, maxMs: 7.4e-323, jitter: 'equal' }), 20, sequence(0.9375))) {
      expect(d).toBeLessThanOrEqual(7.4e-323);
    }
    expect(backoffDelays(tiny, 3, sequence(0.9375)).every((d) => d <= 7.4e-323)).toBe(true);
  });

  it('exponential delays stay bounded at any attempt number', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
        fc.double({ min: 0, max: 1e9, noNaN: true }),
        jitterArb,
        unitArb,
        (attempt, previous, jitter, r) => {
          const d = exponentialBackoff({ initialMs: 100, maxMs: 60_000, jitter })(attempt, previous, () => r);
          return !Number.isNaN(d) && d >= 0 && d <= 60_000;
        },
      ),
    );
  });

  it('equal jitter never goes below half the nominal delay', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 40 }), unitArb, (attempt, r) => {
        const nominal = Math.min(5_000, 100 * 2 ** (attempt - 1));
        const d = exponentialBackoff({ initialMs: 100, maxMs: 5_000, jitter: 'equal' })(attempt, 0, () => r);
        return d >= nominal / 2 && d <= nominal;
      }),
    );
  });

  it('linear and constant delays are always within [0, maxMs] and never NaN', () => {
    fc.assert(
      fc.property(
        fc.double({ min: 0, max: 1e6, noNaN: true }),
        fc.double({ min: 0, max: 1e6, noNaN: true }),
        fc.double({ min: 0, max: 1e6, noNaN: true }),
        fc.constantFrom('none', 'full', 'equal' as const),
        fc.integer({ min: 1, max: 1_000_000 }),
        unitArb,
        (a, b, stepMs, jitter, attempt, r) => {
          const [initialMs, maxMs] = a <= b ? [a, b] : [b, a];
          const linear = linearBackoff({ initialMs, stepMs, maxMs, jitter })(attempt, 0, () => r);
          const constant = constantBackoff(maxMs, { jitter })(attempt, 0, () => r);
          return [linear, constant].every((d) => !Number.isNaN(d) && d >= 0 && d <= maxMs);
        },
      ),
    );
  });
});

describe('backoff option validation', () => {
  it.each([
    ['negative initialMs', () => exponentialBackoff({ initialMs: -1 })],
    ['NaN maxMs', () => exponentialBackoff({ maxMs: NaN })],
    ['infinite maxMs', () => exponentialBackoff({ maxMs: Infinity })],
    ['maxMs beyond what timers can wait', () => exponentialBackoff({ maxMs: 2 ** 31 })],
    ['constant delay beyond what timers can wait', () => constantBackoff(2 ** 31)],
    ['initialMs above maxMs', () => exponentialBackoff({ initialMs: 500, maxMs: 100 })],
    ['multiplier below 1', () => exponentialBackoff({ multiplier: 0.5 })],
    ['unknown jitter', () => exponentialBackoff({ jitter: 'random' as never })],
    ['decorrelated linear jitter', () => linearBackoff({ jitter: 'decorrelated' as never })],
    ['negative stepMs', () => linearBackoff({ stepMs: -5 })],
    ['negative constant delay', () => constantBackoff(-1)],
    ['infinite constant delay', () => constantBackoff(Infinity)],
    ['options that are not an object', () => exponentialBackoff(5 as never)],
  ])('rejects %s with INVALID_OPTIONS', (_label, make) => {
    expect(make).toThrow(expect.objectContaining({ code: 'INVALID_OPTIONS' }));
  });

  it('names the factory, the option and the value', () => {
    try {
      exponentialBackoff({ multiplier: NaN });
      expect.unreachable();
    } catch (error) {
      expect(isXError(error, 'INVALID_OPTIONS')).toBe(true);
      expect((error as Error).message).toBe('exponentialBackoff: option "multiplier" must be a finite number in [1, 1000], got NaN');
    }
  });

  it('rejects any non-finite or negative number for every numeric option (fuzz)', () => {
    const bad = fc.oneof(
      fc.constantFrom(NaN, -Infinity, Infinity, -1, -0.001),
      fc.double({ max: -Number.MIN_VALUE, noNaN: true }),
      fc.string(),
      fc.constant(null),
    );
    fc.assert(
      fc.property(fc.constantFrom('initialMs', 'maxMs', 'multiplier'), bad, (option, value) => {
        try {
          exponentialBackoff({ [option]: value } as never);
          return false;
        } catch (error) {
          return isXError(error, 'INVALID_OPTIONS');
        }
      }),
    );
  });
});

describe('sanitizeDelay', () => {
  it('turns NaN, negatives and non-numbers into 0 and keeps Infinity', () => {
    expect(sanitizeDelay(NaN)).toBe(0);
    expect(sanitizeDelay(-5)).toBe(0);
    expect(sanitizeDelay('100' as never)).toBe(0);
    expect(sanitizeDelay(Infinity)).toBe(Infinity);
    expect(sanitizeDelay(12.5)).toBe(12.5);
  });
});
