import { BentoCache, bentostore } from 'bentocache';
import { memoryDriver } from 'bentocache/drivers/memory';
import { redisDriver } from 'bentocache/drivers/redis';
import { createCache as createCacheManager } from 'cache-manager';
import Redis from 'ioredis';
import { LRUCache } from 'lru-cache';
import type { Op, Row } from '../harness.js';
import { loadBuilt } from '../packages.js';

type CacheModule = typeof import('@x/cache');
type CacheRedisModule = typeof import('@x/cache/redis');

const loadCache = () => loadBuilt<CacheModule, CacheRedisModule>('@x/cache', 'createCache', 'redis');

const VALUE = { id: 1, name: 'Ada', roles: ['admin'] };
const expectValue = (column: string, result: unknown) => {
  if ((result as { id?: unknown } | undefined)?.id !== 1) throw new Error(`${column}: expected the cached value, got ${JSON.stringify(result)}`);
};
const KEY = 'user:1';

/** L1 hit `get` against lru-cache's `get` (the in-memory speed reference), target at most 2x. */
async function l1Get(): Promise<Row> {
  const { mod, note } = await loadCache();
  const lru = new LRUCache<string, object>({ max: 10_000 });
  lru.set(KEY, VALUE);
  const cache = mod?.createCache<object>({ name: 'bench-l1' });
  await cache?.set(KEY, VALUE);
  return {
    operation: 'cache get, L1 hit (vs lru-cache get)',
    target: 2,
    baseline: () => lru.get(KEY) as never,
    baselineLabel: 'lru-cache get',
    ops: { ...(cache && { x: () => cache.get(KEY) }) },
    verify: expectValue,
    ...(note !== undefined && { note }),
  };
}

/** The same L1 hit against cache-manager's `get` (informational: BRIEF §6 quotes ≈ 650 ns). */
async function l1GetVsCacheManager(): Promise<Row> {
  const { mod, note } = await loadCache();
  const manager = createCacheManager();
  await manager.set(KEY, VALUE);
  const cache = mod?.createCache<object>({ name: 'bench-l1-cm' });
  await cache?.set(KEY, VALUE);
  return {
    operation: 'cache get, L1 hit (vs cache-manager get, informational)',
    baseline: () => manager.get(KEY),
    baselineLabel: 'cache-manager get',
    ops: { ...(cache && { x: () => cache.get(KEY) }) },
    verify: expectValue,
    ...(note !== undefined && { note }),
  };
}

/** `getOrSet` answered from L1 against bentocache's memory-tier `getOrSet`, target at least 5x (ratio <= 0.2). */
async function getOrSetL1(): Promise<Row> {
  const { mod, note } = await loadCache();
  const bento = new BentoCache({ default: 'memory', stores: { memory: bentostore().useL1Layer(memoryDriver({ maxItems: 10_000 })) } });
  const factory = () => VALUE;
  await bento.getOrSet({ key: KEY, factory, ttl: '1h' });
  const cache = mod?.createCache<object>({ name: 'bench-getorset' });
  const loader = () => VALUE;
  await cache?.getOrSet(KEY, loader);
  return {
    operation: 'cache getOrSet, L1 hit (vs bentocache getOrSet)',
    target: 1 / 5,
    baseline: () => bento.getOrSet({ key: KEY, factory, ttl: '1h' }),
    baselineLabel: 'bentocache getOrSet (memory)',
    ops: { ...(cache && { x: () => cache.getOrSet(KEY, loader) }) },
    verify: expectValue,
    dispose: () => void bento.disconnectAll().catch(() => undefined),
    ...(note !== undefined && { note }),
  };
}

/**
 * A tiered read that misses L1 and hits L2 on the same Redis, through the same ioredis client:
 * ours with `l1: false` (every read goes to Redis), bentocache with only its L2 layer. Target:
 * at least 1.3x the reads per second (ratio <= 0.77).
 */
async function tieredL2Get(): Promise<Row[]> {
  const { mod, redis: redisModule, note } = await loadCache();
  const url = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
  const client = new Redis(url, { enableOfflineQueue: false, lazyConnect: true, maxRetriesPerRequest: 1 });
  client.on('error', () => {});
  try {
    await client.connect();
  } catch (error) {
    client.disconnect();
    return [{ operation: 'cache get, L2 hit on Redis, L1 miss (vs bentocache L2 get)', ops: {}, note: `no Redis at ${url} (${error instanceof Error ? error.message : String(error)})` }];
  }
  const bento = new BentoCache({
    default: 'redis',
    stores: { redis: bentostore().useL2Layer(redisDriver({ connection: client, prefix: 'bench-bento' })) },
  });
  await bento.set({ key: KEY, value: VALUE, ttl: '1h' });
  const cache = mod && redisModule ? mod.createCache<object>({ name: 'bench-l2', l1: false, l2: redisModule.redisCacheStore(client, { prefix: 'bench-x-cache', timeoutMs: 1_000 }) }) : undefined;
  await cache?.set(KEY, VALUE, { ttlMs: 3_600_000 });
  const keys = Array.from({ length: IN_FLIGHT }, (_, i) => `user:${i}`);
  for (const key of keys) await bento.set({ key, value: VALUE, ttl: '1h' });
  await cache?.setMany(keys.map((key) => ({ key, value: VALUE, ttlMs: 3_600_000 })));
  const ours: Op | undefined = cache && (() => cache.get(KEY));
  const oursMany: Op | undefined = cache && (() => Promise.all(keys.map((key) => cache.get(key))).then(countFound));
  let disposed = false;
  const dispose = () => {
    if (disposed) return;
    disposed = true;
    client.disconnect();
  };
  return [
    {
      operation: `cache get, L2 hit on Redis, L1 miss, ${IN_FLIGHT} in flight (vs bentocache L2 get)`,
      target: 1 / 1.3,
      baseline: () => Promise.all(keys.map((key) => bento.get({ key }))).then(countFound),
      baselineLabel: `bentocache get (L2 only, same Redis client) x ${IN_FLIGHT}`,
      ops: { ...(oursMany && { x: oursMany }) },
      verify: (column, result) => {
        if (result !== IN_FLIGHT) throw new Error(`${column}: expected ${IN_FLIGHT} values, got ${String(result)}`);
      },
      ...(note !== undefined && { note }),
    },
    {
      operation: 'cache get, L2 hit on Redis, L1 miss, one at a time (vs bentocache L2 get, informational)',
      baseline: () => bento.get({ key: KEY }),
      baselineLabel: 'bentocache get (L2 only, same Redis client)',
      ops: { ...(ours && { x: ours }) },
      verify: expectValue,
      dispose,
      ...(note !== undefined && { note }),
    },
  ];
}

const IN_FLIGHT = 64;
const countFound = (values: readonly unknown[]) => values.filter((v) => (v as { id?: unknown } | undefined)?.id === 1).length;

// The two Redis rows share one client and one setup.
let tiered: Promise<Row[]> | undefined;
const tieredRow = (index: number) => () => (tiered ??= tieredL2Get()).then((rows) => rows[index] ?? (rows[0] as Row));

export const rows: readonly [string, () => Promise<Row>][] = [
  ['cache-l1-get', l1Get],
  ['cache-l1-get-cache-manager', l1GetVsCacheManager],
  ['cache-getorset-l1', getOrSetL1],
  ['cache-tiered-l2-get', tieredRow(0)],
  ['cache-tiered-l2-get-sequential', tieredRow(1)],
];
