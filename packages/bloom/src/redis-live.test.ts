import { createEventBus, isXError } from '@x/core';
import type { XEvent } from '@x/core';
import { redisAvailable, redisUrl, testKeyPrefix } from '@x/test-support';
import Redis from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bloomPositions, createBloomFilter } from './index.js';
import { redisBloomFilter } from './redis.js';
import type { RedisBloomClient, RedisBloomFilterOptions } from './redis.js';

const available = await redisAvailable('@x/bloom');
const prefix = testKeyPrefix(import.meta.url).replace(/:$/, '');

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  return 'resolved';
}

describe.skipIf(!available)('redisBloomFilter on a live Redis', () => {
  let a: Redis;
  let b: Redis;
  const client = (r: Redis) => r as unknown as RedisBloomClient;
  const open = (r: Redis, options: Partial<RedisBloomFilterOptions> & { key: string }) =>
    redisBloomFilter(client(r), { expectedItems: 10_000, falsePositiveRate: 0.01, prefix, timeoutMs: 2_000, events: createEventBus(), ...options });

  beforeAll(() => {
    a = new Redis(redisUrl(), { enableOfflineQueue: false, maxRetriesPerRequest: 1 });
    b = new Redis(redisUrl(), { enableOfflineQueue: false, maxRetriesPerRequest: 1 });
  });
  afterAll(async () => {
    const keys = await a.keys(`{${prefix}:*`);
    if (keys.length > 0) await a.del(...keys);
    a.disconnect();
    b.disconnect();
  });

  it('adds and checks one key per BITFIELD call; add says whether it was possibly present', async () => {
    const f = await open(a, { key: 'basic' });
    expect(await f.has('user:1')).toBe(false);
    expect(await f.add('user:1')).toBe(false);
    expect(await f.add('user:1')).toBe(true);
    expect(await f.has('user:1')).toBe(true);
    expect(await f.addMany(['x', 'user:1', 'y'])).toEqual([false, true, false]);
    expect(await f.hasMany(['x', 'y', 'user:1', 'never'])).toEqual([true, true, true, false]);
    // Keys sharing one BITFIELD still answer as if added in turn.
    expect(await f.addMany(['dup', 'dup', 'dup2'])).toEqual([false, true, false]);
    expect(f.health).toBe('healthy');
  });

  it('sets the same bits as the in-memory filter: the Redis string equals toBytes() (hash contract)', async () => {
    const f = await open(a, { key: 'same-bits' });
    const memory = createBloomFilter({ expectedItems: 10_000, falsePositiveRate: 0.01, events: createEventBus() });
    const keys = Array.from({ length: 2_000 }, (_, i) => (i % 3 === 0 ? `ключ-${i}` : i % 3 === 1 ? `🙂${i}\ud800` : `k:${i}`));
    memory.addMany(keys);
    await f.addMany(keys.slice(0, 1_000));
    for (const key of keys.slice(1_000, 1_100)) await f.add(key);
    await f.addMany(keys.slice(1_100));
    const stored = await a.getBuffer(f.keys.bits[0]!);
    expect(stored?.byteLength).toBe(f.sizing.bytes);
    expect(new Uint8Array(stored!)).toEqual(memory.toBytes().subarray(56));
    // And the offsets sent for one key are the contract's.
    const { offsets } = bloomPositions('k:2', f.sizing);
    const bits = (await a.bitfield(f.keys.bits[0]!, ...offsets.flatMap((o) => ['GET', 'u1', o]) as ['GET', string, number])) as number[];
    expect(bits).toEqual(offsets.map(() => 1));
  });

  it('a filter written by one client is read by another, which finds the metadata and does not recreate it', async () => {
    const events = createEventBus();
    const opened: XEvent[] = [];
    events.on('bloom.opened', (e) => opened.push(e));
    const writer = await open(a, { key: 'shared', events });
    const keys = Array.from({ length: 5_000 }, (_, i) => `order:${i}`);
    await writer.addMany(keys);
    const reader = await open(b, { key: 'shared', events });
    expect((await reader.hasMany(keys)).every(Boolean)).toBe(true);
    expect(opened.map((e) => (e as { created?: boolean }).created)).toEqual([true, false]);
    expect((opened[0] as { preallocatedBytes?: number }).preallocatedBytes).toBe(writer.sizing.bytes);
    expect((opened[1] as { preallocatedBytes?: number }).preallocatedBytes).toBe(0);
    const stats = await reader.stats();
    expect(stats.items / 5_000).toBeGreaterThan(0.97);
    expect(stats.items / 5_000).toBeLessThan(1.03);
    expect(stats).toMatchObject({ m: writer.sizing.m, k: 7, capacity: 10_000, targetFpr: 0.01, backend: 'bitfield', hashVersion: 1 });
  });

  it('observed FPR within 1.2× of the target, no false negatives (pipelined)', async () => {
    const f = await open(a, { key: 'fpr', expectedItems: 20_000 });
    const keys = Array.from({ length: 20_000 }, (_, i) => `in:${i}`);
    await f.addMany(keys);
    expect((await f.hasMany(keys)).every(Boolean)).toBe(true);
    const absent = Array.from({ length: 50_000 }, (_, i) => `out:${i}`);
    const positives = (await f.hasMany(absent)).filter(Boolean).length;
    expect(positives / absent.length).toBeLessThanOrEqual(0.012);
  });

  it('pre-allocates every shard deliberately at creation; shards carry their own hash tags', async () => {
    const f = await open(a, { key: 'sharded{x}:y', shards: 3 });
    expect(f.keys.bits).toHaveLength(3);
    expect(new Set(f.keys.bits.map((k) => /^\{[^}]*\}/.exec(k)![0])).size).toBe(3);
    expect(f.keys.bits.every((k) => k.startsWith(`{${prefix}:sharded%7Bx%7D%3Ay:`))).toBe(true);
    for (const key of f.keys.bits) expect(await a.strlen(key)).toBe(f.sizing.shardBits / 8);
    const keys = Array.from({ length: 3_000 }, (_, i) => `s${i}`);
    await f.addMany(keys);
    for (const key of keys.slice(0, 50)) {
      const { shard, offsets } = bloomPositions(key, f.sizing);
      const bits = (await a.bitfield(f.keys.bits[shard]!, ...offsets.flatMap((o) => ['GET', 'u1', o]) as ['GET', string, number])) as number[];
      expect(bits.every((bit) => bit === 1)).toBe(true);
    }
    expect((await f.hasMany(keys)).every(Boolean)).toBe(true);
    await f.clear();
    expect(await f.has('s1')).toBe(false);
    expect(await a.strlen(f.keys.bits[0]!)).toBe(f.sizing.shardBits / 8);
  });

  it('refuses to open a key that holds a filter with other parameters (BLOOM_METADATA_MISMATCH), changing nothing', async () => {
    const f = await open(a, { key: 'meta' });
    await f.add('keep');
    for (const other of [{ falsePositiveRate: 0.001 }, { expectedItems: 20_000 }, { shards: 2 }]) {
      const error = await rejection(open(b, { key: 'meta', ...other }));
      expect(isXError(error, 'BLOOM_METADATA_MISMATCH'), String(error)).toBe(true);
      expect((error as Error).message).toMatch(/stored \d+, requested \d+/);
    }
    // A filter that sizes to the same m and k opens fine (expectedItems is informative only).
    expect(await (await open(b, { key: 'meta' })).has('keep')).toBe(true);
    expect(isXError(await rejection(open(b, { key: 'meta', backend: 'module' })), 'BLOOM_METADATA_MISMATCH')).toBe(true);
  });

  it('concurrent first opens by many processes: exactly one creates the filter, every other one finds it and shares its bits', async () => {
    const events = createEventBus();
    const opened: XEvent[] = [];
    events.on('bloom.opened', (e) => opened.push(e));
    const filters = await Promise.all(Array.from({ length: 12 }, (_, i) => open(i % 2 === 0 ? a : b, { key: 'race', events })));
    expect(opened.filter((e) => (e as { created?: boolean }).created === true)).toHaveLength(1);
    expect(new Set(filters.map((f) => f.keys.bits.join()))).toHaveProperty('size', 1);
    await filters[3]!.addMany(['x', 'y', 'z']);
    for (const f of filters) expect(await f.hasMany(['x', 'y', 'z'])).toEqual([true, true, true]);
  });

  it('concurrent first opens with different parameters: one set wins, every other opener gets BLOOM_METADATA_MISMATCH', async () => {
    const attempts = Array.from({ length: 10 }, (_, i) => open(i % 2 === 0 ? a : b, { key: 'race-params', falsePositiveRate: i % 2 === 0 ? 0.01 : 0.001 }));
    const results = await Promise.allSettled(attempts);
    const won = results.filter((r): r is PromiseFulfilledResult<Awaited<(typeof attempts)[number]>> => r.status === 'fulfilled');
    const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(won.length).toBe(5);
    expect(new Set(won.map((r) => r.value.sizing.k)).size).toBe(1);
    for (const r of lost) expect(isXError(r.reason, 'BLOOM_METADATA_MISMATCH'), String(r.reason)).toBe(true);
  });

  it('refuses to adopt bits whose metadata is gone (deleted or evicted): a clear error, not a filter that reads them with other parameters', async () => {
    const f = await open(a, { key: 'orphan' });
    await f.addMany(Array.from({ length: 500 }, (_, i) => `o:${i}`));
    await a.del(f.keys.meta);
    for (const other of [{}, { falsePositiveRate: 0.001 }]) {
      const error = await rejection(open(b, { key: 'orphan', ...other }));
      expect(isXError(error, 'BLOOM_METADATA_MISMATCH'), String(error)).toBe(true);
      expect((error as Error).message).toMatch(/without its metadata/);
    }
    // Nothing was written: still no metadata, the bits untouched.
    expect(await a.exists(f.keys.meta)).toBe(0);
    expect(await a.bitcount(f.keys.bits[0]!)).toBeGreaterThan(0);
    // Deleting the bits deliberately lets the key be created afresh.
    await a.del(...f.keys.bits);
    expect(await (await open(b, { key: 'orphan' })).has('o:1')).toBe(false);
  });

  it("uses BF.* only when asked, and says so clearly when the server has none (no silent fallback)", async () => {
    const info = (await a.call('COMMAND', 'INFO', 'BF.ADD')) as unknown[];
    const hasModule = Array.isArray(info) && info[0] !== null;
    if (hasModule) return; // a Redis 8 / RedisBloom server: nothing to refuse
    const error = await rejection(open(a, { key: 'module', backend: 'module' }));
    expect(isXError(error, 'BLOOM_MODULE_UNAVAILABLE')).toBe(true);
    // Nothing is left behind: the same key opens with the bitfield backend.
    expect(await a.exists(`{${prefix}:module}:meta`)).toBe(0);
    await expect(open(a, { key: 'module' })).resolves.toBeDefined();
  });

  it('rejects bad options with INVALID_OPTIONS and non-string keys at the call', async () => {
    const base = { key: 'opts', expectedItems: 10, falsePositiveRate: 0.01 };
    for (const [options, option] of [
      [{ ...base, key: '' }, 'key'],
      [{ ...base, key: 5 }, 'key'],
      [{ ...base, expectedItems: 0 }, 'expectedItems'],
      [{ ...base, falsePositiveRate: 1 }, 'falsePositiveRate'],
      [{ ...base, timeoutMs: 0 }, 'timeoutMs'],
      [{ ...base, prefix: 'a{b' }, 'prefix'],
      [{ ...base, onStoreError: 'absent' }, 'onStoreError'],
      [{ ...base, backend: 'auto' }, 'backend'],
      [{ ...base, preallocate: 'yes' }, 'preallocate'],
      [{ ...base, shards: 2000 }, 'shards'],
      [{ ...base, ttl: 5 }, 'ttl'],
    ] as const) {
      const error = await rejection(redisBloomFilter(client(a), options as never));
      expect(isXError(error, 'INVALID_OPTIONS'), `${option}: ${String(error)}`).toBe(true);
      expect((error as { option?: string }).option).toBe(option);
    }
    const f = await open(a, { key: 'opts' });
    for (const call of [() => f.add(1 as never), () => f.has(null as never), () => f.addMany([1] as never), () => f.hasMany('abc' as never)]) {
      expect(isXError(await rejection(call()), 'INVALID_OPTIONS')).toBe(true);
    }
  });
});
