// One process of the multi-process tests (src/multiprocess.test.ts): a cache on a shared Redis
// with its own connections, driven over IPC. Each call is { op, ... } and returns a plain value.
import { setTimeout as wait } from 'node:timers/promises';
import { createLock } from '@x/lock';
import { redisLockStore } from '@x/lock/redis';
import { redisClient } from '@x/test-support';
import Redis from 'ioredis';
import { createCache } from '../index.js';
import type { Cache } from '../index.js';
import { createInvalidationBus, redisCacheStore } from '../redis.js';

export type WorkerCall =
  | { op: 'init'; url: string; prefix: string; lock?: boolean; bus?: boolean; graceMs?: number; l1TtlMs?: number }
  | { op: 'getOrSet'; key: string; startAt: number; loadMs: number }
  | { op: 'get'; key: string }
  | { op: 'set'; key: string; value: string }
  | { op: 'stats' }
  | { op: 'killSubscriber' };

let cache: Cache<string> | undefined;
let redis: Redis | undefined;
let subscriber: Redis | undefined;
let prefix = '';
let subscriberId = '';


export async function run(call: WorkerCall): Promise<unknown> {
  switch (call.op) {
    case 'init': {
      prefix = call.prefix;
      await cache?.close();
      subscriber?.disconnect();
      redis?.disconnect();
      subscriber = undefined;
      redis = redisClient(call.url);
      await new Promise<void>((resolve) => redis?.once('ready', () => resolve()));
      let bus;
      if (call.bus === true) {
        subscriber = new Redis(call.url, { retryStrategy: () => 50 });
        subscriber.on('error', () => {});
        subscriberId = String(await subscriber.client('ID')); // before subscriber mode, where CLIENT is refused
        bus = createInvalidationBus(subscriber, redis, { channel: `${prefix}:bus` });
      }
      cache = createCache<string>({
        name: 'worker',
        l2: redisCacheStore(redis, { prefix, timeoutMs: 500 }),
        ...(call.lock === true && { lock: createLock({ store: redisLockStore(redis, { prefix: `${prefix}:lock` }), ttlMs: 5_000 }) }),
        ...(bus !== undefined && { bus }),
        graceMs: call.graceMs ?? 0,
        l1TtlMs: call.l1TtlMs ?? 60_000,
        storeTimeoutMs: 1_000,
        lockPollMs: 10,
        jitter: 0,
      });
      await wait(50); // the SUBSCRIBE has been sent
      return process.pid;
    }
    case 'getOrSet': {
      const c = cache as Cache<string>;
      const r = redis as Redis;
      await wait(Math.max(0, call.startAt - Date.now()));
      return c.getOrSet(call.key, async () => {
        await r.incr(`${prefix}:loads`);
        await wait(call.loadMs);
        return `value-from-${process.pid}`;
      });
    }
    case 'get':
      return (cache as Cache<string>).get(call.key);
    case 'set':
      await (cache as Cache<string>).set(call.key, call.value);
      return true;
    case 'stats':
      return (cache as Cache<string>).stats();
    case 'killSubscriber': {
      // Kill this process's subscriber connection from Redis' side (as a network drop would).
      await (redis as Redis).client('KILL', 'ID', subscriberId);
      return true;
    }
  }
}
