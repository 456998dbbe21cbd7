import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { createEventBus, isXError } from '@x/core';
import { createVirtualClock } from '@x/core/testing';
import { createRetryBudget } from './budget.js';
import type { RetryBudgetOptions } from './budget.js';
import type { RetryExhaustedError } from './errors.js';
import { createRetry } from './retry.js';
import { flaky, recordingBus, settle } from './test-helpers.js';

function budgetOn(options: Partial<RetryBudgetOptions> = {}) {
  const clock = createVirtualClock({ now: 0 });
  const { events, seen } = recordingBus();
  const budget = createRetryBudget({ ratio: 0.5, minPerSecond: 0, windowMs: 10_000, clock, events, ...options });
  return { clock, budget, seen, events };
}

describe('createRetryBudget', () => {
  it('grants retries up to ratio × recent calls and refuses the rest', () => {
    const { budget } = budgetOn({ ratio: 0.5 });
    for (let i = 0; i < 10; i++) budget.recordCall();
    const granted = Array.from({ length: 8 }, () => budget.tryAcquireRetry('p')).filter(Boolean).length;
    expect(granted).toBe(5);
    expect(budget.snapshot()).toEqual({ calls: 10, retries: 5, allowance: 5, canRetry: false });
  });

  it('adds minPerSecond × window seconds on top of the ratio', () => {
    const { budget } = budgetOn({ ratio: 0, minPerSecond: 2, windowMs: 5_000 });
    const granted = Array.from({ length: 20 }, () => budget.tryAcquireRetry('p')).filter(Boolean).length;
    expect(granted).toBe(10);
  });

  it('refuses every retry with ratio 0 and minPerSecond 0', () => {
    const { budget } = budgetOn({ ratio: 0 });
    for (let i = 0; i < 100; i++) budget.recordCall();
    expect(budget.tryAcquireRetry('p')).toBe(false);
  });

  it('emits retry.budget_exhausted with the counts when it refuses', () => {
    const { budget, seen } = budgetOn({ name: 'shared', ratio: 0.5 });
    budget.recordCall();
    budget.recordCall();
    budget.tryAcquireRetry('users');
    budget.tryAcquireRetry('orders');
    expect(seen).toEqual([
      {
        type: 'retry.budget_exhausted',
        source: 'retry',
        name: 'shared',
        time: 0,
        policy: 'orders',
        calls: 2,
        retries: 1,
        allowance: 1,
      },
    ]);
  });

  it('recovers as the window slides, one bucket (a tenth of the window) at a time', async () => {
    const { budget, clock } = budgetOn({ ratio: 1, windowMs: 10_000 });
    const grant = (n: number) => Array.from({ length: n }, () => budget.tryAcquireRetry('p')).filter(Boolean).length;
    for (let i = 0; i < 4; i++) budget.recordCall(); // t = 0
    expect(grant(10)).toBe(4);
    await clock.advance(5_000);
    for (let i = 0; i < 4; i++) budget.recordCall(); // t = 5000
    expect(grant(10)).toBe(4);

    await clock.advance(4_999); // t = 9999: t = 0 is still inside the window
    expect(budget.snapshot()).toMatchObject({ calls: 8, retries: 8, canRetry: false });
    await clock.advance(1); // t = 10000: the t = 0 bucket leaves
    expect(budget.snapshot()).toMatchObject({ calls: 4, retries: 4, canRetry: false });
    budget.recordCall();
    expect(grant(10)).toBe(1);
    await clock.advance(5_000); // t = 15000: the t = 5000 bucket leaves
    expect(budget.snapshot()).toMatchObject({ calls: 1, retries: 1 });
  });

  it('forgets everything after an idle gap longer than the window', async () => {
    const { budget, clock } = budgetOn({ ratio: 1 });
    for (let i = 0; i < 50; i++) budget.recordCall();
    for (let i = 0; i < 50; i++) budget.tryAcquireRetry('p');
    await clock.advance(10 * 60_000);
    expect(budget.snapshot()).toEqual({ calls: 0, retries: 0, allowance: 0, canRetry: false });
  });

  it('matches a naive model that keeps every event (property)', () => {
    const windowMs = 1_000;
    const bucketMs = windowMs / 10;
    type Op = { kind: 'call' } | { kind: 'retry' } | { kind: 'wait'; ms: number };
    const op = fc.oneof(
      fc.constant<Op>({ kind: 'call' }),
      fc.constant<Op>({ kind: 'retry' }),
      fc.integer({ min: 0, max: 1_500 }).map<Op>((ms) => ({ kind: 'wait', ms })),
    );
    fc.assert(
      fc.property(
        fc.array(op, { maxLength: 200 }),
        fc.double({ min: 0, max: 3, noNaN: true }),
        fc.integer({ min: 0, max: 5 }),
        (ops, ratio, minPerSecond) => {
          let now = 0;
          const budget = createRetryBudget({
            ratio,
            minPerSecond,
            windowMs,
            clock: { now: () => now, setTimeout: () => 0, clearTimeout: () => undefined },
            events: createEventBus(),
          });
          const calls: number[] = [];
          const retries: number[] = [];
          const live = (times: number[]) => times.filter((t) => Math.floor(t / bucketMs) > Math.floor(now / bucketMs) - 10).length;
          for (const o of ops) {
            if (o.kind === 'wait') now += o.ms;
            else if (o.kind === 'call') {
              budget.recordCall();
              calls.push(now);
            } else {
              // The documented comparison: a shortfall below one part in 10^12 (binary rounding of
              // decimal ratios) does not cost a retry.
              const allowance = ratio * live(calls) + (minPerSecond * windowMs) / 1000;
              const expected = live(retries) + 1 <= allowance + 1e-12 * Math.max(1, allowance);
              if (budget.tryAcquireRetry('p') !== expected) return false;
              if (expected) retries.push(now);
            }
            const snap = budget.snapshot();
            if (snap.calls !== live(calls) || snap.retries !== live(retries)) return false;
          }
          return true;
        },
      ),
      { numRuns: 300 },
    );
  });

  it.each([
    [{ ratio: -0.1, minPerSecond: 0 }],
    [{ ratio: NaN, minPerSecond: 0 }],
    [{ ratio: 0.2, minPerSecond: Infinity }],
    [{ ratio: 0.2, minPerSecond: -1 }],
    [{ ratio: 0.2, minPerSecond: 1, windowMs: 0 }],
    [{ ratio: 0.2, minPerSecond: 1, windowMs: 5 }],
    [{ ratio: 0.2 }],
    [{ minPerSecond: 1 }],
    [{ ratio: 0.2, minPerSecond: 1, name: '' }],
    [{ ratio: 0.2, minPerSecond: 1, clock: {} }],
    [{ ratio: 0.2, minPerSecond: 1, window: 5_000 }],
    [undefined],
  ])('rejects invalid options %j with INVALID_OPTIONS', (options) => {
    try {
      createRetryBudget(options as never);
      expect.unreachable();
    } catch (error) {
      expect(isXError(error, 'INVALID_OPTIONS')).toBe(true);
    }
  });
});

