import { createEventBus } from '@x/core';
import type { XEvent } from '@x/core';
import { redisServerInstalled, startRedisServer, startTcpProxy, testKeyPrefix, waitFor } from '@x/test-support';
import type { RedisServer, TcpProxy } from '@x/test-support';
import Redis from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRateLimiter } from './index.js';
import type { RateLimitDecision, StoreErrorMode } from './index.js';
import { redisStore } from './redis.js';
import type { RedisStoreOptions } from './redis.js';

const installed = redisServerInstalled('ratelimit');

const PREFIX = testKeyPrefix(import.meta.url);
let seq = 0;
/** A key prefix of its own for each test that sets one. */
const ownPrefix = () => `${PREFIX}${seq++}`;

const TIMEOUT_MS = 100;
/** Event-loop and scheduling slack on a busy CI machine. */
const SLACK_MS = 150;

/**
 * A client with ioredis' defaults where they hurt most: offline queue on, 20 retries per request.
 * The store must not hang on it. Reconnects fast so recovery tests stay short.
 */
function client(port: number): Redis {
  const redis = new Redis(port, { lazyConnect: true, retryStrategy: () => 50 });
  redis.on('error', () => {});
  return redis;
}

function setup(port: number, mode: StoreErrorMode, options: RedisStoreOptions = {}) {
  const redis = client(port);
  const events = createEventBus();
  const seen: XEvent[] = [];
  events.on('*', (e) => {
    if (e.type !== 'core.instance_tracked') seen.push(e);
  });
  const store = redisStore(redis, { onStoreError: mode, timeoutMs: TIMEOUT_MS, failureThreshold: 2, cooldownMs: 200, instances: 2, events, ...options });
  const limiter = createRateLimiter({ name: `faults-${mode}`, limit: 10, periodMs: 60_000, store, events });
  return { redis, store, limiter, seen, types: () => seen.map((e) => e.type) };
}

async function timed(decide: () => Promise<RateLimitDecision>): Promise<{ ms: number; d: RateLimitDecision }> {
  const start = performance.now();
  const d = await decide();
  return { ms: performance.now() - start, d };
}

function expectModeAnswer(mode: StoreErrorMode, d: RateLimitDecision): void {
  expect(d.degraded).toBe(mode);
  if (mode === 'open') expect(d.allowed).toBe(true);
  if (mode === 'closed') expect(d).toMatchObject({ allowed: false, retryAfterMs: expect.any(Number) });
}

