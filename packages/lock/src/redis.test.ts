import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { setTimeout as wait } from 'node:timers/promises';
import { createEventBus } from '@x/core';
import type { XEvent } from '@x/core';
import { encodeKeyPart } from '@x/core/store';
import { redisAvailable, redisClient, redisUrl, startRedisServer, testKeyPrefix, unhandledRejections, waitFor } from '@x/test-support';
import type { RedisServer } from '@x/test-support';
import fc from 'fast-check';
import type Redis from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createLock, createSemaphore } from './index.js';
import type { Lease } from './index.js';
import { redisLockStore } from './redis.js';
import { runExclusion, strictlyIncreasing } from './test-exclusion.js';

const available = await redisAvailable('lock');
const PREFIX = testKeyPrefix(import.meta.url);
let seq = 0;
const ownPrefix = () => `${PREFIX}${seq++}`;

const client = (url = redisUrl()): Redis => redisClient(url);

const watch = unhandledRejections();
beforeEach(watch.start);
afterEach(() => {
  watch.stop();
  expect(watch.reasons).toEqual([]);
});

describe.skipIf(!available)('redisLockStore on one Redis', () => {
  const clients: Redis[] = [];
  let redis: Redis;
  beforeAll(async () => {
    for (let i = 0; i < 4; i++) clients.push(client());
    redis = clients[0] as Redis;
    await Promise.all(clients.map((c) => waitFor(() => c.status === 'ready', { timeoutMs: 5_000, message: 'redis ready' })));
  });
  afterAll(() => {
    for (const c of clients) c.disconnect();
  });

  it('grants one holder, hands out server-issued fences that increase, releases owner-checked', async () => {
    const prefix = ownPrefix();
    const a = createLock({ store: redisLockStore(clients[0] as Redis, { prefix }), ttlMs: 5_000 });
    const b = createLock({ store: redisLockStore(clients[1] as Redis, { prefix }), ttlMs: 5_000 });
    const first = (await a.tryLock('job')) as Lease;
    expect(first.fence).toBeGreaterThan(Date.now() - 60_000); // max(last + 1, server ms)
    expect(await b.tryLock('job')).toBeNull();
    expect(await redis.get(`{${prefix}:job}:m`)).not.toBeNull();
    expect(await first.extend(8_000)).toBe(true);
    expect(await redis.pttl(`{${prefix}:job}:m`)).toBeGreaterThan(5_000);
    expect(await first.release()).toBe('released');
    const second = (await b.tryLock('job')) as Lease;
    expect(second.fence).toBeGreaterThan(first.fence);
    // The old lease can neither extend nor release the new holder's key.
    expect(await first.extend()).toBe(false);
    expect(await second.release()).toBe('released');
    await redis.del(`{${prefix}:job}:f`);
  });

  it('requests made in the same tick share one script call per operation (one Redis, not a Cluster)', async () => {
    const prefix = ownPrefix();
    let calls = 0;
    const counting = new Proxy(redis, {
      get(target, property, receiver) {
        const value = Reflect.get(target, property, receiver) as unknown;
        if ((property === 'evalsha' || property === 'eval') && typeof value === 'function') {
          return (...args: unknown[]) => {
            calls++;
            return (value as (...a: unknown[]) => unknown).apply(target, args);
          };
        }
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
    const lock = createLock({ store: redisLockStore(counting, { prefix }), ttlMs: 5_000 });
    const keys = Array.from({ length: 200 }, (_, i) => `k${i}`);
    await lock.tryLock('warm').then((l) => l?.release()); // loads the scripts
    calls = 0;
    const leases = await Promise.all([...keys, 'k0'].map((k) => lock.tryLock(k)));
    expect(leases.filter((l) => l !== null)).toHaveLength(200); // k0 twice in one batch: one grant
    expect(calls).toBe(2); // 201 requests in batches of at most 128
    expect(new Set(leases.filter((l): l is Lease => l !== null).map((l) => l.key)).size).toBe(200);
    calls = 0;
    expect(new Set(await Promise.all(leases.map((l) => l?.release())))).toEqual(new Set(['released', undefined]));
    expect(calls).toBe(2);
  });

  it('a batch whose script fails midway (one key holding foreign data) fails only that key: the others are granted, none is left held by nobody', async () => {
    const prefix = ownPrefix();
    const lock = createLock({ store: redisLockStore(redis, { prefix }), ttlMs: 5_000 });
    const other = createLock({ store: redisLockStore(clients[1] as Redis, { prefix }), ttlMs: 5_000 });
    await lock.tryLock('warm').then((l) => l?.release()); // loads the scripts
    await redis.hset(`{${prefix}:poison}:f`, 'not', 'a fence'); // GET on it raises WRONGTYPE inside the script
    // Same tick: one script call, 'a' granted by the script before it reaches 'poison'.
    const [a, poison, b] = await Promise.allSettled([lock.tryLock('a'), lock.tryLock('poison'), lock.tryLock('b')]);
    expect(poison).toMatchObject({ status: 'rejected', reason: { code: 'LOCK_NOT_ACQUIRED', reason: 'store_unavailable' } });
    expect(a).toMatchObject({ status: 'fulfilled', value: { key: 'a' } });
    expect(b).toMatchObject({ status: 'fulfilled', value: { key: 'b' } });
    for (const settled of [a, b]) expect(await (settled as PromiseFulfilledResult<Lease>).value.release()).toBe('released');
    expect(await other.tryLock('a')).not.toBeNull(); // not left granted to a token nobody holds
    await redis.del(`{${prefix}:poison}:f`, `{${prefix}:a}:m`, `{${prefix}:a}:f`, `{${prefix}:b}:f`);
  });

  it('a lease that expired in Redis: extend loses it, release says expired, the next fence is higher', async () => {
    const prefix = ownPrefix();
    const lock = createLock({ store: redisLockStore(redis, { prefix }), ttlMs: 60 });
    const lease = (await lock.tryLock('k')) as Lease;
    await wait(120);
    expect(await lease.extend()).toBe(false);
    expect(lease.signal.aborted).toBe(true);
    expect(await lease.release()).toBe('expired');
    expect(((await lock.tryLock('k')) as Lease).fence).toBeGreaterThan(lease.fence);
  });

  it('N contenders x M rounds on separate connections: no overlap, fences strictly increase in grant order', async () => {
    const prefix = ownPrefix();
    const locks = clients.map((c) => createLock({ store: redisLockStore(c, { prefix }), ttlMs: 2_000, retry: { delayMs: 3 } }));
    const result = await runExclusion([...locks, ...locks], 'shared', 6);
    expect(result.errors).toEqual([]);
    expect(result.entries).toBe(48);
    expect(result.overlaps).toBe(0);
    expect(strictlyIncreasing(result.fences)).toBe(true);
  });

  it('withLock extends in the background past the TTL', async () => {
    const prefix = ownPrefix();
    const events = createEventBus();
    const seen: string[] = [];
    events.on('lock.extended', (e) => seen.push(e.type));
    const lock = createLock({ store: redisLockStore(redis, { prefix }), ttlMs: 150, events });
    const other = createLock({ store: redisLockStore(clients[1] as Redis, { prefix }) });
    await lock.withLock('k', async ({ signal }) => {
      await wait(500);
      expect(signal.aborted).toBe(false);
      expect(await other.tryLock('k')).toBeNull();
    });
    expect(seen.length).toBeGreaterThanOrEqual(3);
    expect(await other.tryLock('k')).not.toBeNull();
  });

  it('semaphore on Redis: at most limit holders, expired holders reclaimed (server time), fences increase', async () => {
    const prefix = ownPrefix();
    const sems = clients.map((c) => createSemaphore({ limit: 2, store: redisLockStore(c, { prefix }), ttlMs: 100 }));
    const [s0, s1, s2] = sems as [ReturnType<typeof createSemaphore>, ReturnType<typeof createSemaphore>, ReturnType<typeof createSemaphore>];
    const a = (await s0.tryAcquire('pool')) as Lease;
    const b = (await s1.tryAcquire('pool')) as Lease;
    expect(await s2.tryAcquire('pool')).toBeNull();
    expect(b.fence).toBeGreaterThan(a.fence);
    expect(await a.release()).toBe('released');
    const c = (await s2.tryAcquire('pool')) as Lease;
    expect(c.fence).toBeGreaterThan(b.fence);
    expect(await c.extend(1_000)).toBe(true);
    await wait(150); // b expires, c was extended
    expect(await s0.tryAcquire('pool')).not.toBeNull();
    expect(await s1.tryAcquire('pool')).toBeNull();
    expect(await b.release()).toBe('expired');
    // Concurrent holders never exceed the limit.
    let inside = 0;
    let most = 0;
    const concurrent = createSemaphore({ limit: 3, store: redisLockStore(redis, { prefix: ownPrefix() }), ttlMs: 2_000, retry: { delayMs: 2 } });
    await Promise.all(
      Array.from({ length: 12 }, async () => {
        for (let i = 0; i < 3; i++) {
          const slot = await concurrent.acquire('k');
          most = Math.max(most, ++inside);
          await wait(Math.random() * 3);
          inside--;
          await slot.release();
        }
      }),
    );
    expect(most).toBe(3);
  });

  it('hostile keys (braces, colons, newlines, %, very long, lone surrogates) never collide and stay inside the prefix tag (fuzzed)', async () => {
    const prefix = ownPrefix();
    const store = redisLockStore(redis, { prefix });
    const lock = createLock({ store, ttlMs: 10_000 });
    const hostile = fc.oneof(
      fc.string({ minLength: 1, unit: fc.constantFrom('{', '}', ':', '%', '\n', 'a', '7', '\uD800', '\uDC00', '\uD83D', '\uDE00', 'é') }),
      fc.string({ minLength: 1, unit: 'binary' }),
      fc.integer({ min: 1, max: 3 }).map((n) => `${'{x}:'.repeat(2_000 * n)}\uDFFF`),
    );
    await fc.assert(
      fc.asyncProperty(fc.uniqueArray(hostile, { minLength: 2, maxLength: 6 }), async (keys) => {
        const leases = await Promise.all(keys.map((k) => lock.tryLock(k)));
        expect(leases.every((l) => l !== null)).toBe(true);
        for (const key of keys) {
          const encoded = encodeKeyPart(key);
          expect(encoded).not.toMatch(/[{}]/);
          expect(await redis.exists(`{${prefix}:${encoded}}:m`)).toBe(1);
        }
        expect(new Set(keys.map(encodeKeyPart)).size).toBe(keys.length);
        await Promise.all(leases.map((l) => l?.release()));
      }),
      { numRuns: 40 },
    );
  });

  it('a holder process paused with SIGSTOP past its TTL: the next holder gets a higher fence, the resumed one finds its signal aborted', async () => {
    const prefix = ownPrefix();
    const port = new URL(redisUrl()).port || '6379';
    const child = spawn(process.execPath, ['--conditions=@x/source', '--import', 'tsx', fileURLToPath(new URL('./test-fixtures/holder.ts', import.meta.url)), port, prefix, 'paused'], {
      cwd: fileURLToPath(new URL('..', import.meta.url)),
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const lines: Record<string, unknown>[] = [];
    let buffer = '';
    child.stdout.on('data', (chunk: Buffer) => {
      buffer += chunk.toString('utf8');
      const parts = buffer.split('\n');
      buffer = parts.pop() ?? '';
      for (const part of parts) if (part.trim() !== '') lines.push(JSON.parse(part) as Record<string, unknown>);
    });
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    try {
      await waitFor(() => lines.length > 0, { timeoutMs: 20_000, message: 'the child holds the lock' });
      const childFence = lines[0]?.held as number;
      child.kill('SIGSTOP');
      const lock = createLock({ store: redisLockStore(redis, { prefix }), ttlMs: 5_000 });
      await wait(800); // past the child's 600 ms TTL: Redis expired its key
      const mine = (await lock.tryLock('paused')) as Lease;
      expect(mine).not.toBeNull();
      expect(mine.fence).toBeGreaterThan(childFence);
      child.kill('SIGCONT');
      await waitFor(() => lines.length >= 3, { timeoutMs: 10_000, message: 'the child reports' });
      expect(lines[1]).toEqual({ aborted: true, reason: 'expired', remainingMs: 0 });
      expect(lines[2]).toEqual({ result: 'LOCK_LOST', reason: 'expired' });
      // The resumed holder never touched the new holder's lease.
      expect(mine.remainingMs()).toBeGreaterThan(0);
      expect(await mine.release()).toBe('released');
    } finally {
      child.kill('SIGCONT');
      child.kill('SIGKILL');
      await exited;
    }
  }, 40_000);
});

describe('redisLockStore faults (a redis-server of its own)', () => {
  let server: RedisServer;
  beforeAll(async () => {
    server = await startRedisServer();
  }, 20_000);
  afterAll(async () => {
    await server?.dispose();
  });

  it('Redis down during background extension: the signal aborts by the validity deadline, lock.lost is emitted, nothing unhandled', async () => {
    const redis = client(server.url);
    await waitFor(() => redis.status === 'ready', { timeoutMs: 5_000, message: 'ready' });
    const events = createEventBus();
    const seen: XEvent[] = [];
    events.on('*', (e) => seen.push(e));
    const store = redisLockStore(redis, { prefix: ownPrefix(), timeoutMs: 50, events, name: 'own' });
    const lock = createLock({ name: 'ext', store, ttlMs: 300, events });
    let abortedAfter = -1;
    const outcome = lock
      .withLock('k', async ({ signal, lease }) => {
        const start = performance.now();
        await server.stop();
        await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve()));
        abortedAfter = performance.now() - start;
        expect(lease.remainingMs()).toBe(0);
      })
      .catch((e: unknown) => e);
    expect(await outcome).toMatchObject({ code: 'LOCK_LOST', reason: 'expired' });
    expect(abortedAfter).toBeLessThan(300 + 500); // by the 300 ms validity, plus scheduling slack
    expect(seen.filter((e) => e.type === 'lock.lost')).toHaveLength(1);
    expect(seen.some((e) => e.type === 'lock.store_error' && e.name === 'own')).toBe(true);
    expect(seen.find((e) => e.type === 'lock.released')).toMatchObject({ result: 'expired' });
    // Acquire fails fast with the reason while Redis is down.
    const start = performance.now();
    await expect(lock.tryLock('k')).rejects.toMatchObject({ code: 'LOCK_NOT_ACQUIRED', reason: 'store_unavailable' });
    await expect(lock.acquire('k')).rejects.toMatchObject({ reason: 'store_unavailable', attempts: 1 });
    expect(performance.now() - start).toBeLessThan(1_000); // no retries until waitMs (10 s)
    await server.start();
    redis.disconnect();
  });
});
