import { createEventBus, isXError } from '@x/core';
import { createVirtualClock } from '@x/core/testing';
import { redisAvailable, redisUrl, testKeyPrefix } from '@x/test-support';
import fc from 'fast-check';
import Redis from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRateLimiter } from './index.js';
import type { RateLimitAlgorithm, StoreRateLimiter } from './index.js';
import { redisStore } from './redis.js';
import type { RedisStoreOptions } from './redis.js';

const available = await redisAvailable('ratelimit');
const ALL: readonly RateLimitAlgorithm[] = ['gcra', 'token-bucket', 'sliding-window', 'fixed-window'];

describe.skipIf(!available)('redisStore on a real Redis', () => {
  let redis: Redis;
  let prefix: string;
  let n = 0;
  beforeAll(async () => {
    redis = new Redis(redisUrl(), { enableOfflineQueue: false, lazyConnect: true });
    await redis.connect();
    prefix = testKeyPrefix(import.meta.url);
  });
  afterAll(async () => {
    const keys = await redis.keys(`{${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  });

  /** A limiter on its own prefix, so tests never see each other's keys. */
  function limiter(options: { algorithm?: RateLimitAlgorithm; limit?: number; periodMs?: number; burst?: number; name?: string } = {}, store: RedisStoreOptions = {}) {
    const own = `${prefix}${n++}`;
    const s = redisStore(redis, { prefix: own, timeoutMs: 2_000, events: createEventBus(), ...store });
    const l = createRateLimiter({ limit: 10, periodMs: 1_000, ...options, store: s, events: createEventBus() });
    return { limiter: l, store: s, prefix: own };
  }

  it.each(ALL)('%s: admits the limit and rejects the next with a retry hint (server time)', async (algorithm) => {
    const { limiter: l } = limiter({ algorithm, limit: 5, periodMs: 10_000 });
    const decisions = [];
    for (let i = 0; i < 6; i++) decisions.push(await l.limit('k'));
    expect(decisions.map((d) => d.allowed)).toEqual([true, true, true, true, true, false]);
    expect(decisions[0]?.remaining).toBe(4);
    const rejected = decisions[5];
    expect(rejected?.degraded).toBeUndefined();
    // Within a few ms of the exact hint (real time moved between the calls).
    const exact = algorithm === 'sliding-window' ? 12_000 : algorithm === 'fixed-window' ? 10_000 : 2_000;
    expect(rejected?.retryAfterMs).toBeGreaterThan(exact - 500);
    expect(rejected?.retryAfterMs).toBeLessThanOrEqual(exact);
  });

  it.each(ALL)('%s: makes the same decisions as the memory limiter (client time, fuzzed)', async (algorithm) => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({ limit: fc.integer({ min: 1, max: 12 }), periodMs: fc.integer({ min: 20, max: 1_000 }), burst: fc.integer({ min: 1, max: 12 }) }),
        fc.array(fc.record({ dt: fc.integer({ min: 0, max: 300 }), cost: fc.integer({ min: 1, max: 12 }), peek: fc.boolean() }), { minLength: 1, maxLength: 25 }),
        async (c, steps) => {
          const clock = createVirtualClock();
          const burst = algorithm === 'gcra' || algorithm === 'token-bucket' ? c.burst : undefined;
          const options = { algorithm, limit: c.limit, periodMs: c.periodMs, ...(burst !== undefined && { burst }), clock, events: createEventBus() };
          const memory = createRateLimiter(options);
          const store = redisStore(redis, { prefix: `${prefix}${n++}`, time: 'client', clock, timeoutMs: 2_000, events: createEventBus() });
          const shared: StoreRateLimiter = createRateLimiter({ ...options, store });
          const capacity = burst ?? c.limit;
          for (const step of steps) {
            await clock.advance(step.dt);
            const cost = Math.min(step.cost, capacity);
            const [a, b] = step.peek ? [memory.peek('k', { cost }), await shared.peek('k', { cost })] : [memory.limit('k', { cost }), await shared.limit('k', { cost })];
            if (a.allowed !== b.allowed || a.remaining !== b.remaining) return false;
            // Redis answers in whole microseconds, rounded up.
            if (Math.abs(a.retryAfterMs - b.retryAfterMs) > 0.0011 || Math.abs(a.resetAfterMs - b.resetAfterMs) > 0.0011) return false;
          }
          return true;
        },
      ),
      { numRuns: 25 },
    );
  });

  it('keeps keys and limiters apart: no user key can collide or leave its hash tag', async () => {
    const shared = redisStore(redis, { prefix: `${prefix}${n++}`, events: createEventBus() });
    const a = createRateLimiter({ name: 'api', limit: 1, periodMs: 60_000, store: shared, events: createEventBus() });
    const b = createRateLimiter({ name: 'api:x', limit: 1, periodMs: 60_000, store: shared, events: createEventBus() });
    const tricky = ['x:y', 'y', '}', '{', '}{', '%7D', '', 'é✓', ':', '%'];
    for (const key of tricky) expect((await a.limit(key)).allowed).toBe(true);
    // 'api' + 'x:y' and 'api:x' + 'y' would both be "api:x:y" without encoding.
    expect((await b.limit('y')).allowed).toBe(true);
    for (const key of tricky) expect((await a.limit(key)).allowed).toBe(false);
    const keys = await redis.keys(`{${prefix}*`);
    const mine = keys.filter((k) => k.startsWith(`{${prefix}${n - 1}:`));
    expect(mine).toHaveLength(tricky.length + 1);
    for (const key of mine) expect(key).toMatch(/^\{[^{}]+\}:[gtsf]$/);
  });

  it('stores one key per limited key with an expiry at its reset time; a rejection writes nothing', async () => {
    const { limiter: l, prefix: own } = limiter({ limit: 2, periodMs: 10_000 });
    await l.limit('k');
    const key = `{${own}:ratelimit:k}:g`;
    const ttl = await redis.pttl(key);
    expect(ttl).toBeGreaterThan(4_000);
    expect(ttl).toBeLessThanOrEqual(5_000);
    await l.limit('k');
    const full = await redis.get(key);
    expect((await l.limit('k')).allowed).toBe(false);
    expect(await redis.get(key)).toBe(full);
  });

  it('recovers by itself when Redis flushed its scripts', async () => {
    const { limiter: l } = limiter();
    expect((await l.limit('k')).allowed).toBe(true);
    await redis.script('FLUSH');
    const after = await l.limit('k');
    expect(after).toMatchObject({ allowed: true, degraded: undefined, remaining: 8 });
  });

  it('is exact under many concurrent calls, and batches them into few script calls', async () => {
    const { limiter: l } = limiter({ limit: 100, periodMs: 60_000 });
    await redis.config('RESETSTAT');
    const decisions = await Promise.all(Array.from({ length: 500 }, () => l.limit('hot')));
    expect(decisions.filter((d) => d.allowed)).toHaveLength(100);
    const stats = await redis.info('commandstats');
    const calls = Number(/cmdstat_evalsha:calls=(\d+)/.exec(stats)?.[1] ?? 'NaN');
    expect(calls).toBeLessThanOrEqual(10);

    const { limiter: unbatched } = limiter({ limit: 100, periodMs: 60_000 }, { batch: false });
    await redis.config('RESETSTAT');
    const again = await Promise.all(Array.from({ length: 200 }, () => unbatched.limit('hot')));
    expect(again.filter((d) => d.allowed)).toHaveLength(100);
    const unbatchedCalls = Number(/cmdstat_evalsha:calls=(\d+)/.exec(await redis.info('commandstats'))?.[1] ?? 'NaN');
    expect(unbatchedCalls).toBeGreaterThanOrEqual(200);
  });

  it('acquire reserves in Redis and waits locally for the slot', async () => {
    const { limiter: l } = limiter({ limit: 20, periodMs: 1_000, burst: 1 });
    const start = performance.now();
    const times = await Promise.all([0, 1, 2].map(() => l.acquire('k').then(() => performance.now() - start)));
    times.sort((x, y) => x - y);
    expect(times[0]).toBeLessThan(40);
    expect(times[1]).toBeGreaterThanOrEqual(45);
    expect(times[2]).toBeGreaterThanOrEqual(95);
    await expect(l.acquire('k', { maxWaitMs: 10 })).rejects.toMatchObject({ code: 'RATE_LIMITED' });
  });

  it.each(['gcra', 'token-bucket'] as const)(
    '%s: the script gives back only the last reservation: aborting one in the middle of the queue frees nothing',
    async (algorithm) => {
      // Client time on a clock that never moves, so every wait is exact and nothing wakes up.
      const clock = createVirtualClock({ now: Date.now() });
      const store = redisStore(redis, { prefix: `${prefix}${n++}`, time: 'client', clock, timeoutMs: 2_000, events: createEventBus() });
      const l = createRateLimiter({ algorithm, limit: 1, periodMs: 10_000, burst: 1, store, clock, events: createEventBus() });
      await l.acquire('k'); // now; the next slots are 10 s apart
      const middle = new AbortController();
      const last = new AbortController();
      const waiters = [l.acquire('k', { signal: middle.signal }), l.acquire('k'), l.acquire('k', { signal: last.signal })];
      for (const w of waiters) w.catch(() => {});
      const nextSlot = async () => (await l.peek('k')).retryAfterMs; // also waits for the replies before it
      expect(await nextSlot()).toBeCloseTo(40_000, 2);
      middle.abort('gone'); // its slot (10 s) has waiters behind it: giving it back would double up at 30 s
      expect(await nextSlot()).toBeCloseTo(40_000, 2);
      last.abort('gone'); // the last reservation (30 s): given back
      expect(await nextSlot()).toBeCloseTo(30_000, 2);
    },
  );

  it("decides on Redis' clock: a frozen client clock does not stop refills (time: 'server')", async () => {
    const clock = createVirtualClock(); // never advanced
    const store = redisStore(redis, { prefix: `${prefix}${n++}`, clock, timeoutMs: 2_000, events: createEventBus() });
    const l = createRateLimiter({ name: 'srv', limit: 1, periodMs: 100, store, clock, events: createEventBus() });
    expect((await l.limit('k')).allowed).toBe(true);
    const rejected = await l.limit('k');
    expect(rejected.allowed).toBe(false);
    expect(rejected.retryAfterMs).toBeGreaterThan(0);
    expect(rejected.retryAfterMs).toBeLessThanOrEqual(100);
    await new Promise((resolve) => setTimeout(resolve, 130));
    expect((await l.limit('k')).allowed).toBe(true);
  });

  it('rejects a cost above the burst with INVALID_OPTIONS without a Redis call, and never returns a negative retryAfterMs', async () => {
    const { limiter: l, prefix: own } = limiter({ limit: 5, periodMs: 1_000, burst: 3 });
    const error = await l.limit('k', { cost: 4 }).catch((e: unknown) => e);
    expect(isXError(error, 'INVALID_OPTIONS')).toBe(true);
    expect((error as Error).message).toMatch(/a cost above the burst can never be admitted/);
    expect(await redis.keys(`{${own}:*`)).toHaveLength(0);
    for (let i = 0; i < 6; i++) {
      const d = await l.limit('k', { cost: 2 });
      expect(d.retryAfterMs).toBeGreaterThanOrEqual(0);
      expect(d.remaining).toBeGreaterThanOrEqual(0);
      if (d.allowed) expect(d.retryAfterMs).toBe(0);
    }
  });

  it('peek, allow and reset', async () => {
    const { limiter: l } = limiter({ algorithm: 'fixed-window', limit: 2, periodMs: 60_000 });
    expect(await l.allow('k')).toBe(true);
    expect(await l.peek('k')).toMatchObject({ allowed: true, remaining: 0 });
    expect(await l.allow('k')).toBe(true);
    expect(await l.allow('k')).toBe(false);
    await l.reset('k');
    expect(await l.allow('k')).toBe(true);
  });

  it('works with an ioredis keyPrefix', async () => {
    const prefixed = new Redis(redisUrl(), { keyPrefix: `${prefix}kp:`, enableOfflineQueue: false, lazyConnect: true });
    await prefixed.connect();
    try {
      const l = createRateLimiter({ limit: 1, periodMs: 60_000, store: redisStore(prefixed, { prefix: `${prefix}${n++}` }), events: createEventBus() });
      expect((await l.limit('k')).allowed).toBe(true);
      expect((await l.limit('k')).allowed).toBe(false);
      expect((await redis.keys(`${prefix}kp:{*`)).length).toBe(1);
      await redis.del(...(await redis.keys(`${prefix}kp:{*`)));
    } finally {
      prefixed.disconnect();
    }
  });
});
