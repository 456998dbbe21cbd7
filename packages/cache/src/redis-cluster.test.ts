import { connectRedisCluster, redisServerInstalled, unhandledRejections } from '@x/test-support';
import type { ConnectedRedisCluster } from '@x/test-support';
import type { Cluster } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createCache } from './index.js';
import { createInvalidationBus, redisCacheStore } from './redis.js';

const watch = unhandledRejections();
beforeEach(watch.start);
afterEach(() => {
  watch.stop();
  expect(watch.reasons).toEqual([]);
});

describe.skipIf(!redisServerInstalled('cache', { cluster: true }))('redisCacheStore on a Redis Cluster', () => {
  let env: ConnectedRedisCluster;
  let redis: Cluster;
  beforeAll(async () => {
    env = await connectRedisCluster();
    redis = env.redis;
  }, 60_000);
  afterAll(() => env?.dispose());

  it('batches across slots (one command per key), clears by version, and invalidates through the bus', async () => {
    const keys = Array.from({ length: 30 }, (_, i) => `user:${i}`);
    const slots = new Set<number>();
    for (const key of keys) slots.add(Number(await redis.cluster('KEYSLOT', `{c:v0:${key.replace(':', '%3A')}}`)));
    expect(slots.size).toBeGreaterThan(15);
    const subscriber = await env.client({});
    const other = await env.client({ enableOfflineQueue: false });
    const a = createCache<number>({ l2: redisCacheStore(redis, { prefix: 'c' }), bus: createInvalidationBus(subscriber as never, redis, { channel: 'c:bus' }) });
    const b = createCache<number>({ l2: redisCacheStore(other, { prefix: 'c' }) });
    await a.setMany(keys.map((key, i) => ({ key, value: i })));
    expect(await b.getMany(keys)).toEqual(keys.map((_, i) => i));
    expect(await Promise.all(keys.slice(0, 5).map((k) => b.get(k)))).toEqual([0, 1, 2, 3, 4]);
    await a.deleteMany(keys.slice(0, 10));
    const fresh = createCache<number>({ l2: redisCacheStore(other, { prefix: 'c' }) });
    expect(await fresh.getMany(keys.slice(0, 12))).toEqual([...Array.from({ length: 10 }, () => undefined), 10, 11]);
    await a.clear();
    expect(await createCache<number>({ l2: redisCacheStore(other, { prefix: 'c' }) }).get('user:20')).toBeUndefined();
    await a.close();
    subscriber.disconnect();
    other.disconnect();
  }, 20_000);
});
