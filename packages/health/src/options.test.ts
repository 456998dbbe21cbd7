import { isXError } from '@x/core';
import { createVirtualClock } from '@x/core/testing';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createBurnRateMonitor, createErrorBudget, createHealthMonitor } from './index.js';

/** The message of an INVALID_OPTIONS error, or a description of whatever else happened. */
function messageOf(make: () => unknown): string {
  try {
    make();
  } catch (error) {
    if (isXError(error, 'INVALID_OPTIONS')) return error.message;
    return `threw non-INVALID_OPTIONS ${String(error)}`;
  }
  return 'accepted';
}

/** The option an INVALID_OPTIONS error names, or a description of whatever else happened. */
function rejectedOption(make: () => unknown): string {
  try {
    make();
  } catch (error) {
    if (isXError(error, 'INVALID_OPTIONS')) return error.option;
    return `threw ${String(error)}`;
  }
  return 'accepted';
}

const clock = createVirtualClock();

/** Values that are never a valid positive integer duration or count. */
const notPositiveInteger = fc.oneof(
  fc.constantFrom(Number.NaN, Infinity, -Infinity, 0, -0, null, '100', true, {}),
  fc.integer({ max: 0 }),
  fc.double({ noNaN: true, noDefaultInfinity: true }).filter((x) => !Number.isInteger(x)),
);

/** Values that are never an SLO in (0, 1). */
const notSlo = fc.oneof(
  fc.constantFrom(0, 1, -0, Number.NaN, Infinity, '0.999', null, 99.9),
  fc.double({ noNaN: true }).filter((x) => !(x > 0 && x < 1)),
);

describe('createHealthMonitor options', () => {
  it('rejects any invalid number option with INVALID_OPTIONS naming it', () => {
    const numeric = ['intervalMs', 'timeoutMs', 'historySize', 'failureThreshold', 'successThreshold'] as const;
    fc.assert(
      fc.property(fc.constantFrom(...numeric), notPositiveInteger, (option, value) => {
        expect(rejectedOption(() => createHealthMonitor({ clock, [option]: value }))).toBe(option);
      }),
    );
  });

  it('rejects values past the upper limits', () => {
    expect(rejectedOption(() => createHealthMonitor({ clock, intervalMs: 2 ** 31 }))).toBe('intervalMs');
    expect(rejectedOption(() => createHealthMonitor({ clock, timeoutMs: 2 ** 31 }))).toBe('timeoutMs');
    expect(rejectedOption(() => createHealthMonitor({ clock, historySize: 10_001 }))).toBe('historySize');
    expect(rejectedOption(() => createHealthMonitor({ clock, failureThreshold: 1_001 }))).toBe('failureThreshold');
  });

  it('accepts every valid combination', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 2 ** 31 - 1 }),
        fc.integer({ min: 1, max: 2 ** 31 - 1 }),
        fc.integer({ min: 1, max: 10_000 }),
        fc.boolean(),
        (intervalMs, timeoutMs, historySize, unknownIsHealthy) => {
          expect(rejectedOption(() => createHealthMonitor({ clock, intervalMs, timeoutMs, historySize, unknownIsHealthy }))).toBe('accepted');
        },
      ),
    );
  });

  it('rejects unknown keys, non-object options, a bad name, clock, events or checks', () => {
    expect(rejectedOption(() => createHealthMonitor({ clock, interval: 5 } as never))).toBe('interval');
    expect(rejectedOption(() => createHealthMonitor('fast' as never))).toBe('options');
    expect(rejectedOption(() => createHealthMonitor({ clock, name: '' }))).toBe('name');
    expect(rejectedOption(() => createHealthMonitor({ clock: {} as never }))).toBe('clock');
    expect(rejectedOption(() => createHealthMonitor({ clock, events: { emit() {} } as never }))).toBe('events');
    expect(rejectedOption(() => createHealthMonitor({ clock, unknownIsHealthy: 1 as never }))).toBe('unknownIsHealthy');
    expect(rejectedOption(() => createHealthMonitor({ clock, checks: {} as never }))).toBe('checks');
    expect(rejectedOption(() => createHealthMonitor())).toBe('accepted');
  });

  it('rejects check names that are not unique non-empty strings', () => {
    fc.assert(
      fc.property(fc.oneof(fc.constantFrom('', null, undefined, 0, {}), fc.string({ minLength: 1 })), (name) => {
        const monitor = createHealthMonitor({ clock });
        if (typeof name === 'string' && name.length > 0) {
          monitor.register({ name, check: () => undefined });
          expect(rejectedOption(() => monitor.register({ name, check: () => undefined }))).toBe('name');
        } else {
          expect(rejectedOption(() => monitor.register({ name: name as never, check: () => undefined }))).toBe('name');
        }
      }),
    );
  });
});

