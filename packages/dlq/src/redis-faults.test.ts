import { fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createEventBus, isXError, systemClock } from '@x/core';
import type { XEvent } from '@x/core';
import { redisAvailable, redisClient, redisServerInstalled, redisUrl, startRedisServer, startTcpProxy, testKeyPrefix } from '@x/test-support';
import type { RedisServer, TcpProxy } from '@x/test-support';
import type Redis from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { createDeadLetterQueue } from './index.js';
import type { DeadLetterQueue } from './index.js';
import { redisDlqStore } from './redis.js';
import { until } from './test-contract.js';

const available = await redisAvailable('dlq');
/** The tests below that start their own redis-server. */
const installed = redisServerInstalled('dlq');
const prefix = testKeyPrefix(import.meta.url);
const cleanup: Array<() => unknown> = [];
afterAll(async () => {
  for (const step of cleanup.reverse()) await step();
});

function client(url: string): Redis {
  const redis = redisClient(url);
  cleanup.push(() => redis.disconnect());
  return redis;
}

describe.skipIf(!available)('nothing lost', () => {
  it('an item whose worker process is SIGKILLed mid-processing is processed by another worker after visibilityMs', async () => {
    const redis = client(redisUrl());
    const own = `${prefix}kill`;
    cleanup.push(async () => {
      const keys = await redis.keys(`{${own}*`);
      if (keys.length > 0) await redis.del(...keys);
    });
    const producer = createDeadLetterQueue({ name: 'jobs', store: redisDlqStore(redis, { prefix: own }), backoff: () => 0, events: createEventBus() });
    const id = await producer.add({ order: 42 }, { idempotencyKey: 'order-42' });

    const child: ChildProcess = fork(fileURLToPath(new URL('./test-fixtures/hang-worker.ts', import.meta.url)), [redisUrl(), own, 'jobs', '400'], {
      execArgv: ['--conditions=@x/source', '--import', 'tsx'],
      cwd: fileURLToPath(new URL('..', import.meta.url)),
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    cleanup.push(() => child.kill('SIGKILL'));
    const processing = await new Promise<{ processing: string; attempt: number }>((resolve, reject) => {
      child.on('message', (m: { processing?: string; attempt: number }) => {
        if (m.processing !== undefined) resolve(m as { processing: string; attempt: number });
      });
      child.once('exit', (code) => reject(new Error(`worker exited early (${code})`)));
    });
    expect(processing).toMatchObject({ processing: id, attempt: 1 });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
    expect((await producer.get(id))?.inFlight).toBe(true);

    const done: Array<{ item: unknown; attempt: number; at: number }> = [];
    const killedAt = Date.now();
    const rescuer = createDeadLetterQueue({
      name: 'jobs',
      store: redisDlqStore(redis, { prefix: own }),
      events: createEventBus(),
      visibilityMs: 400,
      pollIntervalMs: 20,
      process: (item, ctx) => void done.push({ item, attempt: ctx.attempt, at: Date.now() }),
    });
    cleanup.push(() => rescuer.close());
    rescuer.start();
    await until(() => done.length === 1, 5_000, 'the item to be processed again');
    expect(done[0]).toMatchObject({ item: { order: 42 }, attempt: 2 });
    await until(async () => (await producer.get(id)) === undefined, 2_000, 'the processed item to be removed');
    expect((await producer.stats()).pending).toBe(0);
    expect((done[0]?.at ?? 0) - killedAt).toBeLessThan(3_000);
  }, 20_000);

  it.skipIf(!installed)('every added item is still there after Redis (appendonly yes, appendfsync always) is killed and restarted', async () => {
    const server = await startRedisServer({ args: ['--appendonly', 'yes', '--appendfsync', 'always'] });
    cleanup.push(() => server.dispose());
    const redis = client(server.url);
    const dlq = createDeadLetterQueue<{ n: number }>({ name: 'durable', store: redisDlqStore(redis, { prefix: 'aof', timeoutMs: 2_000 }), maxAttempts: 1, events: createEventBus() });
    const ids: string[] = [];
    for (let i = 0; i < 500; i += 50) ids.push(...(await Promise.all(Array.from({ length: 50 }, (_, j) => dlq.add({ n: i + j }, { idempotencyKey: `n${i + j}` })))));
    await server.kill(); // SIGKILL: no shutdown save, only the AOF
    await server.start();
    await until(() => redis.status === 'ready', 5_000, 'the client to reconnect');
    const seen = new Set<number>();
    let cursor: string | undefined;
    do {
      const page = await dlq.list({ state: 'pending', limit: 200, ...(cursor !== undefined && { cursor }) });
      for (const r of page.items) seen.add(r.item.n);
      cursor = page.cursor;
    } while (cursor !== undefined);
    expect(seen.size).toBe(500);
    expect(await dlq.add({ n: 7 }, { idempotencyKey: 'n7' })).toBe(ids[7]);
  }, 30_000);
});

describe.skipIf(!available || !installed)('Redis down', () => {
  let server: RedisServer;
  let proxy: TcpProxy;

  async function setup(options: { onStoreError?: 'reject' | 'buffer'; bufferSize?: number } = {}) {
    server ??= await startRedisServer();
    proxy ??= await startTcpProxy({ targetPort: server.port });
    if (!cleanup.includes(disposeAll)) cleanup.push(disposeAll);
    const redis = client(proxy.url);
    await until(() => redis.status === 'ready', 5_000, 'connect');
    const events = createEventBus();
    const seen: XEvent[] = [];
    events.on('*', (e) => seen.push(e));
    const processed: unknown[] = [];
    const dlq = createDeadLetterQueue<number>({
      name: `down${Math.random()}`,
      store: redisDlqStore(redis, { prefix: 'down', timeoutMs: 150, cooldownMs: 100 }),
      events,
      clock: systemClock,
      backoff: () => 0,
      pollIntervalMs: 30,
      process: (item) => void processed.push(item),
      ...options,
    });
    return { dlq, processed, seen, redis };
  }
  const disposeAll = async () => {
    await proxy?.close();
    await server?.dispose();
  };
  const opened: DeadLetterQueue<number>[] = [];
  afterAll(async () => {
    for (const q of opened) await q.close();
  });

  it('add fails within timeoutMs with DLQ_STORE_UNAVAILABLE when Redis stalls, and never hangs', async () => {
    const { dlq } = await setup();
    opened.push(dlq);
    proxy.pause();
    try {
      const started = Date.now();
      const error = await dlq.add(1).catch((e: unknown) => e);
      const took = Date.now() - started;
      expect(isXError(error, 'DLQ_STORE_UNAVAILABLE')).toBe(true);
      expect((error as Error).message).toMatch(/dead-letter store "redis"/);
      expect(took).toBeLessThan(600);
      // The guard then fails fast instead of waiting a deadline per call.
      for (let i = 0; i < 3; i++) await dlq.add(i).catch(() => undefined);
      const fast = Date.now();
      expect(isXError(await dlq.add(9).catch((e: unknown) => e), 'DLQ_STORE_UNAVAILABLE')).toBe(true);
      expect(Date.now() - fast).toBeLessThan(100);
    } finally {
      proxy.resume();
    }
  });

  it("with onStoreError 'buffer', keeps items in the bounded local buffer and records them once Redis answers", async () => {
    const { dlq, seen } = await setup({ onStoreError: 'buffer', bufferSize: 3 });
    opened.push(dlq);
    proxy.pause();
    const ids = [];
    for (let i = 0; i < 4; i++) ids.push(await dlq.add(i).catch((e: unknown) => e));
    expect(ids.slice(0, 3)).toEqual(['local:1', 'local:2', 'local:3']);
    expect(isXError(ids[3], 'DLQ_STORE_UNAVAILABLE')).toBe(true);
    expect(seen.filter((e) => e.type === 'dlq.dropped')).toMatchObject([{ reason: 'buffer_full', item: 3 }]);
    expect(dlq.snapshot.buffered).toBe(3);
    proxy.resume();
    await new Promise((resolve) => setTimeout(resolve, 150)); // past the guard's cooldown
    await until(async () => {
      await dlq.add(100).catch(() => undefined);
      return dlq.snapshot.buffered === 0;
    }, 5_000, 'the buffer to flush');
    const pending = await dlq.list({ state: 'pending' });
    expect(pending.items.map((r) => r.item)).toEqual(expect.arrayContaining([0, 1, 2]));
  });

  it('workers keep polling while Redis is down and resume after it restarts', async () => {
    const { dlq, processed, redis } = await setup();
    opened.push(dlq);
    dlq.start();
    await dlq.add(1);
    await until(() => processed.length === 1, 5_000, 'first item');
    await server.stop();
    await new Promise((resolve) => setTimeout(resolve, 300));
    await server.start();
    await until(() => redis.status === 'ready', 5_000, 'reconnect');
    await until(async () => (await dlq.add(2).then(() => true, () => false)), 5_000, 'add after restart');
    await until(() => processed.length === 2, 5_000, 'the worker to resume');
    expect(processed).toEqual([1, 2]);
  }, 20_000);
});
