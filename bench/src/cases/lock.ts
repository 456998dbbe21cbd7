import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { Redlock } from '@sesamecare-oss/redlock';
import Redis from 'ioredis';
import { Mutex } from 'redis-semaphore';
import type { Op, Row } from '../harness.js';
import { loadBuilt } from '../packages.js';

type LockModule = typeof import('@x/lock');
type LockRedisModule = typeof import('@x/lock/redis');

const loadLock = () => loadBuilt<LockModule, LockRedisModule>('@x/lock', 'createLock', 'redis');

/** Lock operations in flight in the Redis rows; each op is 64 concurrent acquire + release on 64 keys. */
const IN_FLIGHT = 64;
const TTL_MS = 10_000;
const keys = Array.from({ length: IN_FLIGHT }, (_, i) => `bench-lock:${i}`);
/** Pairs per op in the memory row: a loop amortises the harness's own `await` per op. */
const BATCH = 100;

const expectCount = (expected: number) => (column: string, result: unknown) => {
  if (result !== expected) throw new Error(`${column}: expected ${expected} acquire+release pairs, got ${String(result)}`);
};

/** `BATCH` uncontended `tryLock` + `release` pairs, each awaited as a caller must. */
function lockPairs(lock: ReturnType<LockModule['createLock']>): Op {
  return async () => {
    let n = 0;
    for (let i = 0; i < BATCH; i++) {
      const lease = await lock.tryLock(keys[i & 63] as string);
      if (lease !== null && (await lease.release()) === 'released') n++;
    }
    return n;
  };
}

/**
 * Uncontended `tryLock` + `release` on the memory store, 100 per op, against a `Map` set +
 * delete of the same 100 keys (the least any in-process lock can do). Target: at most 2x.
 *
 * Like with like: both ops run inside the same awaited wrapper (the harness's `awaited`), once per
 * 100 pairs. Inside, the baseline is the plain, synchronous `Map` pair the issue names; the lock
 * pays the two awaits its promise API costs every caller. Those awaits, and the `Map` pair's own
 * cost, are priced apart in the two informational rows below.
 */
export async function lockMemory(): Promise<Row> {
  const { mod, note } = await loadLock();
  const map = new Map<string, number>();
  const baseline: Op = async () => {
    let n = 0;
    for (let i = 0; i < BATCH; i++) {
      const key = keys[i & 63] as string;
      map.set(key, i);
      map.delete(key);
      n++;
    }
    return n;
  };
  const lock = mod?.createLock({ name: 'bench-memory', ttlMs: TTL_MS });
  return {
    operation: `lock, memory, tryLock + release x${BATCH} (vs Map set + delete)`,
    target: 2,
    baseline,
    baselineLabel: 'Map set + delete',
    ops: { ...(lock && { x: lockPairs(lock) }) },
    verify: expectCount(BATCH),
    ...(note !== undefined && { note }),
  };
}

/**
 * Informational: the same pairs against the same `Map` set + delete with each half awaited as a
 * settled promise (what `tryLock` and `release` return here), the floor of any promise-returning lock. The ratio is the lock's own work beyond its API's awaits.
 */
export async function lockMemoryVsAwaited(): Promise<Row> {
  const { mod, note } = await loadLock();
  const map = new Map<string, number>();
  const baseline: Op = async () => {
    let n = 0;
    for (let i = 0; i < BATCH; i++) {
      const key = keys[i & 63] as string;
      await Promise.resolve(map.set(key, i));
      await Promise.resolve(map.delete(key));
      n++;
    }
    return n;
  };
  const lock = mod?.createLock({ name: 'bench-memory-awaited', ttlMs: TTL_MS });
  return {
    operation: `lock, memory, tryLock + release x${BATCH} (vs Map set + delete, each awaited)`,
    baseline,
    baselineLabel: 'awaited Map set + delete',
    ops: { ...(lock && { x: lockPairs(lock) }) },
    verify: expectCount(BATCH),
    ...(note !== undefined && { note }),
  };
}

