// Redis killed mid-load, black-holed by a TCP proxy, slowed: every get/getOrSet returns within its
// deadline (from L1 or the loader), nothing rejects unhandled, and the cache recovers.
import { setTimeout as wait } from 'node:timers/promises';
import { startRedisServer, startTcpProxy, unhandledRejections, waitFor } from '@x/test-support';
import type { RedisServer, TcpProxy } from '@x/test-support';
import Redis from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createCache } from './index.js';
import type { Cache } from './index.js';
import { redisCacheStore } from './redis.js';

const STORE_TIMEOUT = 150;
/** What a read may take at most: the store deadline plus scheduling slack on a busy 2-core machine. */
const BOUND = STORE_TIMEOUT + 150;

let server: RedisServer | undefined;
let ok = true;
try {
  server = await startRedisServer();
} catch {
  ok = false;
}

const watch = unhandledRejections();
beforeEach(watch.start);
afterEach(() => {
  watch.stop();
  expect(watch.reasons).toEqual([]);
});

function client(url: string): Redis {
  const redis = new Redis(url, { enableOfflineQueue: false, maxRetriesPerRequest: 1, retryStrategy: () => 50, connectTimeout: 500 });
  redis.on('error', () => {});
  return redis;
}

async function timed<T>(work: Promise<T>): Promise<{ value: T; ms: number }> {
  const started = performance.now();
  const value = await work;
  return { value, ms: performance.now() - started };
}

function makeCache(redis: Redis, prefix: string): Cache<string> {
  return createCache<string>({
    l2: redisCacheStore(redis, { prefix, timeoutMs: 100, failureThreshold: 3, cooldownMs: 200 }),
    storeTimeoutMs: STORE_TIMEOUT,
    ttlMs: 60_000,
    l1TtlMs: 1, // L1 asks L2 on every read: the worst case for a failing Redis
    graceMs: 60_000,
    jitter: 0,
  });
}

describe.skipIf(!ok)('@x/cache when Redis fails', () => {
  afterAll(async () => {
    await server?.dispose();
  });

  it('Redis killed mid-load: the load completes, reads answer from L1 within the deadline, then recover after a restart', async () => {
    const s = server as RedisServer;
    const redis = client(s.url);
    await waitFor(() => redis.status === 'ready', { timeoutMs: 5_000, message: 'redis ready' });
    const cache = makeCache(redis, 'kill');
    await cache.set('warm', 'w');
    const loaded = await timed(
      cache.getOrSet('k', async () => {
        await s.kill();
        return 'loaded';
      }),
    );
    expect(loaded.value).toBe('loaded');
    for (let i = 0; i < 20; i++) {
      const read = await timed(cache.get(i % 2 === 0 ? 'warm' : 'k'));
      expect(read.value).toBe(i % 2 === 0 ? 'w' : 'loaded');
      expect(read.ms).toBeLessThan(BOUND);
      const miss = await timed(cache.getOrSet(`fresh${i}`, async () => `f${i}`));
      expect(miss.value).toBe(`f${i}`);
      expect(miss.ms).toBeLessThan(BOUND);
    }
    await expect(cache.set('during', 'x')).resolves.toBeUndefined();
    await s.start();
    await waitFor(() => redis.status === 'ready', { timeoutMs: 5_000, message: 'redis back' });
    await wait(250); // the guard's cooldown, then one probe
    await cache.get('probe');
    await cache.set('after', 'a');
    const other = makeCache(redis, 'kill');
    expect(await other.get('after')).toBe('a');
    redis.disconnect();
  }, 20_000);

  it('black-holed by the proxy (nothing answers, nothing closes): reads and loads return within the deadline', async () => {
    const s = server as RedisServer;
    if (!s.running) await s.start();
    const proxy: TcpProxy = await startTcpProxy({ targetPort: s.port });
    const redis = client(proxy.url);
    try {
      await waitFor(() => redis.status === 'ready', { timeoutMs: 5_000, message: 'redis ready' });
      const cache = makeCache(redis, 'hole');
      await cache.set('k', 'v');
      proxy.pause();
      const reads = await Promise.all(Array.from({ length: 50 }, (_, i) => timed(i % 2 === 0 ? cache.get('k') : cache.getOrSet(`x${i}`, async () => 'loaded'))));
      for (const [i, read] of reads.entries()) {
        expect(read.value).toBe(i % 2 === 0 ? 'v' : 'loaded');
        expect(read.ms).toBeLessThan(BOUND);
      }
      // Overlapping calls in one stall count as one failure; two more stalls and the guard skips
      // Redis: reads then cost no deadline at all.
      for (let i = 0; i < 2; i++) expect((await timed(cache.get('k'))).ms).toBeLessThan(BOUND);
      const skipped = await timed(cache.get('k'));
      expect(skipped.ms).toBeLessThan(50);
      proxy.resume();
      await wait(300);
      await cache.get('k');
      await cache.set('after', 'a');
      expect(await makeCache(redis, 'hole').get('after')).toBe('a');
    } finally {
      redis.disconnect();
      await proxy.close();
    }
  }, 20_000);

  it('slowed past the store deadline (300 ms per hop): answers within the deadline, from L1 or the loader', async () => {
    const s = server as RedisServer;
    if (!s.running) await s.start();
    const proxy: TcpProxy = await startTcpProxy({ targetPort: s.port });
    const redis = client(proxy.url);
    try {
      await waitFor(() => redis.status === 'ready', { timeoutMs: 5_000, message: 'redis ready' });
      const cache = makeCache(redis, 'slow');
      await cache.set('k', 'v');
      proxy.setLatency(300);
      for (let i = 0; i < 10; i++) {
        const read = await timed(cache.get('k'));
        expect(read.value).toBe('v');
        expect(read.ms).toBeLessThan(BOUND);
        const load = await timed(cache.getOrSet(`y${i}`, async () => 'loaded'));
        expect(load.value).toBe('loaded');
        expect(load.ms).toBeLessThan(BOUND);
      }
      proxy.setLatency(0);
    } finally {
      redis.disconnect();
      await proxy.close();
    }
  }, 20_000);
});
