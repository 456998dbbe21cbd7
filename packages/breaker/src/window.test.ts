import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CountWindow, FAILURE_BIT, SLOW_BIT, TimeWindow } from './window.js';

const totals = (codes: readonly number[]) => ({
  calls: codes.length,
  failures: codes.filter((c) => c & FAILURE_BIT).length,
  slowCalls: codes.filter((c) => c & SLOW_BIT).length,
});

const view = (w: { calls: number; failures: number; slowCalls: number }) => ({ calls: w.calls, failures: w.failures, slowCalls: w.slowCalls });

describe('CountWindow', () => {
  it('matches the last `size` outcomes for any sequence (with clears)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 12 }),
        fc.array(fc.oneof(fc.integer({ min: 0, max: 3 }), fc.constant('clear' as const)), { maxLength: 80 }),
        (size, ops) => {
          const w = new CountWindow(size);
          let model: number[] = [];
          for (const op of ops) {
            if (op === 'clear') {
              w.clear();
              model = [];
            } else {
              w.record(0, op);
              model = [...model, op].slice(-size);
            }
            expect(view(w)).toEqual(totals(model));
          }
          const snapshot = w.snapshot();
          expect(snapshot).toEqual({ kind: 'count', outcomes: model });
          const copy = new CountWindow(size);
          expect(copy.restore(snapshot)).toBe(true);
          expect(view(copy)).toEqual(totals(model));
        },
      ),
    );
  });

  it('keeps the newest outcomes when restored into a smaller window', () => {
    const w = new CountWindow(3);
    w.restore({ kind: 'count', outcomes: [1, 1, 1, 0, 0] });
    expect(view(w)).toEqual({ calls: 3, failures: 1, slowCalls: 0 });
    expect(w.restore({ kind: 'time', bucketMs: 1, buckets: [] })).toBe(false);
    expect(w.calls).toBe(0);
  });
});

describe('TimeWindow', () => {
  it('matches a naive list of timestamped outcomes for any sequence of records and time steps', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 2_000 }),
        fc.integer({ min: 1, max: 12 }),
        fc.array(
          fc.oneof(
            fc.record({ advance: fc.oneof(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 0, max: 50_000 })) }),
            fc.record({ code: fc.integer({ min: 0, max: 3 }) }),
            fc.constant({ clear: true }),
          ),
          { maxLength: 120 },
        ),
        (ms, buckets, ops) => {
          const w = new TimeWindow(ms, buckets);
          const width = ms / buckets;
          let now = 1_700_000_000_000;
          let model: { at: number; code: number }[] = [];
          const live = () => {
            const current = Math.floor(now / width);
            return model.filter((r) => Math.floor(r.at / width) > current - buckets).map((r) => r.code);
          };
          for (const op of ops) {
            if ('advance' in op) now += op.advance;
            else if ('code' in op) {
              w.record(now, op.code);
              model.push({ at: now, code: op.code });
            } else {
              w.clear();
              model = [];
            }
            w.evict(now);
            expect(view(w)).toEqual(totals(live()));
          }
          const copy = new TimeWindow(ms, buckets);
          expect(copy.restore(w.snapshot())).toBe(true);
          copy.evict(now);
          expect(view(copy)).toEqual(totals(live()));
        },
      ),
    );
  });

  it('evicts every expired bucket after an idle gap, however long', () => {
    const w = new TimeWindow(5_000, 5);
    let now = 0;
    for (let i = 0; i < 4; i++) {
      w.record(now, FAILURE_BIT);
      now += 1_000;
    }
    expect(w.failures).toBe(4);
    now += 600_000;
    w.record(now, FAILURE_BIT);
    expect(view(w)).toEqual({ calls: 1, failures: 1, slowCalls: 0 });
  });

  it('keeps counting into the newest bucket if the clock steps back', () => {
    const w = new TimeWindow(1_000, 10);
    w.record(5_000, FAILURE_BIT);
    w.record(4_000, 0);
    expect(view(w)).toEqual({ calls: 2, failures: 1, slowCalls: 0 });
  });

  it('refuses a snapshot with another bucket size', () => {
    const w = new TimeWindow(1_000, 10);
    expect(w.restore({ kind: 'time', bucketMs: 50, buckets: [[1, 1, 1, 0]] })).toBe(false);
    expect(w.calls).toBe(0);
  });
});