/**
 * Informational: the same pairs against a `Map` entry reused in place (get, then overwrite two
 * fields, twice), with no insert or delete. A `Map` that keeps emptying and refilling is rehashed
 * by V8 every few operations, which is most of the cost of the baseline; the memory store
 * reuses a released key's entry for that reason. This row shows how far that baseline's own churn
 * carries the first row's ratio.
 */
export async function lockMemoryVsReusedEntry(): Promise<Row> {
  const { mod, note } = await loadLock();
  const map = new Map<string, { owner: number; expiresAt: number }>(keys.map((k) => [k, { owner: 0, expiresAt: 0 }]));
  const baseline: Op = async () => {
    let n = 0;
    for (let i = 0; i < BATCH; i++) {
      const key = keys[i & 63] as string;
      const taken = map.get(key) as { owner: number; expiresAt: number };
      taken.owner = i + 1;
      taken.expiresAt = i;
      const freed = map.get(key) as { owner: number; expiresAt: number };
      freed.owner = 0;
      freed.expiresAt = -Infinity;
      n++;
    }
    return n;
  };
  const lock = mod?.createLock({ name: 'bench-memory-reused', ttlMs: TTL_MS });
  return {
    operation: `lock, memory, tryLock + release x${BATCH} (vs a Map entry reused in place)`,
    baseline,
    baselineLabel: 'Map get + field writes',
    ops: { ...(lock && { x: lockPairs(lock) }) },
    verify: expectCount(BATCH),
    ...(note !== undefined && { note }),
  };
}

function client(port: number | string): Redis {
  const redis = new Redis(typeof port === 'number' ? port : port, { enableOfflineQueue: false, lazyConnect: true, maxRetriesPerRequest: 1 });
  redis.on('error', () => {});
  return redis;
}

interface RedisRows {
  readonly vsRedlock: Row;
  readonly vsSemaphore: Row;
}

/**
 * One Redis, 64 acquire + release pairs in flight on 64 keys, every acquire granted, on one
 * ioredis client shared by all three libraries (`enableOfflineQueue: false`, no auto-pipelining).
 * Ratios are op time over the anchor's; the target is at least 1.5x the throughput of the
 * faster anchor, i.e. a ratio of at most 0.67 against both.
 */
async function redisRows(): Promise<RedisRows | { note: string }> {
  const { mod, redis: redisModule, note } = await loadLock();
  const url = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
  const redis = client(url);
  try {
    await redis.connect();
  } catch (error) {
    redis.disconnect();
    return { note: `no Redis at ${url} (${error instanceof Error ? error.message : String(error)})` };
  }
  const redlock = new Redlock([redis], { retryCount: 0, automaticExtensionThreshold: 0 });
  const ours =
    mod && redisModule ? mod.createLock({ name: 'bench-redis', ttlMs: TTL_MS, store: redisModule.redisLockStore(redis, { prefix: 'bench-x', timeoutMs: 1_000 }) }) : undefined;
  const pair = async (acquire: () => Promise<{ release(): Promise<unknown> } | null>): Promise<number> => {
    const lease = await acquire();
    if (lease === null) return 0;
    await lease.release();
    return 1;
  };
  const sum = (counts: readonly number[]) => counts.reduce((a, b) => a + b, 0);
  const sesame: Op = () => Promise.all(keys.map((k) => pair(() => redlock.acquire([`bench-ses:${k}`], TTL_MS)))).then(sum);
  const semaphore: Op = () =>
    Promise.all(
      keys.map(async (k) => {
        const mutex = new Mutex(redis, `bench-rs:${k}`, { lockTimeout: TTL_MS, acquireTimeout: 1_000, refreshInterval: 0 });
        await mutex.acquire();
        await mutex.release();
        return 1;
      }),
    ).then(sum);
  const x: Op | undefined = ours && (() => Promise.all(keys.map((k) => pair(() => ours.tryLock(k)))).then(sum));
  let disposed = false;
  const dispose = () => {
    if (disposed) return;
    disposed = true;
    redis.disconnect();
  };
  const common = { target: 1 / 1.5, verify: expectCount(IN_FLIGHT), ...(note !== undefined && { note }), ops: { ...(x && { x }) } };
  return {
    vsRedlock: {
      operation: `lock, Redis, acquire + release, ${IN_FLIGHT} in flight (vs @sesamecare-oss/redlock)`,
      baseline: sesame,
      baselineLabel: '@sesamecare-oss/redlock',
      ...common,
    },
    vsSemaphore: {
      operation: `lock, Redis, acquire + release, ${IN_FLIGHT} in flight (vs redis-semaphore Mutex)`,
      baseline: semaphore,
      baselineLabel: 'redis-semaphore Mutex',
      ...common,
      dispose,
    },
  };
}

