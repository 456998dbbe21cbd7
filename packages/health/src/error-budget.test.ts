import { gc } from '@x/test-support';
import { createEventBus, isXError } from '@x/core';
import type { XEventMap } from '@x/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createErrorBudget } from './index.js';
import type { ErrorBudgetOptions } from './index.js';
import { manualClock, recordingBus, SLOS } from './test-helpers.js';

const HOUR = 3_600_000;

function setup(options: Omit<ErrorBudgetOptions, 'clock' | 'events'>) {
  const clock = manualClock();
  const { events, seen } = recordingBus();
  const budget = createErrorBudget({ name: 'checkout', clock, events, ...options });
  const ofType = <K extends keyof XEventMap>(type: K) => seen.filter((e): e is XEventMap[K] => e.type === type);
  return { clock, events, seen, budget, ofType };
}

describe('error budget maths', () => {
  it('one failure in 2 000 requests at 99.9 % consumes exactly half the budget', () => {
    const { budget } = setup({ slo: 0.999, windowMs: HOUR });
    for (let i = 0; i < 1_999; i++) budget.record(true);
    budget.record(false);
    expect(budget.consumed).toBe(0.5);
    expect(budget.remaining).toBe(0.5);
    expect(budget.exhausted).toBe(false);
    expect(budget.requests).toBe(2_000);
    expect(budget.failures).toBe(1);
    expect(budget.errorRate).toBe(0.0005);

    const batch = setup({ slo: 0.999, windowMs: HOUR }).budget;
    batch.recordMany(1_999, 1);
    expect(batch.consumed).toBe(0.5);
  });

  it('has consumed 0 and remaining 1 with no requests, and with only successes', () => {
    const { budget } = setup({ slo: 0.99, windowMs: HOUR });
    expect(budget.snapshot()).toMatchObject({ requests: 0, failures: 0, errorRate: 0, consumed: 0, remaining: 1, exhausted: false });
    budget.recordMany(500, 0);
    expect(budget.snapshot()).toMatchObject({ requests: 500, consumed: 0, remaining: 1 });
  });

  it('is exhausted at consumed >= 1, and remaining goes negative when overspent', () => {
    const { budget, ofType } = setup({ slo: 0.99, windowMs: HOUR });
    budget.recordMany(99, 0);
    budget.record(false); // 1 in 100 at 99 %: exactly the allowance
    expect(budget.consumed).toBe(1);
    expect(budget.remaining).toBe(0);
    expect(budget.exhausted).toBe(true);
    budget.recordMany(0, 2); // 3 in 102
    expect(budget.consumed).toBeCloseTo(3 / 1.02, 12);
    expect(budget.remaining).toBeLessThan(-1.9);
    const exhausted = ofType('health.error_budget_exhausted');
    expect(exhausted).toHaveLength(1);
    expect(exhausted[0]).toMatchObject({ source: 'health', name: 'checkout', slo: 0.99, windowMs: HOUR, requests: 100, failures: 1, consumed: 1, remaining: 0 });
  });

  it('recovers as the failures slide out of the window, with one event each way', () => {
    const { budget, clock, ofType } = setup({ slo: 0.999, windowMs: HOUR, bucketMs: 60_000 });
    budget.recordMany(998, 2); // consumed 1: exhausted
    expect(budget.exhausted).toBe(true);
    clock.advance(30 * 60_000);
    budget.recordMany(1_000, 0); // failures diluted: 2 / (2 000 × 0.001) = 1, still exhausted
    expect(budget.exhausted).toBe(true);
    clock.advance(30 * 60_000); // the first batch's bucket leaves the window
    expect(budget.snapshot()).toMatchObject({ requests: 1_000, failures: 0, consumed: 0, exhausted: false });
    expect(ofType('health.error_budget_exhausted')).toHaveLength(1);
    const recovered = ofType('health.error_budget_recovered');
    expect(recovered).toHaveLength(1);
    expect(recovered[0]).toMatchObject({ requests: 1_000, failures: 0, consumed: 0, remaining: 1, time: clock.now() });
  });

  it('recovers when successes dilute the failures', () => {
    const { budget, ofType } = setup({ slo: 0.999, windowMs: HOUR });
    budget.recordMany(0, 1); // 1 failure in 1 request: consumed 1 000
    expect(budget.exhausted).toBe(true);
    budget.recordMany(1_999, 0);
    expect(budget.consumed).toBe(0.5);
    expect(ofType('health.error_budget_recovered')).toHaveLength(1);
  });

  it('counts a request for at least windowMs − bucketMs and less than windowMs', () => {
    const { budget, clock } = setup({ slo: 0.9, windowMs: 1_000, bucketMs: 100 });
    clock.advance(50); // mid-bucket
    budget.record(false);
    clock.advance(899); // 949 ms after the bucket start
    expect(budget.failures).toBe(1);
    clock.advance(50); // 999 ms after the bucket start: still the tenth bucket back
    expect(budget.failures).toBe(1);
    clock.advance(1); // 1 000 ms after the bucket start: gone, 950 ms after the record
    expect(budget.failures).toBe(0);
  });

  it('forgets everything after an idle gap longer than the window', () => {
    const { budget, clock, ofType } = setup({ slo: 0.999, windowMs: HOUR });
    budget.recordMany(10, 10);
    clock.advance(50 * HOUR);
    expect(budget.snapshot()).toMatchObject({ requests: 0, failures: 0, consumed: 0, exhausted: false });
    budget.record(true);
    expect(budget.requests).toBe(1);
    expect(ofType('health.error_budget_recovered')).toHaveLength(1);
  });

  it('works with a clock that reads before the epoch', () => {
    const clock = manualClock(-5_500);
    const budget = createErrorBudget({ slo: 0.9, windowMs: 1_000, bucketMs: 100, clock });
    budget.recordMany(9, 1);
    clock.advance(500);
    budget.recordMany(0, 1);
    expect(budget.snapshot()).toMatchObject({ requests: 11, failures: 2 });
    clock.advance(600);
    expect(budget.snapshot()).toMatchObject({ requests: 1, failures: 1 });
  });

  it('reset forgets everything and reports the recovery', () => {
    const { budget, ofType } = setup({ slo: 0.999, windowMs: HOUR });
    budget.recordMany(0, 5);
    budget.reset();
    expect(budget.snapshot()).toMatchObject({ requests: 0, exhausted: false, remaining: 1 });
    expect(ofType('health.error_budget_recovered')).toHaveLength(1);
  });

  it('recordMany rejects counts that are not non-negative safe integers and counts nothing', () => {
    const { budget } = setup({ slo: 0.999, windowMs: HOUR });
    for (const [s, f] of [[-1, 0], [0, -1], [1.5, 0], [0, Number.NaN], [Infinity, 0], [2 ** 53, 0], ['1', 0]] as const) {
      let error: unknown;
      try {
        budget.recordMany(s as number, f);
      } catch (e) {
        error = e;
      }
      expect(isXError(error, 'INVALID_OPTIONS')).toBe(true);
    }
    expect(budget.requests).toBe(0);
  });

  it('a throwing listener does not stop the record from counting', () => {
    const { budget, events } = setup({ slo: 0.999, windowMs: HOUR });
    events.on('health.error_budget_exhausted', () => {
      throw new Error('listener broke');
    });
    budget.record(false);
    expect(budget.failures).toBe(1);
    expect(budget.exhausted).toBe(true);
  });

  it('defaults to a 30-day window in 100 buckets', () => {
    const budget = createErrorBudget({ slo: 0.999, clock: manualClock() });
    expect(budget.windowMs).toBe(30 * 24 * HOUR);
    expect(budget.bucketMs).toBe(30 * 24 * HOUR / 100);
    expect(budget.name).toBe('error-budget');
  });
});

