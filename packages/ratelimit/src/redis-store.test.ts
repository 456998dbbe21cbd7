import { createHash } from 'node:crypto';
import { createEventBus, isXError } from '@x/core';
import type { XEvent } from '@x/core';
import { createVirtualClock } from '@x/core/testing';
import type { VirtualClock } from '@x/core/testing';
import { describe, expect, it } from 'vitest';
import { CONSUME, PEEK } from './algorithms.js';
import { createRateLimiter } from './index.js';
import { RATE_LIMIT_SCRIPT, RATE_LIMIT_SCRIPT_SHA, SCRIPT_EPOCH_MS, encodeKeyPart, redisStore } from './redis.js';
import type { RedisClientLike, RedisStoreOptions } from './redis.js';
import { sha1 } from '@x/core/store';
import { makeRule } from './rule.js';
import type { StoreRequest } from './store.js';

/** A scriptable stand-in for an ioredis client: every command waits until the test answers it. */
class FakeRedis implements RedisClientLike {
  status = 'ready';
  isCluster?: boolean;
  readonly sent: { command: 'evalsha' | 'eval' | 'del'; args: unknown[]; resolve(v: unknown): void; reject(e: unknown): void }[] = [];

  #push(command: 'evalsha' | 'eval' | 'del', args: unknown[]): Promise<never> {
    return new Promise((resolve, reject) => this.sent.push({ command, args: args.flat(), resolve: resolve as (v: unknown) => void, reject }));
  }
  evalsha(...args: (string | number)[]): Promise<unknown> {
    return this.#push('evalsha', args);
  }
  eval(...args: (string | number)[]): Promise<unknown> {
    return this.#push('eval', args);
  }
  del(...keys: string[]): Promise<number> {
    return this.#push('del', keys);
  }
  /** Answers command `i` as the script would for `n` decisions, all admitted. */
  admitAll(i: number): void {
    const command = this.sent[i] as (typeof this.sent)[number];
    const n = command.args[1] as number;
    command.resolve([...Array.from({ length: n }, () => [1, 5, 0, 1_000, 0, '1.5']).flat(), 123_000]);
  }
}

function fakeSetup(options: RedisStoreOptions = {}) {
  const clock = createVirtualClock();
  const events = createEventBus();
  const seen: XEvent[] = [];
  events.on('*', (e) => {
    if (e.type !== 'core.instance_tracked') seen.push(e);
  });
  const redis = new FakeRedis();
  const store = redisStore(redis, { clock, events, timeoutMs: 50, failureThreshold: 2, cooldownMs: 1_000, ...options });
  const limiter = createRateLimiter({ name: 'api', limit: 10, periodMs: 1_000, store, clock, events });
  return { clock, events, seen, redis, store, limiter };
}

/** Lets promise callbacks and the store's deferred flush run. */
const flush = (clock: VirtualClock) => clock.flush();

describe('sha1', () => {
  it('matches node:crypto, including multi-block and non-ASCII input', () => {
    for (const text of ['', 'abc', 'a'.repeat(55), 'a'.repeat(56), 'a'.repeat(64), 'x'.repeat(1_000), 'héllo ✓ 🚀', RATE_LIMIT_SCRIPT]) {
      expect(sha1(text)).toBe(createHash('sha1').update(text, 'utf8').digest('hex'));
    }
    expect(RATE_LIMIT_SCRIPT_SHA).toBe(createHash('sha1').update(RATE_LIMIT_SCRIPT).digest('hex'));
  });
});

describe('redisStore options', () => {
  it('refuses a misspelt option with INVALID_OPTIONS naming it, before touching Redis', () => {
    const untouched = {} as RedisClientLike;
    expect(() => redisStore(untouched, { timeout: 50 } as unknown as RedisStoreOptions)).toThrow(/^redisStore: option "timeout"/);
  });
});

