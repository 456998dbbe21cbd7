import { InvalidOptionsError, createEventBus, isXError } from '@x/core';
import { createVirtualClock } from '@x/core/testing';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createAdaptiveConcurrency, createBulkhead } from './index.js';
import type { AdaptiveConcurrencyOptions, BulkheadOptions } from './index.js';

const events = createEventBus();
const clock = createVirtualClock();

function rejection(make: () => unknown): InvalidOptionsError | undefined {
  try {
    make();
    return undefined;
  } catch (error) {
    if (isXError(error, 'INVALID_OPTIONS')) return error;
    throw error;
  }
}

/** Anything a caller might pass where a number belongs. */
const anyValue = fc.oneof(
  fc.double(),
  fc.integer({ min: -5, max: 1_000 }),
  fc.constantFrom(0, -0, -1, 0.5, 1.5, Number.NaN, Infinity, -Infinity, Number.MAX_SAFE_INTEGER + 2),
  fc.string(),
  fc.boolean(),
  fc.constant(null),
  fc.constant(undefined),
);

const isLimit = (v: unknown) => typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= Number.MAX_SAFE_INTEGER;
const isQueue = (v: unknown) => v == null || v === Infinity || (typeof v === 'number' && Number.isInteger(v) && v >= 0);
const isWait = (v: unknown) => v == null || (typeof v === 'number' && v >= 0 && !Number.isNaN(v) && v !== -Infinity);

describe('createBulkhead options', () => {
  it('accepts exactly the valid maxConcurrent / maxQueue / maxWaitMs values (fuzz)', () => {
    fc.assert(
      fc.property(anyValue, anyValue, anyValue, (maxConcurrent, maxQueue, maxWaitMs) => {
        const options = { maxConcurrent, maxQueue, maxWaitMs, clock, events } as unknown as BulkheadOptions;
        const error = rejection(() => createBulkhead(options));
        const valid = isLimit(maxConcurrent) && isQueue(maxQueue) && isWait(maxWaitMs);
        expect(error === undefined).toBe(valid);
        if (error !== undefined) {
          // The message names the factory, the option and the value.
          expect(error.message).toMatch(/^createBulkhead: option "(maxConcurrent|maxQueue|maxWaitMs)" must be /);
          expect(['maxConcurrent', 'maxQueue', 'maxWaitMs']).toContain(error.option);
        }
      }),
      { numRuns: 2_000 },
    );
  });

  it('names the option, range and value in the message', () => {
    expect(() => createBulkhead({ maxConcurrent: 0 })).toThrow('createBulkhead: option "maxConcurrent" must be an integer in [1, 9007199254740991], got 0');
    expect(() => createBulkhead({ maxConcurrent: 2.5 })).toThrow(/"maxConcurrent".*got 2.5/);
    expect(() => createBulkhead({ maxConcurrent: Number.NaN })).toThrow(/"maxConcurrent".*got NaN/);
    expect(() => createBulkhead({ maxConcurrent: 1, maxQueue: -1 })).toThrow('createBulkhead: option "maxQueue" must be an integer >= 0, got -1');
    expect(() => createBulkhead({ maxConcurrent: 1, maxQueue: 1.5 })).toThrow(/"maxQueue".*got 1.5/);
    expect(() => createBulkhead({ maxConcurrent: 1, maxWaitMs: -1 })).toThrow('createBulkhead: option "maxWaitMs" must be a number >= 0, got -1');
    expect(() => createBulkhead({ maxConcurrent: 1, maxWaitMs: Number.NaN })).toThrow(/"maxWaitMs".*got NaN/);
  });

  it('allows no queue, an unbounded queue and an unbounded wait', () => {
    expect(createBulkhead({ maxConcurrent: 1, maxQueue: 0 }).stats().maxQueue).toBe(0);
    expect(createBulkhead({ maxConcurrent: 1, maxQueue: Infinity }).stats().maxQueue).toBe(Infinity);
    expect(createBulkhead({ maxConcurrent: 1, maxWaitMs: Infinity }).stats().maxWaitMs).toBe(Infinity);
    expect(createBulkhead({ maxConcurrent: 1, maxWaitMs: 0.5 }).stats().maxWaitMs).toBe(0.5);
  });

  it('rejects a missing options object, a bad order, name, clock or event bus', () => {
    expect(() => createBulkhead(undefined as unknown as BulkheadOptions)).toThrow(/option "options"/);
    expect(() => createBulkhead({} as BulkheadOptions)).toThrow(/option "maxConcurrent".*got undefined/);
    expect(() => createBulkhead({ maxConcurrent: 1, order: 'random' as 'fifo' })).toThrow(`option "order" must be one of 'fifo' | 'lifo', got "random"`);
    expect(() => createBulkhead({ maxConcurrent: 1, name: '' })).toThrow(/option "name"/);
    expect(() => createBulkhead({ maxConcurrent: 1, clock: {} as never })).toThrow(/option "clock" must be a Clock/);
    expect(() => createBulkhead({ maxConcurrent: 1, events: { emit() {} } as never })).toThrow(/option "events" must be an EventBus/);
  });
});

