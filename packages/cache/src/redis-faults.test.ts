// Redis killed mid-load, black-holed by a TCP proxy, slowed: every get/getOrSet returns within its
// deadline (from L1 or the loader), nothing rejects unhandled, and the cache recovers.
import { setTimeout as wait } from 'node:timers/promises';
import { redisClient, redisServerInstalled, startRedisServer, startTcpProxy, unhandledRejections, waitFor } from '@x/test-support';
import type { RedisServer, TcpProxy } from '@x/test-support';
import Redis from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createCache } from './index.js';
import type { Cache } from './index.js';
import { createInvalidationBus, redisCacheStore } from './redis.js';

const STORE_TIMEOUT = 150;
/** What a read may take at most: the store deadline plus scheduling slack on a busy 2-core machine. */
const BOUND = STORE_TIMEOUT + 150;

const installed = redisServerInstalled('cache');
let server: RedisServer | undefined;

const watch = unhandledRejections();
beforeEach(watch.start);
afterEach(() => {
  watch.stop();
  expect(watch.reasons).toEqual([]);
});

const client = (url: string): Redis => redisClient(url, { connectTimeout: 500 });

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

describe.skipIf(!installed)('@x/cache when Redis fails', () => {
  beforeAll(async () => {
    server = await startRedisServer();
  });
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

  it('queue mode: writes made while Redis is down are replayed after a restart; a key deleted meanwhile stays deleted', async () => {
    const s = server as RedisServer;
    if (!s.running) await s.start();
    const redis = client(s.url);
    const reader = client(s.url);
    try {
      await waitFor(() => redis.status === 'ready' && reader.status === 'ready', { timeoutMs: 5_000, message: 'redis ready' });
      const cache = createCache<string>({
        l2: redisCacheStore(redis, { prefix: 'queue', timeoutMs: 100, failureThreshold: 3, cooldownMs: 200 }),
        storeTimeoutMs: STORE_TIMEOUT,
        l2WriteQueue: { retryMs: 100 },
        jitter: 0,
      });
      const fresh = () => createCache<string>({ l1: false, l2: redisCacheStore(reader, { prefix: 'queue' }) });
      await cache.setMany([
        { key: 'a', value: 'a0' },
        { key: 'gone', value: 'g0' },
      ]);
      await s.stop();
      for (const write of [() => cache.set('a', 'a1'), () => cache.set('b', 'b1'), () => cache.set('b', 'b2'), () => cache.delete('gone')]) {
        expect((await timed(write())).ms).toBeLessThan(BOUND);
      }
      expect(cache.stats().l2Queue).toMatchObject({ pending: 3, superseded: 1 });
      expect(await cache.getMany(['a', 'b', 'gone'])).toEqual(['a1', 'b2', undefined]); // its own writes, from L1
      await s.start();
      await waitFor(() => cache.stats().l2Queue.pending === 0, { timeoutMs: 8_000, message: 'queue replayed' });
      await waitFor(() => reader.status === 'ready', { timeoutMs: 5_000, message: 'reader back' });
      expect(await fresh().getMany(['a', 'b', 'gone'])).toEqual(['a1', 'b2', undefined]);
      expect(cache.stats().l2Queue).toMatchObject({ replayed: 3, overflow: 0 });
    } finally {
      redis.disconnect();
      reader.disconnect();
    }
  }, 20_000);

  it("a publisher cut off from Redis is noticed by subscribers once it is back, without another write", async () => {
    const s = server as RedisServer;
    if (!s.running) await s.start();
    const proxy: TcpProxy = await startTcpProxy({ targetPort: s.port });
    const redis = client(s.url);
    const publisher = client(proxy.url); // only the bus of process A goes through the proxy
    const subscriber = new Redis(s.url, { retryStrategy: () => 50 });
    const subscriberA = new Redis(s.url, { retryStrategy: () => 50 });
    for (const c of [subscriber, subscriberA]) c.on('error', () => {});
    const channel = 'faults:bus';
    try {
      await waitFor(() => redis.status === 'ready' && publisher.status === 'ready', { timeoutMs: 5_000, message: 'redis ready' });
      const busA = createInvalidationBus(subscriberA, publisher, { channel, timeoutMs: 100, cooldownMs: 200 });
      const a = createCache<string>({ l2: redisCacheStore(redis, { prefix: 'pub' }), bus: busA, jitter: 0 });
      const b = createCache<string>({ l2: redisCacheStore(redis, { prefix: 'pub' }), bus: createInvalidationBus(subscriber, redis, { channel }), jitter: 0 });
      // Both subscriptions are confirmed (a confirmation arriving later would resync b by itself).
      await waitFor(async () => Number(((await redis.pubsub('NUMSUB', channel)) as [string, number])[1]) >= 2, { timeoutMs: 5_000, message: 'subscribed' });
      await wait(50);
      await a.set('k', 'v1');
      expect(await b.get('k')).toBe('v1'); // now in b's L1 for 60 s
      proxy.refuseConnections(true);
      proxy.dropConnections();
      await a.set('k', 'v2'); // L2 has v2; the invalidation is lost
      expect(busA.stats().publishFailed).toBeGreaterThanOrEqual(1);
      await wait(100);
      expect(await b.get('k')).toBe('v1'); // b cannot know yet
      proxy.refuseConnections(false);
      await waitFor(async () => (await b.get('k')) === 'v2', { timeoutMs: 5_000, message: 'b resynced' });
      expect(busA.stats().syncs).toBeGreaterThanOrEqual(1);
      expect(b.stats().bus.gaps).toBeGreaterThanOrEqual(1);
      await a.close();
      await b.close();
    } finally {
      redis.disconnect();
      publisher.disconnect();
      subscriber.disconnect();
      subscriberA.disconnect();
      await proxy.close();
    }
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
