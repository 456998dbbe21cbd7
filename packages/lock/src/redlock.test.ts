import { setTimeout as wait } from 'node:timers/promises';
import { createEventBus, systemClock } from '@x/core';
import type { Clock, XEvent } from '@x/core';
import { redisClient, redisServerInstalled, startRedisServer, startTcpProxy, testKeyPrefix, unhandledRejections, waitFor } from '@x/test-support';
import type { RedisServer, TcpProxy } from '@x/test-support';
import type Redis from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createLock, createSemaphore } from './index.js';
import type { Lease } from './index.js';
import { redlockStore } from './redis.js';
import type { RedlockStoreOptions } from './redis.js';
import { runExclusion, strictlyIncreasing } from './test-exclusion.js';

const PREFIX = testKeyPrefix(import.meta.url);
let seq = 0;
const ownPrefix = () => `${PREFIX}${seq++}`;
const TIMEOUT_MS = 100;

const client = (port: number): Redis => redisClient(port);

const ready = (clients: readonly Redis[]) =>
  Promise.all(clients.map((c) => waitFor(() => c.status === 'ready', { timeoutMs: 10_000, message: 'client ready' })));

/** Every client answers PING (after a restart its status can still read 'ready' until it sees the close). */
const answering = (clients: readonly Redis[]) =>
  waitFor(async () => (await Promise.all(clients.map((c) => c.ping().then(() => true, () => false)))).every(Boolean), {
    timeoutMs: 10_000,
    message: 'clients answering',
  });

const watch = unhandledRejections();
beforeEach(watch.start);
afterEach(() => {
  watch.stop();
  expect(watch.reasons).toEqual([]);
});

