import { InvalidOptionsError, checkInteger, readOptions } from '@x/core';
import type { Clock, EventBus } from '@x/core';
import type { Lease } from './lease.js';
import { Locker } from './locker.js';
import type { AcquireOptions, LockRetryOptions, LockStats, TryLockOptions } from './locker.js';
import type { LockStore } from './store.js';

/** Options of {@link createSemaphore}. */
export interface SemaphoreOptions {
  /** Instance name for events and metrics. Default `'semaphore'`. */
  readonly name?: string | undefined;
  /** Where slots live: `memoryLockStore()` (default, this semaphore only) or `redisLockStore(redis)`. */
  readonly store?: LockStore | undefined;
  /** Holders allowed per key at once (integer in [1, 1e6]). */
  readonly limit: number;
  /** Slot lease length, ms (integer in [1, 2³¹ − 1]). Default 30 000. A crashed holder's slot comes back after it. */
  readonly ttlMs?: number | undefined;
  /** Longest `acquire` waits, ms. Default 10 000. */
  readonly waitMs?: number | undefined;
  readonly retry?: LockRetryOptions | undefined;
  readonly clock?: Clock | undefined;
  readonly events?: EventBus | undefined;
}

/**
 * At most `limit` holders per key, each holding a {@link Lease} of the same shape as a lock's
 * (fence, signal, `remainingMs`, `extend`, `release`). Expired holders are reclaimed.
 *
 * @example
 * ```ts
 * const exports = createSemaphore({ name: 'exports', limit: 3, store: redisLockStore(redis) });
 * await using slot = await exports.acquire('tenant:7', { waitMs: 5_000 });
 * ```
 */
export interface Semaphore {
  readonly name: string;
  readonly limit: number;
  /** One attempt: a slot, or null when all `limit` are taken. */
  tryAcquire(key: string, options?: TryLockOptions): Promise<Lease | null>;
  /** Waits (jittered retries) for a slot; rejects `LOCK_NOT_ACQUIRED` or with the caller's abort reason. */
  acquire(key: string, options?: AcquireOptions): Promise<Lease>;
  stats(): LockStats;
}

const KEYS = ['name', 'store', 'limit', 'ttlMs', 'waitMs', 'retry', 'clock', 'events'];

class SemaphoreImpl implements Semaphore {
  readonly #locker: Locker;
  readonly limit: number;

  constructor(locker: Locker, limit: number) {
    this.#locker = locker;
    this.limit = limit;
  }

  get name(): string {
    return this.#locker.name;
  }

  tryAcquire(key: string, options?: TryLockOptions): Promise<Lease | null> {
    return this.#locker.tryLock('tryAcquire', key, options);
  }

  acquire(key: string, options?: AcquireOptions): Promise<Lease> {
    return this.#locker.acquire('acquire', key, options);
  }

  stats(): LockStats {
    return this.#locker.stats();
  }
}

/**
 * Creates a counting semaphore over keys, on memory (default) or Redis.
 *
 * @example
 * ```ts
 * const sem = createSemaphore({ name: 'pdf', limit: 4, ttlMs: 60_000 });
 * const slot = await sem.acquire('renderer');
 * try { await render() } finally { await slot.release() }
 * ```
 */
export function createSemaphore(options: SemaphoreOptions): Semaphore {
  const o = readOptions<SemaphoreOptions>('createSemaphore', options, KEYS, true);
  const limit = checkInteger('createSemaphore', 'limit', o.limit, { min: 1, max: 1_000_000 });
  if ((o.store as { kind?: unknown } | undefined)?.kind === 'redlock') {
    throw new InvalidOptionsError('createSemaphore', 'store', o.store, 'memoryLockStore() or redisLockStore(redis): on a Redlock quorum each node counts its own holders, so more than `limit` could each hold a majority');
  }
  const locker = new Locker('createSemaphore', o, limit, 'semaphore');
  return new SemaphoreImpl(locker, limit);
}