describe('createErrorBudget options', () => {
  it('rejects any slo outside (0, 1)', () => {
    fc.assert(
      fc.property(notSlo, (slo) => {
        expect(rejectedOption(() => createErrorBudget({ clock, slo: slo as number, windowMs: 1_000 }))).toBe('slo');
      }),
    );
  });

  it('accepts any slo inside (0, 1)', () => {
    fc.assert(
      fc.property(fc.double({ min: Number.MIN_VALUE, max: 1, maxExcluded: true, noNaN: true }), (slo) => {
        expect(rejectedOption(() => createErrorBudget({ clock, slo, windowMs: 1_000 }))).toBe('accepted');
      }),
    );
  });

  it('rejects windowMs and bucketMs that are not positive integers', () => {
    fc.assert(
      fc.property(fc.constantFrom('windowMs', 'bucketMs'), notPositiveInteger, (option, value) => {
        expect(rejectedOption(() => createErrorBudget({ clock, slo: 0.999, windowMs: 1_000, [option]: value }))).toBe(option);
      }),
    );
  });

  it('requires bucketMs to divide windowMs into at most 100 000 buckets', () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 1e9 }), fc.integer({ min: 1, max: 1e9 }), (windowMs, bucketMs) => {
        const valid = bucketMs <= windowMs && windowMs % bucketMs === 0 && windowMs / bucketMs <= 100_000;
        expect(rejectedOption(() => createErrorBudget({ clock, slo: 0.99, windowMs, bucketMs }))).toBe(valid ? 'accepted' : 'bucketMs');
      }),
    );
    expect(rejectedOption(() => createErrorBudget({ clock, slo: 0.99, windowMs: 1_000_000, bucketMs: 1 }))).toBe('bucketMs');
    expect(rejectedOption(() => createErrorBudget({ clock, slo: 0.99, windowMs: 1_000_000, bucketMs: 10 }))).toBe('accepted');
  });

  it('needs bucketMs when windowMs is not a multiple of 100', () => {
    expect(rejectedOption(() => createErrorBudget({ clock, slo: 0.99, windowMs: 1_234 }))).toBe('bucketMs');
    expect(rejectedOption(() => createErrorBudget({ clock, slo: 0.99, windowMs: 1_234, bucketMs: 617 }))).toBe('accepted');
  });

  it('rejects a missing options object and unknown keys', () => {
    expect(rejectedOption(() => createErrorBudget(undefined as never))).toBe('options');
    expect(rejectedOption(() => createErrorBudget({ clock, slo: 0.99, window: 5 } as never))).toBe('window');
  });
});