describe('redisStore: keys', () => {
  it('encodes the characters that structure a key', () => {
    expect(encodeKeyPart('plain-key_1.2')).toBe('plain-key_1.2');
    expect(encodeKeyPart('a:b{c}d%e')).toBe('a%3Ab%7Bc%7Dd%25e');
    expect(encodeKeyPart('%3A')).toBe('%253A');
  });

  it('puts the whole key inside one hash tag: {prefix:limiter:key}:algorithm', async () => {
    const { redis, limiter, clock } = fakeSetup({ prefix: 'app:rl' });
    void limiter.limit('user:{1}');
    await flush(clock);
    expect(redis.sent[0]?.args.slice(0, 3)).toEqual([RATE_LIMIT_SCRIPT_SHA, 1, '{app:rl:api:user%3A%7B1%7D}:g']);
  });

  it('validates its options', () => {
    const redis = new FakeRedis();
    expect(() => redisStore(redis, { prefix: 'a{b' })).toThrow(/option "prefix" must be a non-empty string of at most 256 characters without "\{", "\}"/);
    expect(() => redisStore(redis, { prefix: '' })).toThrow(/"prefix"/);
    expect(() => redisStore(redis, { timeoutMs: 0 })).toThrow(/"timeoutMs"/);
    expect(() => redisStore(redis, { timeoutMs: 1.5 })).toThrow(/"timeoutMs"/);
    expect(() => redisStore(redis, { onStoreError: 'ignore' as 'open' })).toThrow(/"onStoreError"/);
    expect(() => redisStore(redis, { instances: 0 })).toThrow(/"instances"/);
    expect(() => redisStore(redis, { failureThreshold: -1 })).toThrow(/"failureThreshold"/);
    expect(() => redisStore(redis, { cooldownMs: Number.NaN })).toThrow(/"cooldownMs"/);
    expect(() => redisStore(redis, { time: 'local' as 'server' })).toThrow(/"time"/);
    expect(() => redisStore(redis, { batch: 1 as unknown as boolean })).toThrow(/"batch"/);
    expect(() => redisStore({} as RedisClientLike)).toThrow(/"redis.evalsha"/);
    expect(() => redisStore(null as unknown as RedisClientLike)).toThrow(/"redis"/);
  });
});

