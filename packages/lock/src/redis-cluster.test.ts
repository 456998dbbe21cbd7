import { connectRedisCluster, redisServerInstalled } from '@x/test-support';
import type { ConnectedRedisCluster } from '@x/test-support';
import type { Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLock, createSemaphore } from './index.js';
import type { Lease } from './index.js';
import { redisLockStore } from './redis.js';
import { runExclusion, strictlyIncreasing } from './test-exclusion.js';

describe.skipIf(!redisServerInstalled('lock', { cluster: true }))('redisLockStore on a Redis Cluster', () => {
  let env: ConnectedRedisCluster;
  let redis: Cluster;
  beforeAll(async () => {
    env = await connectRedisCluster();
    redis = env.redis;
  }, 60_000);
  afterAll(() => env?.dispose());

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
