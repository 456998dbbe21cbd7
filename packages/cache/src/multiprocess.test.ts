import { setTimeout as wait } from 'node:timers/promises';
import { forkTestWorker, redisAvailable, redisUrl, testKeyPrefix } from '@x/test-support';
import type { TestWorker } from '@x/test-support';
import Redis from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CacheStats } from './index.js';
import type { WorkerCall } from './test-fixtures/cache-worker.js';

const available = await redisAvailable('cache');
const PREFIX = testKeyPrefix(import.meta.url);

/** A forked process running src/test-fixtures/cache-worker.ts. */
type Worker = TestWorker<[WorkerCall]>;
const startWorker = (): Worker => forkTestWorker(new URL('./test-fixtures/cache-worker.ts', import.meta.url), { cwd: new URL('..', import.meta.url) });

describe.skipIf(!available)('@x/cache across processes (real Redis)', () => {
  let workers: Worker[] = [];
  let redis: Redis;
  let seq = 0;
  const prefix = () => `${PREFIX}mp${seq++}`;

  beforeAll(async () => {
    redis = new Redis(redisUrl());
    workers = Array.from({ length: 4 }, startWorker);
    await Promise.all(workers.map((w) => w.ready));
  }, 60_000);

  afterAll(async () => {
    for (const w of workers) w.child.kill();
    const keys = await redis.keys(`*${PREFIX}*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  });

  it('4 processes through one Redis with the lock: 1 loader call, every process gets its value', async () => {
    const p = prefix();
    await Promise.all(workers.map((w) => w.call({ op: 'init', url: redisUrl(), prefix: p, lock: true })));
    const startAt = Date.now() + 200;
    const values = await Promise.all(workers.map((w) => w.call<string>({ op: 'getOrSet', key: 'hot', startAt, loadMs: 300 })));
    expect(await redis.get(`${p}:loads`)).toBe('1');
    expect(new Set(values).size).toBe(1);
    expect(values[0]).toMatch(/^value-from-\d+$/);
  }, 20_000);

  it("a write in one process drops the other's L1; a killed subscriber connection resyncs it (nothing stale served)", async () => {
    const p = prefix();
    const [a, b] = workers as [Worker, Worker];
    await Promise.all([a, b].map((w) => w.call({ op: 'init', url: redisUrl(), prefix: p, bus: true, graceMs: 0 })));
    await a.call({ op: 'set', key: 'k', value: 'v1' });
    expect(await b.call({ op: 'get', key: 'k' })).toBe('v1'); // now in b's L1 (60 s)
    await a.call({ op: 'set', key: 'k', value: 'v2' });
    await wait(50);
    expect(await b.call({ op: 'get', key: 'k' })).toBe('v2');

    // b's subscriber connection dies; a publishes while b is away (that message is lost to b).
    await b.call({ op: 'killSubscriber' });
    await a.call({ op: 'set', key: 'k', value: 'v3' });
    await wait(300); // b reconnects (retry every 50 ms)
    expect(await b.call({ op: 'get', key: 'k' })).toBe('v3');
    const stats = await b.call<CacheStats>({ op: 'stats' });
    expect(stats.bus.gaps).toBeGreaterThanOrEqual(1);
    // and the stream goes on after the reconnect
    await a.call({ op: 'set', key: 'k', value: 'v4' });
    await wait(50);
    expect(await b.call({ op: 'get', key: 'k' })).toBe('v4');
  }, 20_000);
});
