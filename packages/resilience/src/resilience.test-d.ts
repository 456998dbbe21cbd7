import type { Breaker, BreakerGroup } from '@x/breaker';
import type { Policy } from '@x/core';
import type { AnyRateLimiter } from '@x/ratelimit';
import type { RetryPolicy } from '@x/retry';
import { describe, expectTypeOf, it } from 'vitest';
import { createResilience } from './index.js';
import type { ResilienceConfigError, ResolvedResilienceConfig } from './index.js';

describe('types', () => {
  const resilience = createResilience({});

  it('get(kind, name) returns the instance type of the kind, or undefined', () => {
    expectTypeOf(resilience.get('breaker', 'db')).toEqualTypeOf<Breaker | undefined>();
    expectTypeOf(resilience.get('breaker_group', 'hosts')).toEqualTypeOf<BreakerGroup | undefined>();
    expectTypeOf(resilience.get('retry', 'api')).toEqualTypeOf<RetryPolicy | undefined>();
    expectTypeOf(resilience.get('rate_limiter', 'api')).toEqualTypeOf<AnyRateLimiter | undefined>();
    // @ts-expect-error: not a kind
    resilience.get('breakers', 'db');
  });

  it('execute resolves with what fn returns; policy(name) is a core Policy', () => {
    expectTypeOf(resilience.execute('api', () => 42)).toEqualTypeOf<Promise<number>>();
    expectTypeOf(resilience.execute('api', async () => 'x', { key: 'tenant-1' })).toEqualTypeOf<Promise<string>>();
    expectTypeOf(resilience.policy('api')).toEqualTypeOf<Policy>();
    // @ts-expect-error: key is a string
    void resilience.execute('api', () => 1, { key: 1 });
  });

  it('the config in force is the resolved form; the error carries the issues', () => {
    expectTypeOf(resilience.config).toEqualTypeOf<ResolvedResilienceConfig>();
    expectTypeOf<ResilienceConfigError['issues'][number]>().toEqualTypeOf<{ readonly path: string; readonly message: string }>();
  });
});