describe.skipIf(!redisServerInstalled('lock'))('redlockStore over three independent redis-servers', () => {
  let servers: RedisServer[] = [];
  const opened: Redis[] = [];
  const connect = async () => {
    const clients = servers.map((s) => client(s.port));
    opened.push(...clients);
    await ready(clients);
    return clients;
  };
  const setup = async (options: RedlockStoreOptions = {}, prefix = ownPrefix()) => {
    const events = createEventBus();
    const seen: XEvent[] = [];
    events.on('*', (e) => seen.push(e));
    const clients = await connect();
    const store = redlockStore(clients, { prefix, timeoutMs: TIMEOUT_MS, events, cooldownMs: 100, ...options });
    return { clients, store, events, seen, prefix };
  };
  beforeAll(async () => {
    servers = await Promise.all([startRedisServer(), startRedisServer(), startRedisServer()]);
  }, 30_000);
  afterAll(async () => {
    for (const c of opened) c.disconnect();
    await Promise.all(servers.map((s) => s.dispose()));
  });
  const restartAll = async () => {
    await Promise.all(servers.map((s) => (s.running ? undefined : s.start())));
  };

  it('N contenders x M rounds over two sets of connections: no overlap, fences strictly increase in grant order', async () => {
    const { store, prefix } = await setup();
    const { store: other } = await setup({}, prefix);
    const locks = [store, store, other, other, store, other].map((s) => createLock({ store: s, ttlMs: 2_000, retry: { delayMs: 3 } }));
    const result = await runExclusion(locks, 'shared', 5);
    expect(result.errors).toEqual([]);
    expect(result.overlaps).toBe(0);
    expect(strictlyIncreasing(result.fences)).toBe(true);
  });

  it('one of three nodes stopped: still grants, extends and releases', async () => {
    const { store, clients, prefix } = await setup();
    await (servers[2] as RedisServer).stop();
    try {
      const lock = createLock({ store, ttlMs: 2_000 });
      const lease = (await lock.tryLock('k')) as Lease;
      expect(lease).not.toBeNull();
      expect(await clients[0]?.get(`{${prefix}:k}:m`)).not.toBeNull();
      expect(await lease.extend()).toBe(true);
      expect(await lock.tryLock('k')).toBeNull();
      expect(await lease.release()).toBe('released');
    } finally {
      await restartAll();
    }
  });

  it('two of three nodes stopped: fails fast with the reason and the node errors', async () => {
    const { store, seen } = await setup();
    await Promise.all([(servers[0] as RedisServer).stop(), (servers[1] as RedisServer).stop()]);
    try {
      const lock = createLock({ store, ttlMs: 2_000 });
      const start = performance.now();
      const error = (await lock.acquire('k', { waitMs: 5_000 }).catch((e: unknown) => e)) as Error & { reason: string; attempts: number };
      expect(performance.now() - start).toBeLessThan(1_000); // no retries until waitMs (5 s)
      expect(error).toMatchObject({ code: 'LOCK_NOT_ACQUIRED', reason: 'store_unavailable', attempts: 1 });
      expect(error.message).toMatch(/of 3 nodes granted, quorum 2: node 0 .*node 1 /);
      expect(seen.some((e) => e.type === 'lock.store_error' && e.name === 'redlock[0]')).toBe(true);
      // Its partial grant on the live node was released.
      await wait(50);
      expect(await lock.tryLock('k').catch(() => 'unavailable')).toBe('unavailable');
    } finally {
      await restartAll();
    }
  });

  it('a node restarted empty: one is covered by the quorum (and never re-granted by an extension); two break exclusion, which is why restarts must be delayed past the longest TTL', async () => {
    const { store: storeA, clients, prefix } = await setup({ cooldownMs: 1 });
    const { store: storeB, clients: clientsB } = await setup({ cooldownMs: 1 }, prefix);
    const everyClient = [...clients, ...clientsB];
    const a = createLock({ store: storeA, ttlMs: 10_000 });
    const b = createLock({ store: storeB, ttlMs: 10_000 });
    const held = (await a.tryLock('k')) as Lease;
    const key = `{${prefix}:k}:m`;
    await (servers[0] as RedisServer).kill();
    await (servers[0] as RedisServer).start(); // no persistence: empty
    await answering(everyClient);
    expect(await b.tryLock('k')).toBeNull(); // node 0 grants, nodes 1 and 2 still refuse
    expect(await held.extend()).toBe(true); // nodes 1 and 2
    // Node 0 is not given the key back. B's failed attempt gives back its grant there without
    // waiting, on another connection, so poll: an extension that re-granted A would hold it for 10 s.
    await waitFor(async () => (await clients[0]?.get(key)) === null, { timeoutMs: 3_000, message: 'node 0 without the key' });
    await (servers[1] as RedisServer).kill();
    await (servers[1] as RedisServer).start();
    await answering(everyClient);
    await wait(20); // the guard's 1 ms cooldown
    const second = (await b.tryLock('k')) as Lease; // nodes 0 and 1 forgot: a second holder
    expect(second).not.toBeNull();
    expect(second.fence).toBeGreaterThan(held.fence); // proposals follow the clock, so the fence still orders them
    expect(await held.extend()).toBe(false); // the first holder finds out at its next extension
    expect(held.signal.aborted).toBe(true);
    expect(await second.release()).toBe('released');
  }, 30_000);

  it('latency past the per-node deadline on one node is ridden out; on two it fails with "timed out"', async () => {
    const proxies: TcpProxy[] = await Promise.all(servers.map((s) => startTcpProxy({ targetPort: s.port })));
    const clients = proxies.map((p) => client(p.port));
    opened.push(...clients);
    await ready(clients);
    try {
      // Generous numbers, so a loaded CI machine cannot blur "before the deadline" and "after it".
      const deadline = 400;
      const store = redlockStore(clients, { prefix: ownPrefix(), timeoutMs: deadline, cooldownMs: 100 });
      const lock = createLock({ store, ttlMs: 10_000 });
      (proxies[0] as TcpProxy).setLatency(deadline * 3);
      let start = performance.now();
      const lease = (await lock.tryLock('k')) as Lease;
      expect(lease).not.toBeNull();
      expect(performance.now() - start).toBeLessThan(deadline); // decided by the two fast nodes
      expect(await lease.release()).toBe('released');
      (proxies[1] as TcpProxy).setLatency(deadline * 3);
      start = performance.now();
      const error = (await lock.tryLock('k2').catch((e: unknown) => e)) as Error;
      expect(performance.now() - start).toBeGreaterThanOrEqual(deadline - 5);
      expect(performance.now() - start).toBeLessThan(deadline * 3); // never waits for the slow replies
      expect(error).toMatchObject({ code: 'LOCK_NOT_ACQUIRED', reason: 'store_unavailable' });
      expect(error.message).toMatch(/node 0 timed out, node 1 timed out/);
    } finally {
      for (const c of clients) c.disconnect();
      await Promise.all(proxies.map((p) => p.close()));
    }
  });

  it('a grant that took longer than the TTL allows is refused as "validity" and its partial grants are released', async () => {
    const proxies: TcpProxy[] = await Promise.all(servers.map((s) => startTcpProxy({ targetPort: s.port })));
    const clients = proxies.map((p) => client(p.port));
    opened.push(...clients);
    await ready(clients);
    try {
      const prefix = ownPrefix();
      const store = redlockStore(clients, { prefix, timeoutMs: 1_000 });
      const lock = createLock({ store, ttlMs: 100 });
      for (const p of proxies) p.setLatency(60); // 120 ms per round trip > 100 ms − drift
      const error = await lock.tryLock('slow').catch((e: unknown) => e);
      expect(error).toMatchObject({ code: 'LOCK_NOT_ACQUIRED', reason: 'validity' });
      for (const p of proxies) p.setLatency(0);
      await wait(150);
      const direct = servers.map((s) => client(s.port));
      opened.push(...direct);
      await ready(direct);
      for (const c of direct) expect(await c.exists(`{${prefix}:slow}:m`)).toBe(0);
    } finally {
      for (const c of clients) c.disconnect();
      await Promise.all(proxies.map((p) => p.close()));
    }
  });

  it('a client whose clock runs behind still gets a higher fence (nodes refuse low proposals; it proposes above them once more)', async () => {
    const skewed: Clock = { ...systemClock, now: () => systemClock.now() - 3_600_000 };
    const prefix = ownPrefix();
    const clientsA = await connect();
    const clientsB = await connect();
    const fast = createLock({ store: redlockStore(clientsA, { prefix }) });
    const slow = createLock({ store: redlockStore(clientsB, { prefix }), clock: skewed });
    const first = (await fast.tryLock('k')) as Lease;
    await first.release();
    const second = (await slow.tryLock('k')) as Lease;
    expect(second).not.toBeNull();
    expect(second.fence).toBeGreaterThan(first.fence);
    await second.release();
  });

  it('refuses a semaphore (each node would count its own holders) and bad client lists', async () => {
    const { store, clients } = await setup();
    expect(() => createSemaphore({ limit: 2, store })).toThrow(expect.objectContaining({ code: 'INVALID_OPTIONS', option: 'store' }));
    expect(() => redlockStore([])).toThrow(expect.objectContaining({ option: 'clients' }));
    expect(() => redlockStore([clients[0] as Redis, clients[0] as Redis])).toThrow(expect.objectContaining({ option: 'clients' }));
    expect(() => redlockStore(clients, { prefix: 'a{b' })).toThrow(expect.objectContaining({ option: 'prefix' }));
    expect(() => redlockStore(clients, { timeoutMs: 0 })).toThrow(expect.objectContaining({ option: 'timeoutMs' }));
    expect(() => redlockStore(clients, { driftFactor: 0.9 })).toThrow(expect.objectContaining({ option: 'driftFactor' }));
  });
});
