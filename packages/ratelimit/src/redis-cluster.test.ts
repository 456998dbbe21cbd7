import { createEventBus } from '@x/core';
import type { XEvent } from '@x/core';
import { connectRedisCluster, redisServerInstalled } from '@x/test-support';
import type { ConnectedRedisCluster } from '@x/test-support';
import type { Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRateLimiter } from './index.js';
import type { RateLimitAlgorithm } from './index.js';
import { redisStore } from './redis.js';

describe.skipIf(!redisServerInstalled('ratelimit', { cluster: true }))('redisStore on a Redis Cluster', () => {
  let env: ConnectedRedisCluster;
  let redis: Cluster;
  beforeAll(async () => {
    env = await connectRedisCluster();
    redis = env.redis;
  }, 60_000);
  afterAll(() => env?.dispose());

  it.each(['gcra', 'token-bucket', 'sliding-window', 'fixed-window'] as RateLimitAlgorithm[])(
    '%s: decides keys on every node, one single-slot script call each',
    async (algorithm) => {
      const events = createEventBus();
      const errors: XEvent[] = [];
      events.on('ratelimit.store_error', (e) => errors.push(e));
      const store = redisStore(redis, { prefix: `cl-${algorithm}`, timeoutMs: 2_000, events });
      const limiter = createRateLimiter({ name: 'cluster', algorithm, limit: 3, periodMs: 60_000, store, events });
      const keys = Array.from({ length: 60 }, (_, i) => `user:${i}`);
      const rounds = [];
      for (let round = 0; round < 4; round++) rounds.push(await Promise.all(keys.map((k) => limiter.limit(k))));
      expect(errors).toEqual([]);
      expect(rounds.slice(0, 3).flat().every((d) => d.allowed && d.degraded === undefined)).toBe(true);
      expect((rounds[3] ?? []).every((d) => !d.allowed && d.degraded === undefined)).toBe(true);
      // The keys really are spread over the masters.
      const perNode = await Promise.all(redis.nodes('master').map((node) => node.dbsize()));
      expect(perNode.filter((n) => n > 0).length).toBe(3);
      await limiter.reset('user:1');
      expect((await limiter.limit('user:1')).allowed).toBe(true);
    },
    30_000,
  );

  it('acquire reserves on the node that owns the key', async () => {
    const store = redisStore(redis, { prefix: 'cl-acq', timeoutMs: 2_000, events: createEventBus() });
    const limiter = createRateLimiter({ limit: 20, periodMs: 1_000, burst: 1, store, events: createEventBus() });
    const start = performance.now();
    await Promise.all([limiter.acquire('k'), limiter.acquire('k')]);
    expect(performance.now() - start).toBeGreaterThanOrEqual(45);
  });
});