describe('a budget shared by retry policies', () => {
  it('refuses retries beyond the ratio and the retry ends with RetryExhaustedError reason budget', async () => {
    const clock = createVirtualClock();
    const { events, seen } = recordingBus();
    const budget = createRetryBudget({ name: 'db', ratio: 0.2, minPerSecond: 0, clock, events });
    const users = createRetry({ name: 'users', budget, clock, events, backoff: 10, maxAttempts: 3 });
    const orders = createRetry({ name: 'orders', budget, clock, events, backoff: 10, maxAttempts: 3 });

    // 10 healthy calls earn 2 retries.
    for (let i = 0; i < 5; i++) await users.execute(async () => 'ok');
    for (let i = 0; i < 5; i++) await orders.execute(async () => 'ok');

    // The dependency goes down. users' 11th call may retry twice (2 ≤ 0.2 × 11)...
    const first = settle(users.execute(flaky(10, 'x').fn));
    await clock.runAll();
    // ...after which orders' 12th call may not (3 > 0.2 × 12).
    const second = settle(orders.execute(flaky(10, 'x').fn));
    await clock.runAll();
    const a = first.state.error as RetryExhaustedError;
    const b = second.state.error as RetryExhaustedError;
    expect([a.reason, a.attempts]).toEqual(['exhausted', 3]);
    expect([b.reason, b.attempts]).toEqual(['budget', 1]);
    expect(b.message).toBe('retry "orders" failed after 1 attempt; the retry budget refused another retry: failure 1');
    expect(seen.filter((e) => e.type === 'retry.budget_exhausted')).toEqual([
      expect.objectContaining({ name: 'db', policy: 'orders', calls: 12, retries: 2 }),
    ]);
    expect(seen.filter((e) => e.type === 'retry.gave_up' && e.reason === 'budget')).toEqual([
      expect.objectContaining({ name: 'orders', attempts: 1 }),
    ]);
  });

  it('does not spend budget on a retry the deadline would refuse anyway', async () => {
    const clock = createVirtualClock();
    const budget = createRetryBudget({ ratio: 0, minPerSecond: 0.1, windowMs: 10_000, clock, events: createEventBus() });
    const retry = createRetry({ budget, clock, events: createEventBus(), backoff: 1_000 });
    const result = settle(retry.execute(flaky(10, 'x').fn, { deadline: clock.now() + 500 }));
    await clock.runAll();
    expect((result.state.error as RetryExhaustedError).reason).toBe('deadline');
    expect(budget.snapshot().retries).toBe(0);
  });
});
