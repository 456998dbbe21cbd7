import { readOptions } from '@x/core';
import { COMMON_KEYS, RedisNode, commonSettings, failureText } from './redis-node.js';
import type { LockRedisClient, RedisStoreCommonOptions } from './redis-node.js';
import type { LockStore, LockStoreExtend, LockStoreGrant, LockStoreRelease, LockStoreRequest } from './store.js';

/** Options of {@link redisLockStore}. */
export type RedisLockStoreOptions = RedisStoreCommonOptions;

const OWNER = 'redisLockStore';

class RedisLockStore implements LockStore {
  readonly kind = 'redis';
  readonly #node: RedisNode;
  readonly #driftFactor: number;

  constructor(client: LockRedisClient, options: RedisLockStoreOptions | undefined) {
    const o = readOptions<RedisLockStoreOptions>(OWNER, options, COMMON_KEYS);
    const settings = commonSettings(OWNER, o, { name: 'redis', timeoutMs: 500 });
    this.#node = new RedisNode(OWNER, client, settings, settings.name);
    this.#driftFactor = settings.driftFactor;
  }

  drift(ttlMs: number): number {
    return Math.floor(ttlMs * this.#driftFactor) + 2;
  }

  async acquire(request: LockStoreRequest): Promise<LockStoreGrant> {
    const grant = await this.#node.acquire(request, '');
    switch (grant.kind) {
      case 'granted':
        return { granted: true, fence: grant.fence };
      case 'held':
        return { granted: false, reason: 'held', retryAfterMs: grant.retryAfterMs };
      case 'failed':
        // A call that missed its deadline may still have been granted: give it back (owner-checked).
        if (grant.timedOut) void this.#node.release(request);
        return { granted: false, reason: 'store_unavailable', error: grant.error, detail: `redis ${failureText(grant)}` };
      default:
        // The server issues its own fences; a 'behind' reply cannot happen.
        return { granted: false, reason: 'fence' };
    }
  }

  async extend(request: LockStoreRequest): Promise<LockStoreExtend> {
    const answer = await this.#node.extend(request);
    return answer === 'yes' ? 'extended' : answer === 'no' ? 'not_held' : 'unavailable';
  }

  async release(request: LockStoreRequest): Promise<LockStoreRelease> {
    const answer = await this.#node.release(request);
    return answer === 'yes' ? 'released' : answer === 'no' ? 'expired' : 'unavailable';
  }
}

/**
 * A lock store on one Redis server or one Redis Cluster (ioredis `Redis` or `Cluster`). Each
 * acquire, extend and release is one Lua script on one hash-tagged key (`{prefix:key}`), with a
 * deadline, behind a small breaker. The fence is issued by the script that grants: the larger of
 * the last fence + 1 and the server's time in ms, so fences keep increasing even across a restart
 * that lost the counter. This is the "efficiency" lock of Kleppmann's distinction; mutual
 * exclusion holds as long as this one server does (a failover to a replica that missed the write
 * can grant twice; fences still increase, so a resource that checks them rejects the older
 * holder).
 *
 * @example
 * ```ts
 * import Redis from 'ioredis';
 * const redis = new Redis({ enableOfflineQueue: false });
 * const lock = createLock({ name: 'billing', store: redisLockStore(redis, { prefix: 'app' }) });
 * ```
 */
export function redisLockStore(redis: LockRedisClient, options?: RedisLockStoreOptions): LockStore {
  return new RedisLockStore(redis, options);
}