describe.skipIf(!installed)('Redis outages', () => {
  let server: RedisServer;
  beforeAll(async () => {
    server = await startRedisServer();
  });
  afterAll(async () => {
    await server?.dispose();
  });

  it.each(['open', 'closed', 'local'] as const)(
    "'%s': answers within the deadline while Redis is down, at in-memory cost once degraded, and recovers by itself",
    async (mode) => {
      if (!server.running) await server.start();
      const { redis, store, limiter, seen, types } = setup(server.port, mode);
      await redis.connect();
      try {
        expect((await limiter.limit(`${mode}-k`)).degraded).toBeUndefined();
        await server.stop();

        const during = [];
        for (let i = 0; i < 12; i++) during.push(await timed(() => limiter.limit(`${mode}-k`)));
        for (const { ms, d } of during) {
          expect(ms).toBeLessThan(TIMEOUT_MS + SLACK_MS);
          expectModeAnswer(mode, d);
        }
        expect(types()).toContain('ratelimit.store_degraded');
        expect(store.health).not.toBe('healthy');
        if (mode === 'local') {
          // limit 10 split across instances: 2 => this process's share is 5, one of which it
          // spent through Redis just before the outage: the switch hands out no fresh burst.
          expect(during.filter(({ d }) => d.allowed)).toHaveLength(4);
        }
        // Degraded: no call waits for anything.
        const fast = await timed(() => limiter.limit(`${mode}-k`));
        expect(fast.ms).toBeLessThan(20);

        await server.start();
        await waitFor(async () => (await limiter.limit(`${mode}-k`)).degraded === undefined, { timeoutMs: 10_000, intervalMs: 25, message: 'recovery' });
        expect(types()).toContain('ratelimit.store_recovered');
        expect(store.health).toBe('healthy');
        const recovered = seen.find((e) => e.type === 'ratelimit.store_recovered') as { degradedForMs: number };
        expect(recovered.degradedForMs).toBeGreaterThan(0);
      } finally {
        redis.disconnect();
      }
    },
    30_000,
  );

  it('sends one script call per sequential decision and nothing else (INFO commandstats)', async () => {
    if (!server.running) await server.start();
    const redis = new Redis(server.port, { enableOfflineQueue: false, lazyConnect: true });
    await redis.connect();
    try {
      const store = redisStore(redis, { prefix: ownPrefix(), timeoutMs: 2_000, events: createEventBus() });
      const limiter = createRateLimiter({ name: 'rt', limit: 100, periodMs: 1_000, store, events: createEventBus() });
      await limiter.limit('warm'); // registers the script (NOSCRIPT + EVAL on a fresh server)
      await redis.config('RESETSTAT');
      const before = await redis.info('commandstats');
      for (let i = 0; i < 20; i++) await limiter.limit(`k${i % 3}`);
      const stats = (await redis.info('commandstats')).split('\n');
      const calls = (name: string) => Number(/calls=(\d+)/.exec(stats.find((l) => l.startsWith(`cmdstat_${name}:`)) ?? '')?.[1] ?? 0);
      expect(before).not.toMatch(/cmdstat_evalsha/);
      expect(calls('evalsha')).toBe(20);
      expect(calls('eval')).toBe(0);
      // Commands run inside the script (GET, SET, TIME) are counted by Redis too; nothing else is sent.
      const topLevel = stats.filter((l) => l.startsWith('cmdstat_')).map((l) => l.slice(8, l.indexOf(':')));
      expect(topLevel.filter((c) => !['evalsha', 'get', 'set', 'time', 'info', 'config|resetstat'].includes(c))).toEqual([]);
    } finally {
      redis.disconnect();
    }
  });

  it("'closed' answers fast with an event while a stopped server is down (offline queue on), then recovers via NOSCRIPT and EVAL after a restart", async () => {
    if (!server.running) await server.start();
    const { redis, limiter, types } = setup(server.port, 'closed', { prefix: ownPrefix(), failureThreshold: 1, cooldownMs: 100 });
    await redis.connect();
    try {
      expect((await limiter.limit('k')).allowed).toBe(true);
      await server.stop();
      const down = await timed(() => limiter.limit('k'));
      expect(down.ms).toBeLessThan(TIMEOUT_MS + SLACK_MS);
      expect(down.d).toMatchObject({ allowed: false, degraded: 'closed' });
      expect(types()).toContain('ratelimit.store_degraded');
      await server.start(); // a fresh process: its script cache is empty, so NOSCRIPT, then EVAL
      await waitFor(async () => (await limiter.limit('k')).degraded === undefined, { timeoutMs: 10_000, intervalMs: 50, message: 'recovery' });
      expect(types()).toContain('ratelimit.store_recovered');
    } finally {
      redis.disconnect();
    }
  }, 20_000);

  it('survives a crash (SIGKILL) under concurrent load: every decision resolves within the deadline', async () => {
    if (!server.running) await server.start();
    const { redis, limiter, types } = setup(server.port, 'local', { failureThreshold: 3 });
    await redis.connect();
    let stop = false;
    let slowest = 0;
    let decisions = 0;
    const worker = async () => {
      while (!stop) {
        const { ms } = await timed(() => limiter.limit(`crash-${decisions % 8}`));
        slowest = Math.max(slowest, ms);
        decisions++;
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
    };
    const workers = Array.from({ length: 16 }, worker);
    try {
      await new Promise((resolve) => setTimeout(resolve, 100));
      await server.kill();
      await new Promise((resolve) => setTimeout(resolve, 400));
      await server.start();
      await waitFor(() => types().includes('ratelimit.store_recovered'), { timeoutMs: 10_000, message: 'recovery after the crash' });
    } finally {
      stop = true;
      await Promise.all(workers);
      redis.disconnect();
    }
    expect(decisions).toBeGreaterThan(100);
    expect(slowest).toBeLessThan(TIMEOUT_MS + SLACK_MS);
  }, 30_000);
});

describe.skipIf(!installed)('Redis behind a faulty network', () => {
  let server: RedisServer;
  let proxy: TcpProxy;
  beforeAll(async () => {
    server = await startRedisServer();
    proxy = await startTcpProxy({ targetPort: server.port });
  });
  afterAll(async () => {
    await proxy?.close();
    await server?.dispose();
  });

  it('a stalled connection (no error, no close) costs one deadline per call until the guard opens, then nothing', async () => {
    const { redis, limiter, store, types } = setup(proxy.port, 'closed');
    await redis.connect();
    try {
      expect((await limiter.limit('stall')).allowed).toBe(true);
      proxy.pause();
      const first = await timed(() => limiter.limit('stall'));
      expect(first.ms).toBeGreaterThanOrEqual(TIMEOUT_MS - 5);
      expect(first.ms).toBeLessThan(TIMEOUT_MS + SLACK_MS);
      expectModeAnswer('closed', first.d);
      await timed(() => limiter.limit('stall'));
      expect(store.health).toBe('degraded');
      const fast = await timed(() => limiter.limit('stall'));
      expect(fast.ms).toBeLessThan(20);
      expectModeAnswer('closed', fast.d);
      proxy.resume();
      await waitFor(async () => (await limiter.limit('stall')).degraded === undefined, { timeoutMs: 10_000, intervalMs: 25, message: 'recovery' });
      expect(types()).toContain('ratelimit.store_recovered');
    } finally {
      proxy.resume();
      redis.disconnect();
    }
  }, 30_000);

  it('a slow Redis (latency above the deadline) is treated as down; back to normal when it speeds up', async () => {
    const { redis, limiter, seen } = setup(proxy.port, 'open');
    await redis.connect();
    try {
      proxy.setLatency(TIMEOUT_MS * 3);
      const slow = await timed(() => limiter.limit('slow'));
      expect(slow.ms).toBeLessThan(TIMEOUT_MS + SLACK_MS);
      expectModeAnswer('open', slow.d);
      expect(seen.find((e) => e.type === 'ratelimit.store_error')).toMatchObject({ timedOut: true });
      proxy.setLatency(0);
      await waitFor(async () => (await limiter.limit('slow')).degraded === undefined, { timeoutMs: 10_000, intervalMs: 25, message: 'recovery' });
    } finally {
      proxy.setLatency(0);
      redis.disconnect();
    }
  }, 30_000);

  it('a Redis slower than the deadline trips the breaker even though its late replies keep arriving', async () => {
    const redis = new Redis(proxy.port, { lazyConnect: true, enableOfflineQueue: false });
    redis.on('error', () => {});
    await redis.connect();
    const events = createEventBus();
    const seen: XEvent[] = [];
    events.on('*', (e) => seen.push(e));
    const store = redisStore(redis, { prefix: ownPrefix(), onStoreError: 'open', timeoutMs: TIMEOUT_MS, failureThreshold: 2, cooldownMs: 30_000, events });
    const limiter = createRateLimiter({ name: 'slow', limit: 1_000, periodMs: 1_000, store, events: createEventBus() });
    try {
      expect((await limiter.limit('k')).degraded).toBeUndefined();
      // 75 ms each way: a round trip of ~150 ms against a 100 ms deadline, so the reply to each
      // call arrives while the next one is in flight.
      proxy.setLatency(75);
      const took: number[] = [];
      for (let i = 0; i < 8; i++) {
        const { ms, d } = await timed(() => limiter.limit('k'));
        took.push(ms);
        expect(d).toMatchObject({ allowed: true, degraded: 'open' });
      }
      expect(seen.some((e) => e.type === 'ratelimit.store_degraded')).toBe(true);
      expect(store.health).toBe('degraded');
      // Once degraded, decisions cost in-memory time, not a deadline each.
      expect(Math.max(...took.slice(-4))).toBeLessThan(20);
    } finally {
      proxy.setLatency(0);
      redis.disconnect();
    }
  }, 20_000);

  it('connection resets are failures, and the client reconnects on its own', async () => {
    const { redis, limiter, types } = setup(proxy.port, 'local');
    await redis.connect();
    try {
      proxy.dropConnections();
      const during = await timed(() => limiter.limit('reset'));
      expect(during.ms).toBeLessThan(TIMEOUT_MS + SLACK_MS);
      await waitFor(async () => (await limiter.limit('reset')).degraded === undefined, { timeoutMs: 10_000, intervalMs: 25, message: 'recovery' });
      expect(types().filter((t) => t === 'ratelimit.allowed').length).toBeGreaterThan(0);
    } finally {
      redis.disconnect();
    }
  }, 30_000);
});