describe('createAdaptiveConcurrency options', () => {
  const target = { setLimit() {} };

  it('accepts exactly the valid bounds (fuzz)', () => {
    fc.assert(
      fc.property(anyValue, anyValue, anyValue, (min, max, initial) => {
        const options = { target, min, max, initial, clock, events } as unknown as AdaptiveConcurrencyOptions;
        const error = rejection(() => createAdaptiveConcurrency(options));
        // null counts as unset, like undefined.
        const lo = min ?? 1;
        const hi = max ?? Math.max(200, typeof lo === 'number' ? lo : 0);
        const valid =
          isLimit(lo) &&
          isLimit(hi) &&
          (hi as number) >= (lo as number) &&
          (initial == null || (isLimit(initial) && (initial as number) >= (lo as number) && (initial as number) <= (hi as number)));
        expect(error === undefined).toBe(valid);
      }),
      { numRuns: 2_000 },
    );
  });

  it('validates the algorithm settings and refuses settings of the other algorithm', () => {
    const bad: [Partial<AdaptiveConcurrencyOptions>, RegExp][] = [
      [{ algorithm: 'vegas' as 'aimd' }, /option "algorithm"/],
      [{ algorithm: 'aimd', backoffRatio: 1 }, /"backoffRatio" must be a number in \(0, 1\), got 1/],
      [{ algorithm: 'aimd', backoffRatio: 0 }, /"backoffRatio"/],
      [{ algorithm: 'aimd', increase: 0 }, /"increase"/],
      [{ algorithm: 'aimd', latencyThresholdMs: -5 }, /"latencyThresholdMs"/],
      [{ algorithm: 'aimd', tolerance: 2 }, /"tolerance" must be left unset: it only applies to algorithm 'gradient'/],
      [{ algorithm: 'gradient', tolerance: 0.9 }, /"tolerance"/],
      [{ algorithm: 'gradient', smoothing: 0 }, /"smoothing"/],
      [{ algorithm: 'gradient', smoothing: 1.5 }, /"smoothing"/],
      [{ algorithm: 'gradient', queueSize: -1 }, /"queueSize"/],
      [{ algorithm: 'gradient', windowMs: 0 }, /"windowMs"/],
      [{ algorithm: 'gradient', minWindowSamples: 0.5 }, /"minWindowSamples"/],
      [{ algorithm: 'gradient', longWindow: 0 }, /"longWindow"/],
      [{ algorithm: 'gradient', backoffRatio: 0.5 }, /only applies to algorithm 'aimd'/],
      [{ classify: 'drop' as never }, /"classify"/],
    ];
    for (const [options, message] of bad) {
      expect(() => createAdaptiveConcurrency({ target, clock, events, ...options })).toThrow(message);
    }
    expect(() => createAdaptiveConcurrency({ target: {} as never })).toThrow(/"target.setLimit"/);
    expect(() => createAdaptiveConcurrency(null as never)).toThrow(/"options"/);
  });

  it('starts from the target limit when no initial is given, within the bounds', () => {
    const applied: number[] = [];
    const bulkheadLike = { limit: 30, setLimit: (n: number) => applied.push(n) };
    expect(createAdaptiveConcurrency({ target: bulkheadLike, clock, events }).currentLimit).toBe(30);
    expect(applied).toEqual([]);
    expect(createAdaptiveConcurrency({ target: bulkheadLike, max: 10, clock, events }).currentLimit).toBe(10);
    expect(createAdaptiveConcurrency({ target: { setLimit: (n: number) => applied.push(n) }, clock, events }).currentLimit).toBe(20);
    expect(applied).toEqual([10, 20]);
    expect(createAdaptiveConcurrency({ target: { limit: 500, setLimit() {} }, clock, events }).stats().limit).toBe(500);
  });
});

describe('createBulkhead: misspelt options', () => {
  it('names an unknown option instead of silently ignoring it', () => {
    expect(() => createBulkhead({ maxConcurrent: 1, maxQeue: 5 } as never)).toThrow(/createBulkhead: option "maxQeue" must be absent: createBulkhead has no such option/);
  });
});
