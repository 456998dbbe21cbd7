import BloomFilters from 'bloom-filters';
import Redis from 'ioredis';
import type { Op, Row } from '../harness.js';
import { loadBuilt } from '../packages.js';

type BloomModule = typeof import('@x/bloom');
type BloomRedisModule = typeof import('@x/bloom/redis');

const loadBloom = () => loadBuilt<BloomModule, BloomRedisModule>('@x/bloom', 'createBloomFilter', 'redis');

/** Items in the filters (the setting: 10^6 at 1%). */
const N = 1_000_000;
/** Calls per op: a loop amortises the harness's own `await` per op. */
const BATCH = 1_000;
/** Keys queried: half were added, half never were, in a pool that cycles. */
const POOL = 65_536;

interface MemoryFilters {
  readonly x: { add(key: string): boolean; has(key: string): boolean } | undefined;
  readonly anchor: { add(key: string): void; has(key: string): boolean };
  readonly queries: readonly string[];
  readonly note: string | undefined;
}

let memorySetup: Promise<MemoryFilters> | undefined;

/** Both filters sized for 10^6 items at 1% and filled with the same 10^6 keys. */
function memoryFilters(): Promise<MemoryFilters> {
  return (memorySetup ??= (async () => {
    const { mod, note } = await loadBloom();
    const x = mod?.createBloomFilter({ expectedItems: N, falsePositiveRate: 0.01 });
    const anchor = BloomFilters.BloomFilter.create(N, 0.01);
    for (let i = 0; i < N; i++) {
      const key = `user:${i}`;
      x?.add(key);
      anchor.add(key);
    }
    const queries = Array.from({ length: POOL }, (_, i) => (i % 2 === 0 ? `user:${i * 7}` : `absent:${i}`));
    return { x, anchor, queries, note };
  })());
}

const expectCalls = (column: string, result: unknown) => {
  if (typeof result !== 'number' || result <= 0 || result > BATCH) throw new Error(`${column}: expected a count of positives in (0, ${BATCH}], got ${String(result)}`);
};

let cursor = 0;
/** The next BATCH query keys' start index (the pool cycles; both columns see the same mix). */
const nextSlice = (): number => {
  const start = cursor;
  cursor = (cursor + BATCH) & (POOL - 1);
  return start;
};

/**
 * `has` on a filter of 10^6 items at 1%, 1 000 calls per op (half present, half absent), against
 * bloom-filters' `BloomFilter` (the row's baseline). Target: at least 45x faster, a ratio of at
 * most 1/45. Per call: the op's time / 1 000.
 */
async function hasRow(): Promise<Row> {
  const { x, anchor, queries, note } = await memoryFilters();
  const baseline: Op = async () => {
    const start = nextSlice();
    let positives = 0;
    for (let i = 0; i < BATCH; i++) if (anchor.has(queries[(start + i) & (POOL - 1)]!)) positives++;
    return positives;
  };
  return {
    operation: `bloom has, 10^6 items at 1%, ${BATCH} calls (vs bloom-filters BloomFilter)`,
    target: 1 / 45,
    baseline,
    baselineLabel: 'bloom-filters BloomFilter.has',
    ops: {
      ...(x && {
        x: async () => {
          const start = nextSlice();
          let positives = 0;
          for (let i = 0; i < BATCH; i++) if (x.has(queries[(start + i) & (POOL - 1)]!)) positives++;
          return positives;
        },
      }),
    },
    verify: expectCalls,
    ...(note !== undefined && { note }),
  };
}

/** `add` of keys (new and already present) into the same filters; same target. */
async function addRow(): Promise<Row> {
  const { x, anchor, queries, note } = await memoryFilters();
  const baseline: Op = async () => {
    const start = nextSlice();
    for (let i = 0; i < BATCH; i++) anchor.add(queries[(start + i) & (POOL - 1)]!);
    return BATCH;
  };
  return {
    operation: `bloom add, 10^6 items at 1%, ${BATCH} calls (vs bloom-filters BloomFilter)`,
    target: 1 / 45,
    baseline,
    baselineLabel: 'bloom-filters BloomFilter.add',
    ops: {
      ...(x && {
        x: async () => {
          const start = nextSlice();
          for (let i = 0; i < BATCH; i++) x.add(queries[(start + i) & (POOL - 1)]!);
          return BATCH;
        },
      }),
    },
    verify: expectCalls,
    ...(note !== undefined && { note }),
  };
}

