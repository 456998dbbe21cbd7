import { readOptions } from '@x/core';
import type { Clock, EventBus } from '@x/core';
import type { Lease } from './lease.js';
import { Locker } from './locker.js';
import type { AcquireOptions, LockContext, LockRetryOptions, LockStats, TryLockOptions, WithLockOptions } from './locker.js';
import type { LockStore } from './store.js';

/** Options of {@link createLock}. */
export interface LockOptions {
  /** Instance name for events and metrics (never part of the stored key). Default `'lock'`. */
  readonly name?: string | undefined;
  /**
   * Where leases live. Default a new `memoryLockStore()` (this lock only). Locks that must
   * exclude each other share a store: the same memory store in one process, `redisLockStore`
   * or `redlockStore` (from `@x/lock/redis`) across processes.
   */
  readonly store?: LockStore | undefined;
  /** Lease length, ms (integer in [1, 2³¹ − 1]). Default 30 000. */
  readonly ttlMs?: number | undefined;
  /** Longest `acquire` waits, ms (>= 0, `Infinity` allowed). Default 10 000. */
  readonly waitMs?: number | undefined;
  /** Waits between `acquire` attempts. */
  readonly retry?: LockRetryOptions | undefined;
  /** Time source for validity, waits and extension; default `systemClock` (monotonic). */
  readonly clock?: Clock | undefined;
  /** Where events go; default `defaultEventBus()`. */
  readonly events?: EventBus | undefined;
}

/**
 * A mutual-exclusion lock over keys. Every method validates its arguments (`INVALID_OPTIONS`
 * naming the option) and never leaves a store call without a deadline.
 *
 * @example
 * ```ts
 * const lock = createLock({ name: 'billing', store: redisLockStore(redis), ttlMs: 10_000 });
 * const total = await lock.withLock(`invoice:${id}`, async ({ signal, fence }) => {
 *   return recompute(id, { signal, fence });
 * });
 * ```
 */
export interface Lock {
  readonly name: string;
  /** One attempt: the lease, or null when another holder has the key. Rejects `LOCK_NOT_ACQUIRED` when the store fails. */
  tryLock(key: string, options?: TryLockOptions): Promise<Lease | null>;
  /**
   * Waits (jittered retries) for the lease. Rejects `LOCK_NOT_ACQUIRED` saying why (held by
   * another holder past `waitMs` or `retry.attempts`, the store failing, or the validity window
   * exceeded), or with the caller's `signal.reason`. Store failures are not retried: they
   * reject at once.
   */
  acquire(key: string, options?: AcquireOptions): Promise<Lease>;
  /**
   * Acquires, runs `fn`, releases. While `fn` runs the lease is extended in the background
   * (`autoExtend`, default true); `fn`'s `signal` aborts the moment the lease is lost,
   * `maxHoldMs` is reached or the caller aborts. Resolves with `fn`'s value when the lease was
   * still held when `fn` settled; rejects `LOCK_LOST` (with `fn`'s error as `cause`) when it was
   * not; rethrows `fn`'s error otherwise.
   */
  withLock<T>(key: string, fn: (context: LockContext) => T | PromiseLike<T>, options?: WithLockOptions): Promise<T>;
  /** Totals since creation (what `@x/metrics` reads). */
  stats(): LockStats;
}

const KEYS = ['name', 'store', 'ttlMs', 'waitMs', 'retry', 'clock', 'events'];

class LockImpl implements Lock {
  readonly #locker: Locker;

  constructor(locker: Locker) {
    this.#locker = locker;
  }

  get name(): string {
    return this.#locker.name;
  }

  tryLock(key: string, options?: TryLockOptions): Promise<Lease | null> {
    return this.#locker.tryLock('tryLock', key, options);
  }

  acquire(key: string, options?: AcquireOptions): Promise<Lease> {
    return this.#locker.acquire('acquire', key, options);
  }

  withLock<T>(key: string, fn: (context: LockContext) => T | PromiseLike<T>, options?: WithLockOptions): Promise<T> {
    return this.#locker.withLock(key, fn, options);
  }

  stats(): LockStats {
    return this.#locker.stats();
  }
}

/**
 * Creates a lock: leases with fencing tokens, on memory (default), one Redis or a Redlock quorum.
 *
 * @example
 * ```ts
 * const lock = createLock({ name: 'jobs', ttlMs: 5_000 });
 * const lease = await lock.tryLock('nightly-report');
 * if (lease) {
 *   try { await run({ fence: lease.fence, signal: lease.signal }) } finally { await lease.release() }
 * }
 * ```
 */
export function createLock(options?: LockOptions): Lock {
  const o = readOptions<LockOptions>('createLock', options, KEYS);
  const locker = new Locker('createLock', o, undefined, 'lock');
  const lock = new LockImpl(locker);
  return lock;
}
