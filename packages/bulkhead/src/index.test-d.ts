import { compose, isXError } from '@x/core';
import type { Outcome, Policy, XEvent } from '@x/core';
import { createEventBus } from '@x/core';
import { describe, expectTypeOf, it } from 'vitest';
import { createAdaptiveConcurrency, createBulkhead } from './index.js';
import type { AdaptiveTarget, BulkheadPermit, BulkheadRejectReason, BulkheadRejectedError, BulkheadStats } from './index.js';

describe('@x/bulkhead types', () => {
  const bulkhead = createBulkhead({ maxConcurrent: 2 });

  it('is a Policy whose execute returns the function type', () => {
    expectTypeOf(bulkhead).toExtend<Policy>();
    expectTypeOf(bulkhead.execute(() => 1)).toEqualTypeOf<Promise<number>>();
    expectTypeOf(bulkhead.execute(async () => 'x')).toEqualTypeOf<Promise<string>>();
    expectTypeOf(bulkhead.executeOutcome(() => 1)).toEqualTypeOf<Promise<Outcome<number>>>();
    // compose accepts it and passes the context through. (Its value type: see the report on
    // core's ExtraOf, which infers `unknown` for any interface that extends Policy.)
    void compose(bulkhead).execute((ctx) => expectTypeOf(ctx.deadline).toEqualTypeOf<number | undefined>());
  });

  it('hands out permits and stats', () => {
    expectTypeOf(bulkhead.acquire()).toEqualTypeOf<Promise<BulkheadPermit>>();
    expectTypeOf(bulkhead.tryAcquire()).toEqualTypeOf<BulkheadPermit | undefined>();
    expectTypeOf(bulkhead.stats()).toEqualTypeOf<BulkheadStats>();
    expectTypeOf(bulkhead.stats().rejected.aborted).toBeNumber();
  });

  it('requires maxConcurrent', () => {
    // @ts-expect-error maxConcurrent is required
    createBulkhead({});
    // @ts-expect-error order is 'fifo' | 'lifo'
    createBulkhead({ maxConcurrent: 1, order: 'random' });
  });

  it('narrows BULKHEAD_FULL errors', () => {
    const error: unknown = undefined;
    if (isXError(error, 'BULKHEAD_FULL')) {
      expectTypeOf(error).toEqualTypeOf<BulkheadRejectedError>();
      expectTypeOf(error.reason).toEqualTypeOf<'full' | 'timeout'>();
    }
  });

  it('types its events on the bus', () => {
    const events = createEventBus();
    events.on('bulkhead.rejected', (e) => {
      expectTypeOf(e.reason).toEqualTypeOf<BulkheadRejectReason>();
      expectTypeOf(e.waitedMs).toBeNumber();
    });
    events.on('bulkhead.admitted', (e) => expectTypeOf(e.fromQueue).toBeBoolean());
    events.on('bulkhead.adaptive_limit_changed', (e) => expectTypeOf(e.algorithm).toEqualTypeOf<'aimd' | 'gradient'>());
    events.on('*', (e) => expectTypeOf(e).toEqualTypeOf<XEvent>());
  });

  it('drives any target with setLimit', () => {
    expectTypeOf(bulkhead).toExtend<AdaptiveTarget>();
    const adaptive = createAdaptiveConcurrency({ target: { setLimit: (_n: number) => {} } });
    expectTypeOf(adaptive.currentLimit).toBeNumber();
    expectTypeOf(adaptive).toExtend<Policy>();
    void compose(bulkhead, adaptive).execute((ctx) => expectTypeOf(ctx.signal).toEqualTypeOf<AbortSignal>());
    // @ts-expect-error a target needs setLimit
    createAdaptiveConcurrency({ target: {} });
  });
});
