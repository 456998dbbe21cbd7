import { createEventBus, isXError } from '@x/core';
import { redisAvailable, redisUrl, testKeyPrefix } from '@x/test-support';
import Redis from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createResilience } from './index.js';

const available = await redisAvailable('resilience');

describe.skipIf(!available)('rate limiters with store: redis (through @x/ratelimit/redis)', () => {
  let redis: Redis;
  let prefix: string;
  beforeAll(async () => {
    redis = new Redis(redisUrl(), { enableOfflineQueue: false, lazyConnect: true, maxRetriesPerRequest: 1 });
    await redis.connect();
    prefix = testKeyPrefix(import.meta.url);
  });
  afterAll(async () => {
    const keys = await redis.keys(`{${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  });

  const config = (limit: number) => ({
    preset: 'none',
    rate_limiters: { shared: { limit, period: '10s', store: 'redis', on_store_error: 'closed' } },
    operations: { api: { rate_limit: 'shared' } },
  });

  it('two managers on one Redis share one limit; a reload changes the live limiter and keeps the state in Redis', async () => {
    const a = createResilience(config(3), { redis: redis as never, redisPrefix: prefix, events: createEventBus() });
    const b = createResilience(config(3), { redis: redis as never, redisPrefix: prefix, events: createEventBus() });
    expect(a.get('rate_limiter', 'shared')).toHaveProperty('store');
    const outcomes = [];
    for (const manager of [a, b, a, b]) outcomes.push((await manager.executeOutcome('api', () => 'ok')).ok);
    expect(outcomes).toEqual([true, true, true, false]);
    const refused = await a.executeOutcome('api', () => 'ok');
    expect(isXError((refused as { error: unknown }).error, 'RATE_LIMITED')).toBe(true);

    // Raising the limit on one manager changes its live limiter; the state in Redis is kept: the
    // used-up window is not handed out again (a fresh limiter would admit 4 at once here).
    const limiter = a.get('rate_limiter', 'shared');
    const report = a.update(config(4));
    expect(report.applied.map((c) => `${c.setting}:${c.mode}`)).toEqual(['limit:in_place']);
    expect(a.get('rate_limiter', 'shared')).toBe(limiter);
    expect(limiter?.rule.limit).toBe(4);
    expect((await a.executeOutcome('api', () => 'ok')).ok).toBe(false);
    const fresh = createResilience(config(4), { redis: redis as never, redisPrefix: `${prefix}fresh`, events: createEventBus() });
    for (let i = 0; i < 4; i++) expect((await fresh.executeOutcome('api', () => 'ok')).ok).toBe(true);
  });

  it('store: redis without a client is INVALID_OPTIONS at creation', () => {
    expect(() => createResilience(config(3), { events: createEventBus() })).toThrow(/rate_limiters\.shared\.store: is redis, but no redis client was passed/);
  });
});
