import { describe, expectTypeOf, it } from 'vitest';
import { compose, defaultEventBus, isXError } from '@x/core';
import type { ExecutionContext, Outcome, Policy } from '@x/core';
import {
  createRetry,
  createRetryBudget,
  exponentialBackoff,
  permanent,
  retryPresets,
  retryable,
  retryStatsOf,
  RetryExhaustedError,
} from './index.js';
import type { Backoff, RetryGiveUpReason, RetryPolicy, RetryResult, RetryStats } from './index.js';

describe('types', () => {
  it('a retry is a core Policy whose function gets the execution context', () => {
    const retry = createRetry();
    expectTypeOf(retry).toMatchTypeOf<Policy>();
    expectTypeOf(retry.execute(async (ctx) => ctx.attempt)).toEqualTypeOf<Promise<number>>();
    retry.execute((ctx) => {
      expectTypeOf(ctx).toMatchTypeOf<ExecutionContext>();
      expectTypeOf(ctx.attempt).toEqualTypeOf<number>();
      return 1;
    });
    expectTypeOf(retry.executeOutcome(() => 'x')).toEqualTypeOf<Promise<Outcome<string>>>();
    expectTypeOf(retry.executeWithStats(async () => ({ id: 1 }))).toEqualTypeOf<Promise<RetryResult<{ id: number }>>>();
    expectTypeOf<RetryResult<string>>().toMatchTypeOf<RetryStats & { value: string }>();
  });

  it('composes with other policies, keeping the result type', () => {
    const policy = compose(createRetry(), createRetry({ name: 'inner' }));
    expectTypeOf(policy.execute(async (ctx) => ctx.attempt)).toEqualTypeOf<Promise<number>>();
    expectTypeOf(policy.executeOutcome(async () => 'ok')).toEqualTypeOf<Promise<Outcome<string>>>();
  });

  it('registers its error codes for isXError narrowing', () => {
    const error: unknown = new Error();
    if (isXError(error, 'RETRY_EXHAUSTED')) {
      expectTypeOf(error).toEqualTypeOf<RetryExhaustedError>();
      expectTypeOf(error.reason).toEqualTypeOf<'exhausted' | 'deadline' | 'budget'>();
      expectTypeOf(error.attempts).toEqualTypeOf<number>();
    }
    if (isXError(error, 'UNACCEPTABLE_RESULT')) expectTypeOf(error.value).toEqualTypeOf<unknown>();
    expectTypeOf(retryStatsOf(error)).toEqualTypeOf<RetryStats | undefined>();
  });

  it('registers its events on the core bus', () => {
    const bus = defaultEventBus();
    bus.on('retry.gave_up', (e) => {
      expectTypeOf(e.reason).toEqualTypeOf<RetryGiveUpReason>();
      expectTypeOf(e.attempts).toEqualTypeOf<number>();
    });
    bus.on('retry.scheduled', (e) => {
      expectTypeOf(e.delayMs).toEqualTypeOf<number>();
      expectTypeOf(e.retryAfterMs).toEqualTypeOf<number | undefined>();
    });
    bus.on('retry.attempt_failed', (e) => expectTypeOf(e.durationMs).toEqualTypeOf<number>());
    bus.on('retry.succeeded', (e) => expectTypeOf(e.attempts).toEqualTypeOf<number>());
    bus.on('retry.budget_exhausted', (e) => expectTypeOf(e.policy).toEqualTypeOf<string>());
    bus.on('*', (e) => {
      if (e.type === 'retry.gave_up') expectTypeOf(e.totalDelayMs).toEqualTypeOf<number>();
    });
  });

  it('accepts backoff objects, plain functions of the attempt and numbers', () => {
    createRetry({ backoff: exponentialBackoff({ jitter: 'decorrelated' }) });
    createRetry({ backoff: (attempt) => attempt * 100 });
    createRetry({ backoff: 250 });
    expectTypeOf(exponentialBackoff()).toMatchTypeOf<Backoff>();
    // @ts-expect-error jitter is a closed set
    exponentialBackoff({ jitter: 'random' });
  });

  it('accepts presets, budgets and classification options', () => {
    class HttpError extends Error {}
    const retry: RetryPolicy = createRetry({
      ...retryPresets.aggressive,
      budget: createRetryBudget({ ratio: 0.2, minPerSecond: 5 }),
      retryOn: ['ECONNRESET', HttpError],
      retryOnResult: (value) => value === null,
      retryAfter: () => undefined,
    });
    expectTypeOf(retry.name).toEqualTypeOf<string>();
    // @ts-expect-error a single class must be in a list
    createRetry({ retryOn: 42 });
  });

  it('permanent() and retryable() return the error they are given', () => {
    expectTypeOf(permanent(new TypeError('x'))).toEqualTypeOf<TypeError>();
    expectTypeOf(retryable(new RangeError('x'))).toEqualTypeOf<RangeError>();
    expectTypeOf(permanent('text')).toEqualTypeOf<Error>();
  });
});