describe('redisStore: calls (scripted client)', () => {
  it('sends the decisions of one tick in one script call, each on its own key', async () => {
    const { redis, limiter, clock } = fakeSetup();
    const decisions = [limiter.limit('a'), limiter.limit('b', { cost: 3 }), limiter.peek('c')];
    await flush(clock);
    expect(redis.sent).toHaveLength(1);
    const args = redis.sent[0]?.args as string[];
    expect(args.slice(0, 5)).toEqual([RATE_LIMIT_SCRIPT_SHA, 3, '{rl:api:a}:g', '{rl:api:b}:g', '{rl:api:c}:g']);
    expect(args.slice(5)).toEqual(['0', '10', '1000', '10', '1', '0', '0', '0', '10', '1000', '10', '3', '0', '0', '0', '10', '1000', '10', '1', '0', '1', '']);
    redis.admitAll(0);
    const results = await Promise.all(decisions);
    expect(results.map((d) => d.allowed)).toEqual([true, true, true]);
    expect(results[0]).toMatchObject({ remaining: 5, resetAfterMs: 1, degraded: undefined });
  });

  it('sends one decision per call on a Redis Cluster (keys live on different nodes)', async () => {
    const clock = createVirtualClock();
    const redis = new FakeRedis();
    redis.isCluster = true;
    const store = redisStore(redis, { clock, events: createEventBus() });
    const limiter = createRateLimiter({ limit: 10, periodMs: 1_000, store, clock, events: createEventBus() });
    void limiter.limit('a');
    void limiter.limit('b');
    await flush(clock);
    expect(redis.sent.map((c) => c.args[1])).toEqual([1, 1]);
  });

  it('sends the current time in client-time mode', async () => {
    const { redis, limiter, clock } = fakeSetup({ time: 'client' });
    void limiter.limit('a');
    await flush(clock);
    expect(redis.sent[0]?.args.at(-1)).toBe(String(clock.now() - SCRIPT_EPOCH_MS));
  });

  it('answers per onStoreError at the deadline when Redis does not answer, then skips Redis', async () => {
    const { redis, limiter, clock, seen } = fakeSetup({ onStoreError: 'open' });
    const start = clock.now();
    const first = limiter.limit('a');
    await clock.advance(50);
    await expect(first).resolves.toMatchObject({ allowed: true, degraded: 'open' });
    expect(clock.now() - start).toBe(50);
    const second = limiter.limit('a');
    await clock.advance(50);
    await second;
    expect(seen.map((e) => e.type)).toContain('ratelimit.store_degraded');
    const error = seen.find((e) => e.type === 'ratelimit.store_error') as { error: unknown; timedOut: boolean };
    expect(error.timedOut).toBe(true);
    expect(isXError(error.error, 'RATELIMIT_STORE_UNAVAILABLE')).toBe(true);
    // Degraded: answered at once, nothing sent.
    const sent = redis.sent.length;
    await expect(limiter.limit('a')).resolves.toMatchObject({ allowed: true, degraded: 'open' });
    expect(redis.sent.length).toBe(sent);
    // After the cooldown, one call probes Redis; its answer restores normal service.
    await clock.advance(1_000);
    const probe = limiter.limit('a');
    await flush(clock);
    expect(redis.sent.length).toBe(sent + 1);
    redis.admitAll(sent);
    await expect(probe).resolves.toMatchObject({ allowed: true, degraded: undefined });
    expect(seen.at(-2)).toMatchObject({ type: 'ratelimit.store_recovered', mode: 'open' });
  });

  it("'closed' rejects while Redis is away, with the reason in the event", async () => {
    const { limiter, clock, seen } = fakeSetup({ onStoreError: 'closed' });
    const pending = limiter.limit('a');
    await clock.advance(50);
    await expect(pending).resolves.toMatchObject({ allowed: false, degraded: 'closed', retryAfterMs: 1_000 });
    expect(seen.at(-1)).toMatchObject({ type: 'ratelimit.rejected', reason: 'store_unavailable', degraded: 'closed' });
  });

  it('does not send while the connection is down after having been up', async () => {
    const { redis, limiter, clock } = fakeSetup({ onStoreError: 'local' });
    const ok = limiter.limit('a');
    await flush(clock);
    redis.admitAll(0);
    await ok;
    redis.status = 'reconnecting';
    await expect(limiter.limit('a')).resolves.toMatchObject({ degraded: 'local' });
    expect(redis.sent).toHaveLength(1);
  });

  it('lets ioredis connect on the first calls (status "connecting" or lazy "wait")', async () => {
    for (const status of ['connecting', 'wait', 'connect']) {
      const { redis, limiter, clock } = fakeSetup();
      redis.status = status;
      void limiter.limit('a');
      await flush(clock);
      expect(redis.sent).toHaveLength(1);
    }
    const { redis, limiter } = fakeSetup();
    redis.status = 'end';
    await expect(limiter.limit('a')).resolves.toMatchObject({ degraded: 'local' });
    expect(redis.sent).toHaveLength(0);
  });

  it('sends the script itself when Redis lost it (NOSCRIPT), in the same call', async () => {
    const { redis, limiter, clock, seen } = fakeSetup();
    const pending = limiter.limit('a');
    await flush(clock);
    redis.sent[0]?.reject(new Error('NOSCRIPT No matching script. Please use EVAL.'));
    await flush(clock);
    expect(redis.sent[1]?.command).toBe('eval');
    expect(redis.sent[1]?.args.slice(0, 3)).toEqual([RATE_LIMIT_SCRIPT, 1, '{rl:api:a}:g']);
    redis.admitAll(1);
    await expect(pending).resolves.toMatchObject({ allowed: true, degraded: undefined });
    expect(seen.some((e) => e.type === 'ratelimit.store_error')).toBe(false);
  });

  it('answers per onStoreError on an error or a malformed reply, counting one failure per call', async () => {
    const { redis, limiter, clock, seen } = fakeSetup({ onStoreError: 'local' });
    const a = [limiter.limit('a'), limiter.limit('b')];
    await flush(clock);
    redis.sent[0]?.reject(new Error('ERR something'));
    expect((await Promise.all(a)).map((d) => d.degraded)).toEqual(['local', 'local']);
    expect(seen.filter((e) => e.type === 'ratelimit.store_error')).toHaveLength(1);
    const b = limiter.limit('a');
    await flush(clock);
    redis.sent[1]?.resolve(['garbage']);
    await expect(b).resolves.toMatchObject({ degraded: 'local' });
    expect(seen.filter((e) => e.type === 'ratelimit.store_degraded')).toHaveLength(1);
  });

  it('ignores an answer that arrives after the deadline', async () => {
    const { redis, limiter, clock } = fakeSetup({ onStoreError: 'closed' });
    const pending = limiter.limit('a');
    await clock.advance(50);
    await expect(pending).resolves.toMatchObject({ allowed: false, degraded: 'closed' });
    redis.admitAll(0);
    await flush(clock);
  });

  it('a reply that arrives after its deadline is not a success: a Redis slower than the deadline still trips the breaker', async () => {
    const { redis, store, limiter, clock, seen } = fakeSetup({ onStoreError: 'open', failureThreshold: 2 });
    const first = limiter.limit('a');
    await clock.advance(50);
    await expect(first).resolves.toMatchObject({ allowed: true, degraded: 'open' });
    // The late reply to the first call lands while the second call is in flight.
    const second = limiter.limit('a');
    await flush(clock);
    redis.admitAll(0);
    await flush(clock);
    expect(store.health).toBe('healthy');
    await clock.advance(50);
    await expect(second).resolves.toMatchObject({ allowed: true, degraded: 'open' });
    expect(seen.filter((e) => e.type === 'ratelimit.store_error').map((e) => (e as { consecutiveFailures: number }).consecutiveFailures)).toEqual([1, 2]);
    expect(store.health).toBe('degraded');
    expect(seen.some((e) => e.type === 'ratelimit.store_degraded')).toBe(true);
    // Degraded: answered at once without sending anything.
    const sent = redis.sent.length;
    await expect(limiter.limit('a')).resolves.toMatchObject({ degraded: 'open' });
    expect(redis.sent).toHaveLength(sent);
  });

  it('reset deletes every algorithm variant of the key within the deadline', async () => {
    const { redis, limiter, clock } = fakeSetup();
    const done = limiter.reset('u:1');
    await flush(clock);
    expect(redis.sent[0]).toMatchObject({ command: 'del', args: ['{rl:api:u%3A1}:g', '{rl:api:u%3A1}:t', '{rl:api:u%3A1}:s', '{rl:api:u%3A1}:f'] });
    redis.sent[0]?.resolve(4);
    await expect(done).resolves.toBeUndefined();
    const slow = expect(limiter.reset('u:2')).rejects.toMatchObject({ code: 'RATELIMIT_STORE_UNAVAILABLE', timedOut: true });
    await clock.advance(50);
    await slow;
    const failing = limiter.reset('u:3');
    await flush(clock);
    redis.sent[2]?.reject(new Error('READONLY'));
    await expect(failing).rejects.toThrow('READONLY');
  });

  it('carries a reservation (maxWaitMs) for acquire and gives it back on abort', async () => {
    const { redis, limiter, clock } = fakeSetup();
    const controller = new AbortController();
    const pending = limiter.acquire('a', { maxWaitMs: 300, signal: controller.signal });
    await flush(clock);
    expect((redis.sent[0]?.args as string[]).slice(3, 10)).toEqual(['0', '10', '1000', '10', '1', '300', '0']);
    redis.sent[0]?.resolve([1, 0, 0, 1_000_000, 200_000, '1234.5678901234567', 0]);
    await flush(clock);
    controller.abort(new Error('bye'));
    await expect(pending).rejects.toThrow('bye');
    await flush(clock);
    // The refund: same key, op 2, with the reservation the script returned (where it ends on the
    // key's schedule) in the wait slot: only the last reservation on the key is given back.
    expect((redis.sent[1]?.args as string[]).slice(3, 10)).toEqual(['0', '10', '1000', '10', '1', '1234.5678901234567', '2']);
  });
});

describe('redisStore: store requests', () => {
  it('applies requests of any limiter through the public store interface', async () => {
    const clock = createVirtualClock();
    const redis = new FakeRedis();
    const store = redisStore(redis, { clock, events: createEventBus() });
    const request: StoreRequest = { scope: 'x', key: 'k', rule: makeRule('t', 'x', 'fixed-window', 5, 1_000, undefined), cost: 2, maxWaitMs: 0, op: PEEK };
    const verdict = store.apply(request);
    await flush(clock);
    expect((redis.sent[0]?.args as string[]).slice(2)).toEqual(['{rl:x:k}:f', '3', '5', '1000', '5', '2', '0', '1', '']);
    redis.sent[0]?.resolve([1, 3, 0, 1_000_000, 0, 0, 5_000_000]);
    await expect(verdict).resolves.toEqual({
      allowed: true,
      remaining: 3,
      retryAfterMs: 0,
      resetAfterMs: 1_000,
      waitMs: 0,
      degraded: undefined,
      storeTimeMs: SCRIPT_EPOCH_MS + 5_000,
    });
    expect(store.health).toBe('healthy');
    expect(store.name).toBe('redis');
    expect(CONSUME).toBe(0);
  });
});