/** Keys per Redis op. */
const REDIS_BATCH = 500;

interface RedisRows {
  readonly has: Row;
  readonly add: Row;
}

/**
 * Redis, 10^5 items at 1% (k = 7), one ioredis client (`enableOfflineQueue: false`): `hasMany` /
 * `addMany` of 500 keys (pipelined, one BITFIELD_RO / BITFIELD per key) against the same 500 keys
 * one call at a time, awaited in turn (the baseline). Keys/s = 500 / (op time). Informational: the
 * issue's target is >= 50 000 keys/s pipelined, read from the ns column.
 */
async function redisRows(): Promise<RedisRows | { note: string }> {
  const { redis: redisModule, note } = await loadBloom();
  if (redisModule === undefined) return { note: note ?? '@x/bloom/redis missing' };
  const url = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
  const client = new Redis(url, { enableOfflineQueue: false, lazyConnect: true, maxRetriesPerRequest: 1 });
  client.on('error', () => {});
  try {
    await client.connect();
  } catch (error) {
    client.disconnect();
    return { note: `no Redis at ${url} (${error instanceof Error ? error.message : String(error)})` };
  }
  const key = `bench-${process.pid}-${Date.now().toString(36)}`;
  const filter = await redisModule.redisBloomFilter(client as never, { key, prefix: 'bench-bloom', expectedItems: 100_000, falsePositiveRate: 0.01, timeoutMs: 5_000 });
  const all = Array.from({ length: 100_000 }, (_, i) => `user:${i}`);
  for (let i = 0; i < all.length; i += 5_000) await filter.addMany(all.slice(i, i + 5_000));
  let offset = 0;
  const slice = () => {
    const start = offset;
    offset = (offset + REDIS_BATCH) % (all.length - REDIS_BATCH);
    return all.slice(start, start + REDIS_BATCH);
  };
  const count = (answers: readonly boolean[]) => answers.filter(Boolean).length;
  const oneByOne = (call: (key: string) => Promise<boolean>): Op => async () => {
    let positives = 0;
    for (const k of slice()) if (await call(k)) positives++;
    return positives;
  };
  let disposed = false;
  const dispose = () => {
    if (disposed) return;
    disposed = true;
    void client.del(...filter.keys.bits, filter.keys.meta).finally(() => client.disconnect());
  };
  const verify = (column: string, result: unknown) => {
    if (result !== REDIS_BATCH) throw new Error(`${column}: expected ${REDIS_BATCH} positives, got ${String(result)}`);
  };
  return {
    has: {
      operation: `bloom Redis hasMany, ${REDIS_BATCH} keys pipelined (vs ${REDIS_BATCH} has() one at a time)`,
      baseline: oneByOne((k) => filter.has(k)),
      baselineLabel: `${REDIS_BATCH} has() in turn`,
      ops: { x: async () => count(await filter.hasMany(slice())) },
      verify,
    },
    add: {
      operation: `bloom Redis addMany, ${REDIS_BATCH} keys pipelined (vs ${REDIS_BATCH} add() one at a time)`,
      baseline: oneByOne((k) => filter.add(k)),
      baselineLabel: `${REDIS_BATCH} add() in turn`,
      ops: { x: async () => count(await filter.addMany(slice())) },
      verify,
      dispose,
    },
  };
}

let redisSetup: Promise<RedisRows | { note: string }> | undefined;
const sharedRedisRows = () => (redisSetup ??= redisRows());

const skipped = (operation: string, note: string): Row => ({ operation, ops: {}, note });

/** Every row this file contributes, in the `RowFactory` shape run.ts lists. */
export const rows: readonly [string, () => Promise<Row>][] = [
  ['bloom-has', hasRow],
  ['bloom-add', addRow],
  [
    'bloom-redis-has',
    async () => {
      const r = await sharedRedisRows();
      return 'note' in r ? skipped('bloom Redis hasMany', r.note) : r.has;
    },
  ],
  [
    'bloom-redis-add',
    async () => {
      const r = await sharedRedisRows();
      return 'note' in r ? skipped('bloom Redis addMany', r.note) : r.add;
    },
  ],
];
