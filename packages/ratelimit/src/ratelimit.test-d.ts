import { compose, createEventBus, isXError } from '@x/core';
import type { Policy, XEvent } from '@x/core';
import type { Cluster, Redis } from 'ioredis';
import { describe, expectTypeOf, it } from 'vitest';
import { createRateLimiter, rateLimitHeaders } from './index.js';
import type {
  AnyRateLimiter,
  RateLimitDecision,
  RateLimitEvent,
  RateLimitRejectReason,
  RateLimitStore,
  RateLimitedError,
  RateLimiter,
  StoreErrorMode,
  StoreRateLimiter,
} from './index.js';
import { redisStore } from './redis.js';
import type { RedisClientLike, RedisRateLimitStore, StoreHealth } from './redis.js';

declare const redis: Redis;
declare const cluster: Cluster;
declare const store: RateLimitStore;

describe('createRateLimiter types', () => {
  it('is synchronous in memory and asynchronous on a store', () => {
    const memory = createRateLimiter({ limit: 10, periodMs: 1_000 });
    expectTypeOf(memory).toEqualTypeOf<RateLimiter>();
    expectTypeOf(memory.limit('k')).toEqualTypeOf<RateLimitDecision>();
    expectTypeOf(memory.allow('k')).toEqualTypeOf<boolean>();
    expectTypeOf(memory.size).toEqualTypeOf<number>();

    const shared = createRateLimiter({ limit: 10, periodMs: 1_000, store });
    expectTypeOf(shared).toEqualTypeOf<StoreRateLimiter>();
    expectTypeOf(shared.limit('k')).toEqualTypeOf<Promise<RateLimitDecision>>();
    expectTypeOf(shared.reset('k')).toEqualTypeOf<Promise<void>>();

    expectTypeOf(memory.acquire('k')).toEqualTypeOf<Promise<RateLimitDecision>>();
    expectTypeOf(shared.acquire('k', { maxWaitMs: 5, cost: 2, signal: AbortSignal.timeout(5) })).toEqualTypeOf<Promise<RateLimitDecision>>();
  });

  it('lets code accept either kind and await the decision', async () => {
    const use = async (limiter: AnyRateLimiter) => {
      const decision = await limiter.limit('k');
      expectTypeOf(decision).toEqualTypeOf<RateLimitDecision>();
      return decision.allowed;
    };
    expectTypeOf(use).returns.resolves.toEqualTypeOf<boolean>();
    const maybe: { store?: RateLimitStore } = {};
    expectTypeOf(createRateLimiter({ limit: 1, periodMs: 1, ...maybe })).toEqualTypeOf<AnyRateLimiter>();
  });

  it('rejects options of the wrong type', () => {
    // @ts-expect-error limit is required
    createRateLimiter({ periodMs: 1_000 });
    // @ts-expect-error no such algorithm
    createRateLimiter({ limit: 1, periodMs: 1, algorithm: 'leaky-bucket' });
    // @ts-expect-error cost is a number
    createRateLimiter({ limit: 1, periodMs: 1 }).limit('k', { cost: '2' });
  });

  it('decisions are read-only', () => {
    const d = createRateLimiter({ limit: 1, periodMs: 1 }).limit('k');
    // @ts-expect-error read-only
    d.allowed = false;
    expectTypeOf(d.degraded).toEqualTypeOf<StoreErrorMode | undefined>();
    expectTypeOf(rateLimitHeaders(d)['Retry-After']).toEqualTypeOf<string | undefined>();
  });

  it('gives a core Policy that composes', () => {
    const limiter = createRateLimiter({ limit: 1, periodMs: 1 });
    const policy = limiter.policy('k', { maxWaitMs: 10 });
    expectTypeOf(policy).toEqualTypeOf<Policy>();
    expectTypeOf(compose(policy, policy).execute(() => 42)).toEqualTypeOf<Promise<number>>();
  });
});

describe('errors and events', () => {
  it('narrows RATE_LIMITED', () => {
    const error: unknown = new Error();
    if (isXError(error, 'RATE_LIMITED')) {
      expectTypeOf(error).toEqualTypeOf<RateLimitedError>();
      expectTypeOf(error.retryAfterMs).toEqualTypeOf<number>();
    }
    if (isXError(error, 'RATELIMIT_STORE_UNAVAILABLE')) expectTypeOf(error.timedOut).toEqualTypeOf<boolean>();
  });

  it('registers its events on the bus', () => {
    const bus = createEventBus();
    bus.on('ratelimit.rejected', (e) => {
      expectTypeOf(e.reason).toEqualTypeOf<RateLimitRejectReason>();
      expectTypeOf(e.retryAfterMs).toEqualTypeOf<number>();
    });
    bus.on('ratelimit.store_degraded', (e) => expectTypeOf(e.mode).toEqualTypeOf<StoreErrorMode>());
    bus.on('*', (e) => expectTypeOf<RateLimitEvent>().toMatchTypeOf<XEvent>());
  });
});

describe('redisStore types', () => {
  it('takes an ioredis Redis or Cluster', () => {
    expectTypeOf(redis).toMatchTypeOf<RedisClientLike>();
    expectTypeOf(cluster).toMatchTypeOf<RedisClientLike>();
    expectTypeOf(redisStore(redis, { onStoreError: 'local', instances: 3 })).toEqualTypeOf<RedisRateLimitStore>();
    expectTypeOf(redisStore(cluster).health).toEqualTypeOf<StoreHealth>();
    // @ts-expect-error not a client
    redisStore({});
    // @ts-expect-error no such mode
    redisStore(redis, { onStoreError: 'ignore' });
  });
});
