import { compose, createEventBus, fallback, isXError } from '@x/core';
import type { ExecutionContext, Outcome, Policy, XEvent } from '@x/core';
import { describe, expectTypeOf, it } from 'vitest';
import { breakerPresets, createBreaker, createBreakerGroup } from './index.js';
import type {
  Breaker,
  BreakerEvent,
  BreakerOpenError,
  BreakerPermit,
  BreakerSnapshot,
  BreakerState,
  BreakerStats,
  BreakerTooManyCallsError,
} from './index.js';

describe('types', () => {
  it('a breaker is a core Policy that keeps the function result type', () => {
    const breaker = createBreaker({ name: 'db' });
    expectTypeOf(breaker).toEqualTypeOf<Breaker>();
    expectTypeOf(breaker).toExtend<Policy>();
    expectTypeOf(breaker.execute(() => 1)).toEqualTypeOf<Promise<number>>();
    expectTypeOf(breaker.execute(async (ctx) => ctx.attempt)).toEqualTypeOf<Promise<number>>();
    expectTypeOf(breaker.executeOutcome(() => 'x')).toEqualTypeOf<Promise<Outcome<string>>>();
    expectTypeOf(breaker.execute).parameter(0).parameter(0).toExtend<ExecutionContext>();
    expectTypeOf(breaker.state).toEqualTypeOf<BreakerState>();
    expectTypeOf(breaker.stats()).toEqualTypeOf<BreakerStats>();
    expectTypeOf(breaker.tryAcquire()).toEqualTypeOf<BreakerPermit | null>();
    expectTypeOf(breaker.toJSON()).toEqualTypeOf<BreakerSnapshot>();
  });

  it('registers its error codes, so isXError narrows', () => {
    const error: unknown = null;
    if (isXError(error, 'BREAKER_OPEN')) {
      expectTypeOf(error).toEqualTypeOf<BreakerOpenError>();
      expectTypeOf(error.retryAfterMs).toEqualTypeOf<number>();
      expectTypeOf(error.reason).toEqualTypeOf<'open' | 'half_open_full'>();
    }
    if (isXError(error, 'BREAKER_TOO_MANY_CALLS')) expectTypeOf(error).toEqualTypeOf<BreakerTooManyCallsError>();
  });

  it('registers its events in the core event map', () => {
    const events = createEventBus();
    events.on('breaker.state_change', (e) => {
      expectTypeOf(e.from).toEqualTypeOf<BreakerState>();
      expectTypeOf(e.reason).toExtend<string>();
    });
    events.on('breaker.success', (e) => expectTypeOf(e.durationMs).toEqualTypeOf<number>());
    events.on('breaker.rejected', (e) => expectTypeOf(e.reason).toEqualTypeOf<'open' | 'half_open_full' | 'too_many_calls'>());
    events.on('*', (e) => {
      expectTypeOf<BreakerEvent>().toExtend<XEvent>();
      if (e.type === 'breaker.failure') expectTypeOf(e.error).toEqualTypeOf<unknown>();
    });
  });

  it('composes and falls back with typed results', () => {
    const breaker = createBreaker();
    const safe = fallback(breaker, () => 'cached' as const);
    expectTypeOf(safe.execute(() => 1)).toEqualTypeOf<Promise<number | 'cached'>>();
    expectTypeOf(compose(breaker, createBreaker()).execute(() => true)).toEqualTypeOf<Promise<boolean>>();
  });

  it('accepts presets spread into options and rejects wrong option types', () => {
    createBreaker({ ...breakerPresets.aggressive, name: 'api' });
    createBreaker({ window: { kind: 'time', ms: 1_000 }, failureRateThreshold: 0.5 });
    createBreaker({ openMs: (n) => n * 1_000 });
    // @ts-expect-error unknown window kind
    createBreaker({ window: { kind: 'sliding', size: 10 } });
    // @ts-expect-error openMs must be a number or a function
    createBreaker({ openMs: '60s' });
  });

  it('types groups', () => {
    const group = createBreakerGroup({ defaults: { failureThreshold: 3 } });
    expectTypeOf(group.execute('host', () => 1)).toEqualTypeOf<Promise<number>>();
    expectTypeOf(group.statsAll()).toEqualTypeOf<Record<string, BreakerStats>>();
  });
});
