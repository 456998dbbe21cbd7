import { execFileSync } from 'node:child_process';
import { startRedisCluster } from '@x/test-support';
import type { RedisCluster } from '@x/test-support';
import Redis from 'ioredis';
import type { Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLock, createSemaphore } from './index.js';
import type { Lease } from './index.js';
import { redisLockStore } from './redis.js';
import { runExclusion, strictlyIncreasing } from './test-exclusion.js';

function toolsInstalled(): boolean {
  try {
    execFileSync(process.env.REDIS_SERVER ?? 'redis-server', ['--version'], { stdio: 'ignore' });
    execFileSync(process.env.REDIS_CLI ?? 'redis-cli', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    console.warn('\n!!! redis-server / redis-cli not installed: SKIPPING the Redis Cluster tests of lock.\n');
    return false;
  }
}

describe.skipIf(!toolsInstalled())('redisLockStore on a Redis Cluster', () => {
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

  it('locks and semaphores on keys in different slots (every node), one single-slot script per call', async () => {
    const lock = createLock({ store: redisLockStore(redis, { prefix: 'c' }), ttlMs: 5_000 });
    const keys = Array.from({ length: 24 }, (_, i) => `resource:${i}`);
    const slots = new Set<number>();
    for (const key of keys) slots.add(Number(await redis.cluster('KEYSLOT', `{c:${key.replace(':', '%3A')}}:m`)));
    expect(slots.size).toBeGreaterThan(12);
    const leases = (await Promise.all(keys.map((k) => lock.tryLock(k)))) as Lease[];
    expect(leases.every((l) => l !== null)).toBe(true);
    expect(await Promise.all(keys.map((k) => lock.tryLock(k)))).toEqual(keys.map(() => null));
    expect(await Promise.all(leases.map((l) => l.extend()))).toEqual(keys.map(() => true));
    expect(await Promise.all(leases.map((l) => l.release()))).toEqual(keys.map(() => 'released'));
    const sem = createSemaphore({ limit: 2, store: redisLockStore(redis, { prefix: 'c' }) });
    for (const key of keys.slice(0, 6)) {
      expect(await sem.tryAcquire(key)).not.toBeNull();
      expect(await sem.tryAcquire(key)).not.toBeNull();
      expect(await sem.tryAcquire(key)).toBeNull();
    }
  });

  it('mutual exclusion and increasing fences on one key', async () => {
    const locks = Array.from({ length: 4 }, () => createLock({ store: redisLockStore(redis, { prefix: 'x' }), ttlMs: 2_000, retry: { delayMs: 3 } }));
    const result = await runExclusion(locks, 'one', 5);
    expect(result.errors).toEqual([]);
    expect(result.overlaps).toBe(0);
    expect(strictlyIncreasing(result.fences)).toBe(true);
  });
});