let redisSetup: Promise<RedisRows | { note: string }> | undefined;
const sharedRedisRows = () => (redisSetup ??= redisRows());

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Starts a throwaway redis-server (no persistence) and resolves once it answers. */
async function startServer(): Promise<{ port: number; child: ChildProcess }> {
  const port = await freePort();
  const child = spawn(process.env['REDIS_SERVER'] ?? 'redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  for (let i = 0; i < 400; i++) {
    // A fresh client per try: one whose first connect failed is already reconnecting on its own.
    const probe = new Redis(port, { lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
    probe.on('error', () => {});
    try {
      await probe.connect();
      probe.disconnect();
      return { port, child };
    } catch {
      probe.disconnect();
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  child.kill('SIGKILL');
  throw new Error(`redis-server on port ${port} did not start`);
}

/**
 * Informational: the same 64 acquire + release pairs through `redlockStore` over three
 * redis-servers started for the row, against `redisLockStore` on one of them. Every operation
 * goes to all three nodes, so expect about 3x the client work.
 */
async function redlockRow(): Promise<Row> {
  const operation = `lock, Redlock over 3 servers, acquire + release, ${IN_FLIGHT} in flight (vs one server)`;
  const { mod, redis: redisModule, note } = await loadLock();
  if (!mod || !redisModule) return { operation, ops: {}, note: note ?? '@x/lock missing' };
  let servers: { port: number; child: ChildProcess }[];
  try {
    servers = await Promise.all([startServer(), startServer(), startServer()]);
  } catch (error) {
    return { operation, ops: {}, note: `could not start redis-server (${error instanceof Error ? error.message : String(error)})` };
  }
  const clients = servers.map((s) => client(s.port));
  await Promise.all(clients.map((c) => c.connect()));
  const quorum = mod.createLock({ name: 'bench-redlock', ttlMs: TTL_MS, store: redisModule.redlockStore(clients, { prefix: 'bench-q', timeoutMs: 1_000 }) });
  const single = mod.createLock({ name: 'bench-single', ttlMs: TTL_MS, store: redisModule.redisLockStore(clients[0] as Redis, { prefix: 'bench-s', timeoutMs: 1_000 }) });
  const run = (lock: typeof quorum) => () =>
    Promise.all(
      keys.map(async (k) => {
        const lease = await lock.tryLock(k);
        return lease !== null && (await lease.release()) === 'released' ? 1 : 0;
      }),
    ).then((counts) => counts.reduce((a: number, b: number) => a + b, 0));
  return {
    operation,
    baseline: run(single),
    baselineLabel: '@x/lock redisLockStore, one server',
    ops: { x: run(quorum) },
    verify: expectCount(IN_FLIGHT),
    dispose: () => {
      for (const c of clients) c.disconnect();
      for (const s of servers) s.child.kill('SIGKILL');
    },
  };
}

function skipped(operation: string, note: string): Row {
  return { operation, ops: {}, note };
}

/** Every row this file contributes, in the `RowFactory` shape run.ts lists. */
export const rows: readonly [string, () => Promise<Row>][] = [
  ['lock-memory', lockMemory],
  ['lock-memory-awaited', lockMemoryVsAwaited],
  ['lock-memory-reused', lockMemoryVsReusedEntry],
  [
    'lock-redis-redlock',
    async () => {
      const r = await sharedRedisRows();
      return 'note' in r ? skipped('lock, Redis, 64 in flight', r.note) : r.vsRedlock;
    },
  ],
  [
    'lock-redis-semaphore',
    async () => {
      const r = await sharedRedisRows();
      return 'note' in r ? skipped('lock, Redis, 64 in flight', r.note) : r.vsSemaphore;
    },
  ],
  ['lock-quorum', redlockRow],
];
