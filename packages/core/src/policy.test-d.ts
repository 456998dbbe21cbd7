import { describe, expectTypeOf, it } from 'vitest';
import { compose, fallback, isXError } from './index.js';
import type { BaseEvent, ExecutionContext, InvalidOptionsError, Outcome, Policy, XEvent } from './index.js';
import { createEventBus } from './index.js';
import { retrying, tagging } from './test-policies.js';

interface PingEvent extends BaseEvent {
  readonly type: 'test.ping';
  readonly source: 'test';
  readonly latencyMs: number;
}

declare module './events.js' {
  interface XEventMap {
    'test.ping': PingEvent;
  }
}

describe('compose types', () => {
  it('merges the fields every layer adds, for any number of layers', () => {
    const p = compose(tagging('tenant', 'acme'), retrying(2), tagging('region', 7), retrying(1), retrying(1), retrying(1), retrying(1), retrying(1), retrying(1), retrying(1), retrying(1), retrying(1));
    void p.execute((ctx) => {
      expectTypeOf(ctx.signal).toEqualTypeOf<AbortSignal>();
      expectTypeOf(ctx.attempt).toEqualTypeOf<number>();
      expectTypeOf(ctx.deadline).toEqualTypeOf<number | undefined>();
      expectTypeOf(ctx.tenant).toEqualTypeOf<'acme'>();
      expectTypeOf(ctx.region).toEqualTypeOf<7>();
      return 1;
    });
  });

  it('returns the function value type, widened by fallback values', () => {
    const plain = compose(tagging('tag', 'a'));
    expectTypeOf(plain.execute(() => 1)).toEqualTypeOf<Promise<number>>();
    expectTypeOf(plain.executeOutcome(async () => 'x')).toEqualTypeOf<Promise<Outcome<string>>>();
    const guarded = compose(fallback(() => null), tagging('tag', 'a'));
    expectTypeOf(guarded.execute(() => 1)).toEqualTypeOf<Promise<number | null>>();
    const wrapped = fallback(tagging('tag', 't'), () => 'default' as const);
    expectTypeOf(wrapped).toEqualTypeOf<Policy<Record<'tag', 't'>, 'default'>>();
  });

  it('reads the types of interfaces that extend Policy with members of their own', () => {
    interface TimeoutLike extends Policy<{ budgetMs: number }> {
      readonly timeoutMs: number;
      abandoned(): number;
    }
    const timeout = null as unknown as TimeoutLike;
    const p = compose(timeout, tagging('tag', 'a'));
    expectTypeOf(p.execute(() => 'x')).toEqualTypeOf<Promise<string>>();
    void p.execute((ctx) => expectTypeOf(ctx.budgetMs).toEqualTypeOf<number>());
  });

  it('gives fallback handlers the failure and the context', () => {
    fallback((error, ctx) => {
      expectTypeOf(error).toEqualTypeOf<unknown>();
      expectTypeOf(ctx).toEqualTypeOf<ExecutionContext>();
      return 0;
    });
  });

  it('rejects functions that read fields no layer adds', () => {
    // @ts-expect-error `tag` is not added by retrying
    void compose(retrying(1)).execute((ctx) => ctx.tag);
  });
});

describe('event map types', () => {
  it('types listeners by event type and gives wildcards the union', () => {
    const bus = createEventBus();
    bus.on('test.ping', (e) => expectTypeOf(e.latencyMs).toEqualTypeOf<number>());
    bus.on('*', (e) => {
      expectTypeOf(e).toEqualTypeOf<XEvent>();
      if (e.type === 'test.ping') expectTypeOf(e).toEqualTypeOf<PingEvent>();
    });
    // @ts-expect-error unknown event types are rejected
    bus.on('test.nope', () => {});
  });
});

describe('error narrowing', () => {
  it('narrows isXError by code to the registered class', () => {
    const e: unknown = null;
    if (isXError(e, 'INVALID_OPTIONS')) expectTypeOf(e).toEqualTypeOf<InvalidOptionsError>();
  });
});