describe('error budget memory', () => {
  it('keeps memory constant across millions of records spread over time', () => {
    const clock = manualClock();
    // No listeners: the events a recording bus keeps would be the only thing that grows.
    const budget = createErrorBudget({ slo: 0.999, windowMs: 60_000, bucketMs: 1_000, clock, events: createEventBus() });
    const warmup = () => {
      for (let i = 0; i < 100_000; i++) {
        clock.advance(1);
        budget.record(i % 1_000 !== 0);
      }
    };
    warmup();
    gc();
    const before = process.memoryUsage().heapUsed;
    for (let i = 0; i < 3_000_000; i++) {
      clock.advance(1);
      budget.record(i % 1_000 !== 0); // one failure per 1 000 requests, one request per ms
    }
    gc();
    const grown = process.memoryUsage().heapUsed - before;
    expect(grown).toBeLessThan(1_000_000);
    // The window holds 59 full buckets plus the current partial one: about 60 000 requests.
    const { requests, failures } = budget.snapshot();
    expect(requests).toBeGreaterThan(59_000);
    expect(requests).toBeLessThanOrEqual(60_000);
    expect(failures).toBeGreaterThanOrEqual(59);
    expect(failures).toBeLessThanOrEqual(60);
  });
});


describe('error budget at exactly its allowance', () => {
  it('exhausts a 99.999 % budget at exactly its allowance: 3 failures in 300 000 requests', () => {
    const { budget, ofType } = setup({ slo: 0.99999, windowMs: HOUR });
    budget.recordMany(299_997, 3);
    expect(budget.snapshot()).toMatchObject({ consumed: 1, remaining: 0, exhausted: true });
    expect(ofType('health.error_budget_exhausted')).toHaveLength(1);
  });

  it('exhausts a budget at exactly its allowance, for every SLO, and not one failure before', () => {
    fc.assert(
      fc.property(fc.constantFrom(...SLOS), fc.integer({ min: 1, max: 100_000 }), fc.integer({ min: 1, max: 5 }), ([slo, perFailure], allowed, batches) => {
        const requests = allowed * perFailure;
        // One failure short of the allowance, spread over a few batches.
        const { budget, ofType } = setup({ slo, windowMs: HOUR });
        for (let i = 0; i < batches; i++) {
          const failures = i === 0 ? allowed - 1 : 0;
          const successes = i === 0 ? requests - allowed - (batches - 1) : 1;
          budget.recordMany(successes, failures);
        }
        expect(budget.requests).toBe(requests - 1);
        expect(budget.exhausted).toBe(false);
        expect(budget.consumed).toBeLessThan(1);
        // The failure that reaches the allowance exhausts it: consumed is exactly 1.
        budget.record(false);
        expect(budget.snapshot()).toMatchObject({ requests, failures: allowed, consumed: 1, remaining: 0, exhausted: true });
        expect(ofType('health.error_budget_exhausted')).toHaveLength(1);
        expect(ofType('health.error_budget_exhausted')[0]).toMatchObject({ consumed: 1, remaining: 0 });
        // One more success dilutes it below the allowance again.
        budget.record(true);
        expect(budget.exhausted).toBe(false);
        expect(ofType('health.error_budget_recovered')).toHaveLength(1);
      }),
      { numRuns: 500 },
    );
  });

  it('decides exhaustion exactly for any SLO of up to 8 decimals, at and around the allowance', () => {
    const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 8 }).chain((digits) => fc.tuple(fc.constant(10 ** digits), fc.integer({ min: 1, max: 10 ** digits - 1 }))),
        fc.integer({ min: 1, max: 50_000 }),
        fc.integer({ min: -2, max: 2 }),
        ([scale, units], multiple, offset) => {
          const slo = units / scale; // e.g. 0.97, 0.12345678: 1 − slo is exactly (scale − units) / scale
          const divisor = gcd(scale - units, scale);
          const allowedFailures = (scale - units) / divisor; // per `perRequests` requests
          const perRequests = scale / divisor;
          const requests = multiple * perRequests;
          const failures = Math.min(requests, Math.max(0, multiple * allowedFailures + offset));
          const { budget } = setup({ slo, windowMs: HOUR });
          budget.recordMany(requests - failures, failures);
          const exhausted = BigInt(failures) * BigInt(perRequests) >= BigInt(requests) * BigInt(allowedFailures);
          expect(budget.exhausted).toBe(exhausted);
          // consumed is the exact ratio rounded once while both products stay below 2^53 (README).
          if (requests * perRequests <= Number.MAX_SAFE_INTEGER) {
            if (failures === multiple * allowedFailures) expect(budget.consumed).toBe(1);
            expect(budget.consumed >= 1).toBe(exhausted);
          }
        },
      ),
      { numRuns: 1_000 },
    );
  });

  it('reports half the budget at exactly half the allowance, for every SLO', () => {
    fc.assert(
      fc.property(fc.constantFrom(...SLOS), fc.integer({ min: 1, max: 100_000 }), ([slo, perFailure], failures) => {
        const { budget } = setup({ slo, windowMs: HOUR });
        budget.recordMany(2 * failures * perFailure - failures, failures);
        expect(budget.snapshot()).toMatchObject({ consumed: 0.5, remaining: 0.5, exhausted: false });
      }),
      { numRuns: 300 },
    );
  });
});

