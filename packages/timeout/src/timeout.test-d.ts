import { compose, defaultEventBus, isXError } from '@x/core';
import type { ExecutionContext, Outcome, Policy, XEvent } from '@x/core';
import { describe, expectTypeOf, it } from 'vitest';
import { createTimeout } from './index.js';
import type { TimeoutError, TimeoutEvent, TimeoutPolicy, TimeoutStrategy } from './index.js';

describe('timeout types', () => {
  it('is a Policy whose execute returns the function value type', () => {
    const timeout = createTimeout(100);
    expectTypeOf(timeout).toEqualTypeOf<TimeoutPolicy>();
    expectTypeOf(timeout).toMatchTypeOf<Policy>();
    expectTypeOf(timeout.execute(async () => 1)).toEqualTypeOf<Promise<number>>();
    expectTypeOf(timeout.executeOutcome(() => 'x')).toEqualTypeOf<Promise<Outcome<string>>>();
    void timeout.execute((ctx) => {
      expectTypeOf(ctx).toMatchTypeOf<ExecutionContext>();
      expectTypeOf(ctx.deadline).toEqualTypeOf<number | undefined>();
      return ctx.signal;
    });
  });

  it('composes with other policies', () => {
    const p = compose(createTimeout(1_000), createTimeout(100, { strategy: 'aggressive' }));
    expectTypeOf(p).toMatchTypeOf<Policy>();
    // Typed as a plain Policy, the value type flows through compose. (Core's ExtraOf infers
    // `unknown` for interfaces that extend Policy with more members; reported to core.)
    const asPolicy: Policy = createTimeout(1_000);
    expectTypeOf(compose(asPolicy).execute(() => true)).toEqualTypeOf<Promise<boolean>>();
  });

  it('narrows TIMEOUT errors through isXError', () => {
    const error: unknown = null;
    if (isXError(error, 'TIMEOUT')) {
      expectTypeOf(error).toEqualTypeOf<TimeoutError>();
      expectTypeOf(error.timeoutMs).toEqualTypeOf<number>();
      expectTypeOf(error.strategy).toEqualTypeOf<TimeoutStrategy>();
      expectTypeOf(error.code).toEqualTypeOf<'TIMEOUT'>();
    }
  });

  it('registers its events on the shared bus', () => {
    const bus = defaultEventBus();
    bus.on('timeout.timed_out', (e) => {
      expectTypeOf(e.timeoutMs).toEqualTypeOf<number>();
      expectTypeOf(e.strategy).toEqualTypeOf<TimeoutStrategy>();
      expectTypeOf(e.signalled).toEqualTypeOf<boolean>();
    });
    bus.on('timeout.abandoned_settled', (e) => {
      expectTypeOf(e.durationMs).toEqualTypeOf<number>();
      expectTypeOf(e.ok).toEqualTypeOf<boolean>();
    });
    bus.on('timeout.abandoned', (e) => {
      expectTypeOf(e.reason).toEqualTypeOf<'timeout' | 'abort'>();
    });
    expectTypeOf<TimeoutEvent>().toMatchTypeOf<XEvent>();
  });

  it('only accepts the documented options', () => {
    // @ts-expect-error unknown strategy
    createTimeout(10, { strategy: 'pessimistic' });
    // @ts-expect-error ms is required
    createTimeout();
  });
});
