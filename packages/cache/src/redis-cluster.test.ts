import { execFileSync } from 'node:child_process';
import { startRedisCluster, unhandledRejections } from '@x/test-support';
import type { RedisCluster } from '@x/test-support';
import Redis from 'ioredis';
import type { Cluster } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createCache } from './index.js';
import { createInvalidationBus, redisCacheStore } from './redis.js';

function toolsInstalled(): boolean {
  try {
    execFileSync(process.env.REDIS_SERVER ?? 'redis-server', ['--version'], { stdio: 'ignore' });
    execFileSync(process.env.REDIS_CLI ?? 'redis-cli', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    console.warn('\n!!! redis-server / redis-cli not installed: SKIPPING the Redis Cluster tests of cache.\n');
    return false;
  }
}

const watch = unhandledRejections();
beforeEach(watch.start);
afterEach(() => {
  watch.stop();
  expect(watch.reasons).toEqual([]);
});

describe.skipIf(!toolsInstalled())('redisCacheStore on a Redis Cluster', () => {
  let cluster: RedisCluster;
  let redis: Cluster;
  beforeAll(async () => {
    cluster = await startRedisCluster();
    redis = new Redis.Cluster([...cluster.startupNodes], { enableOfflineQueue: false, redisOptions: { maxRetriesPerRequest: 1 } });
    await new Promise<void>((resolve) => redis.once('ready', () => resolve()));
  }, 60_000);
  afterAll(async () => {
    redis?.disconnect();
    await cluster?.dispose();
  });

  it('batches across slots (one command per key), clears by version, and invalidates through the bus', async () => {
    const keys = Array.from({ length: 30 }, (_, i) => `user:${i}`);
    const slots = new Set<number>();
    for (const key of keys) slots.add(Number(await redis.cluster('KEYSLOT', `{c:v0:${key.replace(':', '%3A')}}`)));
    expect(slots.size).toBeGreaterThan(15);
    const subscriber = new Redis.Cluster([...cluster.startupNodes]);
    const other = new Redis.Cluster([...cluster.startupNodes], { enableOfflineQueue: false });
    await new Promise<void>((resolve) => other.once('ready', () => resolve()));
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