describe('error budget properties', () => {
  it('consumed equals a brute-force recomputation over the window after any sequence of records and waits', () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant('wait' as const), ms: fc.integer({ min: 0, max: 2_500 }) }),
      fc.record({ kind: fc.constant('record' as const), successes: fc.integer({ min: 0, max: 50 }), failures: fc.integer({ min: 0, max: 5 }) }),
    );
    fc.assert(
      fc.property(
        fc.constantFrom(0.9, 0.99, 0.999, 0.5, 0.95),
        fc.constantFrom([1_000, 100], [1_000, 250], [1_000, 1_000], [600, 1]),
        fc.integer({ min: 0, max: 10_000 }),
        fc.array(op, { maxLength: 60 }),
        (slo, [windowMs, bucketMs], start, ops) => {
          const clock = manualClock(start);
          const budget = createErrorBudget({ slo, windowMs: windowMs as number, bucketMs: bucketMs as number, clock });
          const log: { t: number; successes: number; failures: number }[] = [];
          for (const o of ops) {
            if (o.kind === 'wait') clock.advance(o.ms);
            else {
              budget.recordMany(o.successes, o.failures);
              log.push({ t: clock.now(), successes: o.successes, failures: o.failures });
            }
            const now = clock.now();
            const buckets = (windowMs as number) / (bucketMs as number);
            const inWindow = log.filter((e) => Math.floor(e.t / (bucketMs as number)) > Math.floor(now / (bucketMs as number)) - buckets);
            const requests = inWindow.reduce((n, e) => n + e.successes + e.failures, 0);
            const failures = inWindow.reduce((n, e) => n + e.failures, 0);
            const expected = requests === 0 ? 0 : failures / (requests * (1 - slo));
            const snapshot = budget.snapshot();
            expect(snapshot.requests).toBe(requests);
            expect(snapshot.failures).toBe(failures);
            expect(Math.abs(snapshot.consumed - expected)).toBeLessThanOrEqual(1e-9 * Math.max(1, expected));
            expect(snapshot.exhausted).toBe(snapshot.consumed >= 1);
            // The documented window: everything younger than windowMs − bucketMs counts, nothing older than windowMs.
            const sure = log.filter((e) => now - e.t < (windowMs as number) - (bucketMs as number));
            const possible = log.filter((e) => now - e.t < (windowMs as number));
            expect(snapshot.requests).toBeGreaterThanOrEqual(sure.reduce((n, e) => n + e.successes + e.failures, 0));
            expect(snapshot.requests).toBeLessThanOrEqual(possible.reduce((n, e) => n + e.successes + e.failures, 0));
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('emits exhausted and recovered alternately, matching every change of exhausted', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 400 }), fc.integer({ min: 0, max: 30 }), fc.integer({ min: 0, max: 3 })), { maxLength: 40 }),
        (steps) => {
          const clock = manualClock();
          const { events, seen } = recordingBus();
          const budget = createErrorBudget({ slo: 0.99, windowMs: 1_000, bucketMs: 100, clock, events });
          let changes = 0;
          let last = false;
          for (const [wait, successes, failures] of steps) {
            clock.advance(wait);
            budget.recordMany(successes, failures);
            if (budget.exhausted !== last) {
              changes++;
              last = !last;
            }
          }
          const types = seen.map((e) => e.type).filter((type) => type.startsWith('health.'));
          expect(types).toHaveLength(changes);
          types.forEach((type, i) => expect(type).toBe(i % 2 === 0 ? 'health.error_budget_exhausted' : 'health.error_budget_recovered'));
        },
      ),
    );
  });
});
