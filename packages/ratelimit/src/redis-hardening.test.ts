// Regression tests for issue 11's store defects: a misbehaving client, lone-surrogate keys that
// shared one bucket, and over-admission at cold start, on a stall and across flaps.
import { createEventBus } from '@x/core';
import type { XEvent } from '@x/core';
import { createVirtualClock } from '@x/core/testing';
import { redisAvailable, redisUrl, startTcpProxy, testKeyPrefix, unhandledRejections } from '@x/test-support';
import Redis from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createRateLimiter } from './index.js';
import { redisStore } from './redis.js';
import type { RedisClientLike } from './redis.js';

const available = await redisAvailable('ratelimit');
const PREFIX = testKeyPrefix(import.meta.url);
let n = 0;

describe('a store client that misbehaves is a failed store call, never a crash', () => {
  const watch = unhandledRejections();
  beforeEach(watch.start);
  afterEach(watch.stop);

  const clients: Record<string, () => RedisClientLike> = {
    'throws synchronously': () =>
      ({
        status: 'ready',
        evalsha() {
          throw new Error('sync evalsha');
        },
        eval() {
          throw new Error('sync eval');
        },
        del() {
          throw new Error('sync del');
        },
      }) as unknown as RedisClientLike,
    'returns undefined': () =>
      ({ status: 'ready', evalsha: () => undefined, eval: () => undefined, del: () => undefined }) as unknown as RedisClientLike,
    'reads status with a throwing getter': () =>
      ({
        get status(): string {
          throw new Error('status getter');
        },
        evalsha: () => Promise.resolve([]),
        eval: () => Promise.resolve([]),
        del: () => Promise.resolve(0),
      }) as unknown as RedisClientLike,
  };

  it.each(Object.keys(clients))('a client that %s gives onStoreError answers and store_error events', async (kind) => {
    const clock = createVirtualClock();
    const events = createEventBus();
    const seen: XEvent[] = [];
    events.on('*', (e) => seen.push(e));
    const store = redisStore((clients[kind] as () => RedisClientLike)(), { onStoreError: 'open', clock, events });
    const limiter = createRateLimiter({ name: 'bad-client', limit: 1, periodMs: 1_000, store, clock, events });
    const decisions = await Promise.all([limiter.limit('a'), limiter.limit('b')]);
    expect(decisions.map((d) => [d.allowed, d.degraded])).toEqual([
      [true, 'open'],
      [true, 'open'],
    ]);
    expect(seen.some((e) => e.type === 'ratelimit.store_error')).toBe(true);
    await expect(limiter.reset('a')).rejects.toBeDefined();
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(watch.reasons).toEqual([]);
  });
});

describe.skipIf(!available)('keys and first moments on a real Redis', () => {
  let admin: Redis;
  beforeAll(async () => {
    admin = new Redis(redisUrl(), { lazyConnect: true });
    await admin.connect();
  });
  afterAll(async () => {
    const keys = await admin.keys(`{${PREFIX}*`);
    if (keys.length > 0) await admin.del(...keys);
    admin.disconnect();
  });

  it('gives keys that differ only in lone surrogates or U+FFFD buckets of their own', async () => {
    const store = redisStore(admin, { prefix: `${PREFIX}${n++}`, timeoutMs: 2_000, events: createEventBus() });
    const limiter = createRateLimiter({ name: 'x\uD800', limit: 1, periodMs: 60_000, store, events: createEventBus() });
    const keys = ['\uD800', '\uDC00', 'x\uD800y', 'x\uDFFFy', '\uFFFD', 'x\uFFFDy'];
    const decisions = await Promise.all(keys.map((k) => limiter.limit(k)));
    expect(decisions.map((d) => d.allowed)).toEqual(keys.map(() => true));
    expect(decisions.every((d) => d.degraded === undefined)).toBe(true);
  });

  it('admits exactly the limit when two fresh processes decide 60 at once before their clients connected', async () => {
    const prefix = `${PREFIX}${n++}`;
    // As the README recommends: no offline queue. Both clients are still connecting when the
    // decisions start, as in the first moments of a process.
    const clients = [0, 1].map(() => new Redis(redisUrl(), { enableOfflineQueue: false, maxRetriesPerRequest: 1 }));
    try {
      const limiters = clients.map((redis) => {
        expect(redis.status).not.toBe('ready');
        const store = redisStore(redis, { prefix, timeoutMs: 1_000, onStoreError: 'local', instances: 2, events: createEventBus() });
        return createRateLimiter({ name: 'cold', limit: 20, periodMs: 60_000, store, events: createEventBus() });
      });
      const decisions = await Promise.all(Array.from({ length: 60 }, (_, i) => (limiters[i % 2] as (typeof limiters)[0]).limit('k')));
      expect(decisions.filter((d) => d.degraded !== undefined)).toHaveLength(0);
      expect(decisions.filter((d) => d.allowed)).toHaveLength(20);
    } finally {
      for (const redis of clients) redis.disconnect();
    }
  });

  it('counts one stall that fails every call in flight as one failure: the store stays on Redis', async () => {
    const proxy = await startTcpProxy({ targetPort: Number(new URL(redisUrl()).port || 6379), targetHost: new URL(redisUrl()).hostname });
    const events = createEventBus();
    const types: string[] = [];
    events.on('*', (e) => types.push(e.type));
    const redis = new Redis(proxy.url, { enableOfflineQueue: false, lazyConnect: true });
    redis.on('error', () => {});
    await redis.connect();
    try {
      const store = redisStore(redis, { prefix: `${PREFIX}${n++}`, timeoutMs: 50, failureThreshold: 3, events, batch: false });
      const limiter = createRateLimiter({ name: 'stall', limit: 1_000, periodMs: 60_000, store, events });
      await limiter.limit('warm');
      // An 88 ms stall of the link with three calls in flight: each misses its 50 ms deadline.
      proxy.pause();
      const inFlight = [limiter.limit('a'), limiter.limit('b'), limiter.limit('c')];
      await new Promise((resolve) => setTimeout(resolve, 88));
      proxy.resume();
      const decisions = await Promise.all(inFlight);
      expect(decisions.every((d) => d.degraded === 'local')).toBe(true);
      expect(types.filter((t) => t === 'ratelimit.store_error')).toHaveLength(3);
      expect(store.health).toBe('healthy');
      expect(types).not.toContain('ratelimit.store_degraded');
      expect((await limiter.limit('after')).degraded).toBeUndefined();
    } finally {
      redis.disconnect();
      await proxy.close();
    }
  });
});
