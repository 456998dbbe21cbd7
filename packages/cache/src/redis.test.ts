import { setTimeout as wait } from 'node:timers/promises';
import { createEventBus } from '@x/core';
import type { XEvent } from '@x/core';
import { encodeKeyPart } from '@x/core/store';
import { redisAvailable, redisClient, redisUrl, testKeyPrefix, unhandledRejections, waitFor } from '@x/test-support';
import fc from 'fast-check';
import Redis from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createCache } from './index.js';
import { createInvalidationBus, redisCacheStore } from './redis.js';

const available = await redisAvailable('cache');
const PREFIX = testKeyPrefix(import.meta.url);
let seq = 0;
const ownPrefix = () => `${PREFIX}${seq++}`;

const watch = unhandledRejections();
beforeEach(watch.start);
afterEach(() => {
  watch.stop();
  expect(watch.reasons).toEqual([]);
});

describe.skipIf(!available)('redisCacheStore and the invalidation bus on one Redis', () => {
  const clients: Redis[] = [];
  let redis: Redis;
  beforeAll(async () => {
    for (let i = 0; i < 3; i++) clients.push(redisClient());
    redis = clients[0] as Redis;
    await Promise.all(clients.map((c) => waitFor(() => c.status === 'ready', { timeoutMs: 5_000, message: 'redis ready' })));
  });
  afterAll(async () => {
    const keys = await redis.keys(`*${PREFIX}*`);
    if (keys.length > 0) await redis.del(...keys);
    for (const c of clients) c.disconnect();
  });

  it('writes entries under {prefix:v<version>:<encoded key>} with TTL + grace as the physical TTL', async () => {
    const prefix = ownPrefix();
    const cache = createCache<{ n: number }>({ l2: redisCacheStore(redis, { prefix }), ttlMs: 10_000, graceMs: 5_000, jitter: 0 });
    await cache.set('user:1', { n: 1 });
    const key = `{${prefix}:v0:${encodeKeyPart('user:1')}}`;
    expect(await redis.get(key)).toMatch(/^1\|\d+\|\d+\|v\|\{"n":1\}$/);
    const pttl = await redis.pttl(key);
    expect(pttl).toBeGreaterThan(14_000);
    expect(pttl).toBeLessThanOrEqual(15_000);
    const other = createCache<{ n: number }>({ l2: redisCacheStore(clients[1] as Redis, { prefix }) });
    expect(await other.get('user:1')).toEqual({ n: 1 });
  });

  it('batches: getMany is one MGET, setMany one pipeline; negative entries are shared', async () => {
    const prefix = ownPrefix();
    const a = createCache<number>({ l2: redisCacheStore(redis, { prefix }) });
    const b = createCache<number>({ l2: redisCacheStore(clients[1] as Redis, { prefix }) });
    await a.setMany(Array.from({ length: 50 }, (_, i) => ({ key: `k${i}`, value: i })));
    const monitor = await (clients[2] as Redis).duplicate();
    const commands: string[] = [];
    // Only this test's commands: the Redis is shared with other test files.
    await monitor.monitor().then((m) =>
      m.on('monitor', (_t: string, args: string[]) => {
        if (args.slice(1).some((a) => String(a).includes(prefix))) commands.push(String(args[0]).toLowerCase());
      }),
    );
    await wait(50);
    const values = await b.getMany(Array.from({ length: 60 }, (_, i) => `k${i}`));
    await wait(50);
    monitor.disconnect();
    expect(values).toEqual([...Array.from({ length: 50 }, (_, i) => i), ...Array.from({ length: 10 }, () => undefined)]);
    expect(commands.filter((c) => c === 'mget')).toHaveLength(1);
    expect(commands.filter((c) => c === 'get').length).toBeLessThanOrEqual(1); // the namespace version, once
    expect(await a.getOrSet('ghost', async () => undefined)).toBeUndefined();
    expect((await b.getEntry('ghost')).status).toBe('negative');
  });

  it('concurrent single-key reads (many get / getOrSet in one tick) share one MGET', async () => {
    const prefix = ownPrefix();
    const writer = createCache<number>({ l2: redisCacheStore(redis, { prefix }) });
    await writer.setMany(Array.from({ length: 40 }, (_, i) => ({ key: `k${i}`, value: i })));
    const reader = createCache<number>({ l2: redisCacheStore(clients[1] as Redis, { prefix }) });
    await reader.get('warm-up'); // reads the namespace version once
    const monitor = (clients[2] as Redis).duplicate();
    const commands: string[] = [];
    // Only this test's commands: the Redis is shared with other test files.
    await monitor.monitor().then((m) =>
      m.on('monitor', (_t: string, args: string[]) => {
        if (args.slice(1).some((a) => String(a).includes(prefix))) commands.push(String(args[0]).toLowerCase());
      }),
    );
    await wait(50);
    const values = await Promise.all([
      ...Array.from({ length: 40 }, (_, i) => reader.get(`k${i}`)),
      reader.getOrSet('k0', async () => -1),
      reader.get('k1'),
    ]);
    await wait(50);
    monitor.disconnect();
    expect(values).toEqual([...Array.from({ length: 40 }, (_, i) => i), 0, 1]);
    expect(commands.filter((c) => c === 'mget')).toHaveLength(1);
    expect(commands.filter((c) => c === 'get')).toHaveLength(0);
  });

  it('batched reads map every reply back to its own caller (duplicates, misses, more than one MGET batch)', async () => {
    const prefix = ownPrefix();
    const writer = createCache<string>({ l2: redisCacheStore(redis, { prefix }) });
    await writer.setMany(Array.from({ length: 700 }, (_, i) => ({ key: `k${i}`, value: `v${i}` })));
    const reader = createCache<string>({ l1: false, l2: redisCacheStore(clients[1] as Redis, { prefix }) });
    await reader.get('warm-up');
    await fc.assert(
      fc.asyncProperty(fc.array(fc.nat(899), { minLength: 600, maxLength: 1_200 }), async (ids) => {
        const values = await Promise.all(ids.map((i) => reader.get(`k${i}`)));
        expect(values).toEqual(ids.map((i) => (i < 700 ? `v${i}` : undefined)));
      }),
      { numRuns: 10 },
    );
  });

  it('keeps hostile keys apart and inside the prefix (fast-check)', async () => {
    const prefix = ownPrefix();
    const store = redisCacheStore(redis, { prefix });
    const reader = createCache<string>({ l1: false, l2: redisCacheStore(clients[1] as Redis, { prefix }) });
    const writer = createCache<string>({ l1: false, l2: store });
    await fc.assert(
      fc.asyncProperty(fc.uniqueArray(fc.string({ unit: 'binary', maxLength: 12 }), { minLength: 2, maxLength: 6 }), async (keys) => {
        await writer.setMany(keys.map((key) => ({ key, value: `v:${JSON.stringify(key)}` })));
        const values = await reader.getMany(keys);
        expect(values).toEqual(keys.map((key) => `v:${JSON.stringify(key)}`));
      }),
      { numRuns: 25 },
    );
    const keys = await redis.keys(`*${prefix}*`);
    for (const key of keys) expect(key.startsWith(`{${prefix}:v0:`) || key === `{${prefix}}:ns`).toBe(true);
  });

  it('clear() bumps the namespace: every process forgets at once through the bus, never KEYS', async () => {
    const prefix = ownPrefix();
    const sub = [new Redis(redisUrl()), new Redis(redisUrl())];
    const channel = `${prefix}:bus`;
    const a = createCache<number>({ l2: redisCacheStore(redis, { prefix }), bus: createInvalidationBus(sub[0] as Redis, redis, { channel }) });
    const b = createCache<number>({ l2: redisCacheStore(clients[1] as Redis, { prefix }), bus: createInvalidationBus(sub[1] as Redis, clients[1] as Redis, { channel }) });
    await wait(100);
    await a.set('x', 1);
    expect(await b.get('x')).toBe(1);
    await a.clear();
    await wait(100);
    expect(await b.get('x')).toBeUndefined();
    expect(await redis.get(`{${prefix}}:ns`)).toBe('1');
    await a.close();
    await b.close();
    for (const s of sub) s.disconnect();
  });

  it('after a clear from another process, the very next read uses the new namespace (never reads cleared entries back)', async () => {
    const prefix = ownPrefix();
    const sub = [new Redis(redisUrl()), new Redis(redisUrl())];
    const channel = `${prefix}:bus`;
    const busB = createInvalidationBus(sub[1] as Redis, clients[1] as Redis, { channel });
    const a = createCache<number>({ l2: redisCacheStore(redis, { prefix }), bus: createInvalidationBus(sub[0] as Redis, redis, { channel }) });
    const b = createCache<number>({ l2: redisCacheStore(clients[1] as Redis, { prefix }), bus: busB });
    await wait(100);
    await a.set('x', 1);
    expect(await b.get('x')).toBe(1);
    // Read right after b's cache handled the clear message (its handler runs first).
    const readAfterClear = new Promise<number | undefined>((resolve) => {
      busB.subscribeInvalidations((_keys, info) => {
        if (info.clear === true) resolve(b.get('x'));
      });
    });
    await a.clear();
    expect(await readAfterClear).toBeUndefined();
    expect(await b.get('x')).toBeUndefined();
    await a.close();
    await b.close();
    for (const s of sub) s.disconnect();
  });

  it('a write made while this process clears lands in the new namespace', async () => {
    const prefix = ownPrefix();
    const cache = createCache<number>({ l2: redisCacheStore(redis, { prefix }) });
    await cache.set('warm', 1); // the namespace version is known
    await Promise.all([cache.clear(), cache.set('k', 2)]);
    expect(await createCache<number>({ l2: redisCacheStore(clients[1] as Redis, { prefix }) }).get('k')).toBe(2);
  });

  it('a sequence gap from a publisher expires every L1 entry (kept for grace) and is reported', async () => {
    const prefix = ownPrefix();
    const events = createEventBus();
    const gaps: XEvent[] = [];
    events.on('cache.bus_gap', (e) => void gaps.push(e));
    const sub = new Redis(redisUrl());
    const channel = `${prefix}:bus`;
    const bus = createInvalidationBus(sub, redis, { channel });
    const cache = createCache<number>({ events, l2: redisCacheStore(redis, { prefix }), bus, graceMs: 60_000 });
    await wait(100);
    await cache.set('a', 1);
    await cache.set('b', 2);
    // Another publisher's messages 1 and 3 arrive; 2 was lost.
    await redis.publish(channel, JSON.stringify({ s: 'other', q: 1, k: ['zzz'] }));
    await redis.publish(channel, JSON.stringify({ s: 'other', q: 3, k: ['zzz'] }));
    await waitFor(() => gaps.length === 1, { timeoutMs: 2_000, message: 'gap' });
    expect(bus.stats().gaps).toBe(1);
    // Redis now changes behind the cache's back: L1 must not answer for it any more.
    await createCache<number>({ l1: false, l2: redisCacheStore(clients[1] as Redis, { prefix }) }).set('a', 10);
    expect(await cache.get('a')).toBe(10);
    // Own messages and garbage are ignored.
    await redis.publish(channel, 'not json');
    await redis.publish(channel, JSON.stringify({ s: bus.sourceId, q: 99, k: ['a'] }));
    await wait(50);
    expect(gaps).toHaveLength(1);
    await cache.close();
    sub.disconnect();
  });
});
