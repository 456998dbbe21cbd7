import { createEventBus, isXError } from '@x/core';
import type { XEvent } from '@x/core';
import { connectRedisCluster, redisClient, redisServerInstalled, startRedisServer, startTcpProxy } from '@x/test-support';
import type { ConnectedRedisCluster, RedisServer, TcpProxy } from '@x/test-support';
import type Redis from 'ioredis';
import type { Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisBloomFilter } from './redis.js';
import type { RedisBloomClient, RedisBloomFilter } from './redis.js';

const installed = redisServerInstalled('bloom', { cluster: true });

async function settleTime<T>(promise: Promise<T>): Promise<{ ms: number; value?: T; error?: unknown }> {
  const start = performance.now();
  try {
    const value = await promise;
    return { ms: performance.now() - start, value };
  } catch (error) {
    return { ms: performance.now() - start, error };
  }
}

describe.skipIf(!installed)('redisBloomFilter when Redis fails', () => {
  let server: RedisServer;
  let proxy: TcpProxy;
  let redis: Redis;
  let events: ReturnType<typeof createEventBus>;
  const seen: XEvent[] = [];
  let present: RedisBloomFilter;
  let strict: RedisBloomFilter;

  beforeAll(async () => {
    server = await startRedisServer();
    proxy = await startTcpProxy({ targetPort: server.port });
    redis = redisClient(proxy.url);
    events = createEventBus();
    events.on('*', (e) => seen.push(e));
    const client = redis as unknown as RedisBloomClient;
    const common = { expectedItems: 1_000, falsePositiveRate: 0.01, timeoutMs: 150, failureThreshold: 2, cooldownMs: 400, events };
    present = await redisBloomFilter(client, { key: 'f', name: 'present', ...common });
    strict = await redisBloomFilter(client, { key: 'f', name: 'strict', onStoreError: 'throw', ...common });
    await present.addMany(['a', 'b', 'c']);
  }, 30_000);
  afterAll(async () => {
    redis?.disconnect();
    await proxy?.close();
    await server?.dispose();
  });

  it('a stalled link: has() answers "possibly present" within the deadline, never "absent"; add() rejects', async () => {
    expect(await present.has('never-added')).toBe(false);
    proxy.pause();
    try {
      const has = await settleTime(present.has('never-added'));
      expect(has.value).toBe(true);
      expect(has.ms).toBeLessThan(150 + 200);
      const many = await settleTime(present.hasMany(['never-1', 'never-2', 'a']));
      expect(many.value).toEqual([true, true, true]);
      expect(many.ms).toBeLessThan(150 + 200);
      const thrown = await settleTime(strict.has('never-added'));
      expect(isXError(thrown.error, 'BLOOM_STORE_UNAVAILABLE')).toBe(true);
      expect(thrown.ms).toBeLessThan(150 + 200);
      const add = await settleTime(present.add('z'));
      expect(isXError(add.error, 'BLOOM_STORE_UNAVAILABLE')).toBe(true);
      expect(add.ms).toBeLessThan(150 + 200);
      expect(isXError((await settleTime(present.addMany(['y', 'z']))).error, 'BLOOM_STORE_UNAVAILABLE')).toBe(true);
    } finally {
      proxy.resume();
    }
    const errors = seen.filter((e) => e.type === 'bloom.store_error');
    expect(errors.length).toBeGreaterThan(0);
    expect(errors.some((e) => (e as { timedOut?: boolean }).timedOut)).toBe(true);
  });

  it('Redis down: after failureThreshold failures calls skip Redis at once (degraded), then recover', async () => {
    await server.stop();
    try {
      const answers: boolean[] = [];
      for (let i = 0; i < 4; i++) answers.push(await present.has(`down-${i}`));
      expect(answers).toEqual([true, true, true, true]);
      expect(present.health).toBe('degraded');
      const skipped = await settleTime(strict.has('x'));
      // The strict filter has its own guard; its first failures are fast too (connection closed).
      expect(isXError(skipped.error, 'BLOOM_STORE_UNAVAILABLE')).toBe(true);
      expect(skipped.ms).toBeLessThan(250);
      const fast = await settleTime(present.has('x'));
      expect(fast.value).toBe(true);
      expect(fast.ms).toBeLessThan(50);
      expect(seen.some((e) => e.type === 'bloom.store_degraded' && e.name === 'present')).toBe(true);
    } finally {
      await server.start();
    }
    // The data lived in a server without persistence: it is gone, and so is the metadata. Reads
    // still work once the guard probes again (a restart without data is the user's to detect).
    const until = Date.now() + 5_000;
    while (present.health !== 'healthy' && Date.now() < until) {
      await present.has('probe');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(present.health).toBe('healthy');
    expect(seen.some((e) => e.type === 'bloom.store_recovered' && e.name === 'present')).toBe(true);
  }, 20_000);
});

describe.skipIf(!installed)('redisBloomFilter on a Redis Cluster', () => {
  let env: ConnectedRedisCluster;
  let redis: Cluster;
  beforeAll(async () => {
    env = await connectRedisCluster();
    redis = env.redis;
  }, 60_000);
  afterAll(() => env?.dispose());

  it('spreads shards over the masters; every command touches one slot; two clients share the filter', async () => {
    const client = redis as unknown as RedisBloomClient;
    const errors: XEvent[] = [];
    const events = createEventBus();
    events.on('bloom.store_error', (e) => errors.push(e));
    const f = await redisBloomFilter(client, { key: 'clustered', expectedItems: 30_000, falsePositiveRate: 0.01, shards: 12, timeoutMs: 2_000, events });
    const keys = Array.from({ length: 30_000 }, (_, i) => `item:${i}`);
    await f.addMany(keys);
    for (const key of keys.slice(0, 20)) expect(await f.has(key)).toBe(true);
    expect(await f.add('item:1')).toBe(true);
    const perNode = await Promise.all(redis.nodes('master').map((node) => node.dbsize()));
    expect(perNode.filter((n) => n > 0).length).toBe(3);

    const other = await env.client();
    try {
      const reader = await redisBloomFilter(other as unknown as RedisBloomClient, { key: 'clustered', expectedItems: 30_000, falsePositiveRate: 0.01, shards: 12, timeoutMs: 2_000, events });
      expect((await reader.hasMany(keys)).every(Boolean)).toBe(true);
      const absent = Array.from({ length: 20_000 }, (_, i) => `absent:${i}`);
      expect((await reader.hasMany(absent)).filter(Boolean).length / absent.length).toBeLessThanOrEqual(0.012);
      const stats = await reader.stats();
      expect(stats.items / 30_000).toBeGreaterThan(0.97);
      expect(stats.items / 30_000).toBeLessThan(1.03);
    } finally {
      other.disconnect();
    }
    expect(errors).toEqual([]);
  }, 30_000);
});
