import { createRequire } from 'node:module';
import { connect } from 'node:net';
import type { Redis, RedisOptions } from 'ioredis';

/** Where tests find Redis: `REDIS_URL`, default `redis://127.0.0.1:6379`. */
export function redisUrl(): string {
  return process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
}

/** In CI (`CI=true`) or with `REQUIRE_REDIS=1`, a missing Redis fails the run instead of skipping. */
export function redisRequired(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.CI === 'true' || env.CI === '1' || env.REQUIRE_REDIS === '1';
}

/** Sends PING over a raw socket; resolves true on `+PONG` within `timeoutMs`. */
export function pingRedis(url: string, timeoutMs = 1_000): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = connect({ host: hostname.replace(/^\[|\]$/g, ''), port: Number(port || 6379) });
    let reply = '';
    const finish = (ok: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    socket.once('error', () => finish(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => {
      reply += chunk.toString('utf8');
      if (reply.includes('\r\n')) finish(reply.startsWith('+PONG'));
    });
  });
}

/**
 * Decides whether Redis-backed tests run. Returns true when Redis answers. When it does not:
 * throws if Redis is required (CI), otherwise prints a loud warning and returns false so the
 * caller can `describe.skipIf(!available)`.
 */
export async function redisAvailable(
  suite: string,
  url = redisUrl(),
  env: NodeJS.ProcessEnv = process.env,
): Promise<boolean> {
  if (await pingRedis(url)) return true;
  const message = `Redis does not answer at ${url}`;
  if (redisRequired(env)) throw new Error(`${message}; ${suite} needs it (CI=true or REQUIRE_REDIS=1)`);
  console.warn(`\n!!! ${message}: SKIPPING the Redis tests of ${suite}. Start redis-server or set REDIS_URL.\n`);
  return false;
}

let counter = 0;
/**
 * A key prefix unique to one test file and run, so files can share a Redis in parallel. It never
 * holds `{` or `}`, so it passes `checkKeyPrefix` of `@x/core/store` as it is.
 */
export function testKeyPrefix(file: string): string {
  const base = file.split(/[\\/]/).pop()?.replace(/\.test\.ts$/, '').replace(/[{}]/g, '') ?? 'test';
  return `xtest:${base}:${process.pid}:${Date.now().toString(36)}:${counter++}:`;
}

const load = createRequire(import.meta.url);

/**
 * An ioredis client for tests that stop, stall or slow Redis on purpose: no offline queue and one
 * retry per request (a call fails instead of waiting for a reconnect), a reconnect every 50 ms,
 * and its `error` events swallowed (a stopped server is expected). `options` override these.
 * Connects in the background; wait for `status === 'ready'` where a test needs it. ioredis is
 * loaded on the first call, so test files that use no Redis do not pay for it.
 */
export function redisClient(target: string | number = redisUrl(), options: RedisOptions = {}): Redis {
  const { default: RedisClient } = load('ioredis') as typeof import('ioredis');
  const settings: RedisOptions = { enableOfflineQueue: false, maxRetriesPerRequest: 1, retryStrategy: () => 50, ...options };
  const redis = typeof target === 'number' ? new RedisClient(target, settings) : new RedisClient(target, settings);
  redis.on('error', () => {});
  return redis;
}