describe('createBurnRateMonitor options', () => {
  const w = { severity: 'page', longWindowMs: 3_600_000, shortWindowMs: 300_000, threshold: 14.4 } as const;
  const make = (extra: Record<string, unknown>) => () => createBurnRateMonitor({ clock, slo: 0.999, ...extra });

  it('rejects any slo outside (0, 1)', () => {
    fc.assert(
      fc.property(notSlo, (slo) => {
        expect(rejectedOption(make({ slo }))).toBe('slo');
      }),
    );
  });

  it('rejects window lengths that are not positive integers', () => {
    fc.assert(
      fc.property(fc.constantFrom('longWindowMs', 'shortWindowMs'), notPositiveInteger, (key, value) => {
        expect(rejectedOption(make({ windows: [{ ...w, [key]: value }] }))).toBe(`windows[0].${key}`);
      }),
    );
  });

  it('rejects a short window that is not shorter than the long one', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1e6 }), fc.integer({ min: 0, max: 1e6 }), (long, extra) => {
        const windows = [{ ...w, longWindowMs: long * 60, shortWindowMs: (long + extra) * 60 }];
        expect(rejectedOption(make({ windows }))).toBe('windows[0].shortWindowMs');
      }),
    );
  });

  it('rejects thresholds that are not positive finite numbers, and unknown severities or keys', () => {
    fc.assert(
      fc.property(fc.oneof(fc.constantFrom(0, -1, Number.NaN, Infinity, '14.4', null), fc.double({ max: 0 })), (threshold) => {
        expect(rejectedOption(make({ windows: [{ ...w, threshold }] }))).toBe('windows[0].threshold');
      }),
    );
    expect(rejectedOption(make({ windows: [{ ...w, severity: 'sms' }] }))).toBe('windows[0].severity');
    expect(rejectedOption(make({ windows: [w, { ...w, long: 5 }] }))).toBe('long');
    expect(rejectedOption(make({ windows: [] }))).toBe('windows');
    expect(rejectedOption(make({ windows: w }))).toBe('windows');
    expect(rejectedOption(make({ windows: [null] }))).toBe('options');
  });

  it('requires every window length to be a multiple of bucketsPerWindow', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 10_000 }), fc.integer({ min: 2, max: 1e7 }), (buckets, long) => {
        const windows = [{ ...w, longWindowMs: long * buckets + 1, shortWindowMs: buckets }];
        const expected = buckets === 1 ? 'accepted' : 'windows[0].longWindowMs';
        expect(rejectedOption(make({ bucketsPerWindow: buckets, windows }))).toBe(expected);
      }),
    );
    expect(rejectedOption(make({ bucketsPerWindow: 0 }))).toBe('bucketsPerWindow');
    expect(rejectedOption(make({ bucketsPerWindow: 7 }))).toBe('windows[0].longWindowMs');
    expect(rejectedOption(make({ minRequests: 0 }))).toBe('minRequests');
  });
});

describe('INVALID_OPTIONS messages', () => {
  it('name the option, the allowed range and the value, and accept the boundaries', () => {
    expect(messageOf(() => createErrorBudget({ slo: 1.5 }))).toMatch(/"slo".*\(0, 1\).*got 1\.5/);
    expect(messageOf(() => createErrorBudget({ slo: 0.999, windowMs: 1_000, bucketMs: 3 }))).toMatch(/"bucketMs".*divides windowMs \(1000\).*got 3/);
    expect(messageOf(() => createHealthMonitor({ clock, intervalMs: 2 ** 31 }))).toMatch(/"intervalMs".*\[1, 2147483647\].*got 2147483648/);
    expect(messageOf(() => createHealthMonitor({ clock, historySize: 10_001 }))).toMatch(/"historySize".*\[1, 10000\].*got 10001/);
    expect(
      messageOf(() =>
        createBurnRateMonitor({ slo: 0.999, windows: [{ severity: 'page', longWindowMs: 3_600_000, shortWindowMs: 300_000, threshold: 0 }] }),
      ),
    ).toMatch(/"windows\[0\]\.threshold".*> 0.*got 0/);
    expect(messageOf(() => createBurnRateMonitor({ slo: 0.999, minRequests: 0 }))).toMatch(/"minRequests".*got 0/);
    const monitor = createHealthMonitor({ clock });
    expect(messageOf(() => monitor.register({ name: 't', value: () => 1, min: 5, max: 1 }))).toMatch(/"max".*>= 5.*got 1/);
    expect(messageOf(() => monitor.register({ name: 't', check: () => true, timeoutMs: 0 }))).toMatch(/"timeoutMs".*got 0/);
    const budget = createErrorBudget({ slo: 0.999, clock });
    expect(messageOf(() => budget.recordMany(-1, 0))).toMatch(/"successes".*got -1/);
    // Boundaries that must be accepted.
    expect(messageOf(() => createHealthMonitor({ clock, intervalMs: 2 ** 31 - 1, timeoutMs: 1, historySize: 10_000, failureThreshold: 1_000 }))).toBe('accepted');
    expect(messageOf(() => createErrorBudget({ slo: 0.999, windowMs: 100_000, bucketMs: 1 }))).toBe('accepted');
  });
});
