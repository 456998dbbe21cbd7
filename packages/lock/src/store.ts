import type { LockFailureReason } from './errors.js';

/**
 * One store operation on one lease. `limit` is undefined for a lock (one holder) and the slot
 * count for a semaphore; the two never share state, even on the same key.
 */
export interface LockStoreRequest {
  /** The caller's key, unencoded (each store encodes it its own way). */
  readonly key: string;
  /** Unique per lease: only the holder that set it can extend or release it. */
  readonly token: string;
  /** Lease length, ms (acquire and extend). */
  readonly ttlMs: number;
  /** The lock's clock at the start of the operation (what memory stores expire by). */
  readonly now: number;
  /** Semaphore slots per key; undefined for a lock. */
  readonly limit: number | undefined;
}

/**
 * What one acquire attempt got: a grant with its fence, or the reason there was none.
 * `retryAfterMs` is the store's hint of when the holder's lease ends (a lock's remaining TTL).
 */
export type LockStoreGrant =
  | { readonly granted: true; readonly fence: number }
  | {
      readonly granted: false;
      readonly reason: LockFailureReason;
      readonly retryAfterMs?: number;
      /** Human-readable detail for the error message (which nodes failed, and how). */
      readonly detail?: string;
      /** The store error behind a `'store_unavailable'`. */
      readonly error?: unknown;
    };

/**
 * Outcome of an extend: `'extended'`, `'not_held'` (the store says the lease is not this
 * holder's any more: final) or `'unavailable'` (no answer: the lease may still be held until its
 * validity ends; the caller may try again).
 */
export type LockStoreExtend = 'extended' | 'not_held' | 'unavailable';

/**
 * Outcome of a release: `'released'` (the store removed this holder's lease), `'expired'` (it was
 * no longer there) or `'unavailable'` (no answer: it expires by itself at its TTL).
 */
export type LockStoreRelease = 'released' | 'expired' | 'unavailable';

/**
 * Where leases live. `memoryLockStore()` (one process), `redisLockStore(redis)` (one Redis or a
 * Cluster) and `redlockStore([...])` (a quorum of independent Redis servers) implement it; so can
 * anything else that grants leases atomically. Methods may answer synchronously (the memory store
 * does, so an uncontended lock costs no extra await) and must never throw or reject: a failure is
 * an `'unavailable'` answer.
 *
 * Fences: every grant on a key carries a number strictly greater than any earlier grant's fence
 * on that key, across holders and processes, within the store's guarantee (see each store).
 */
export interface LockStore {
  /** `'memory'`, `'redis'` or `'redlock'`; informational. */
  readonly kind: string;
  /**
   * How much of a lease's TTL to give up for clock drift between this process and the store, ms.
   * The lease is valid until `start + ttlMs − drift(ttlMs)`, where `start` is read before the
   * grant was asked for.
   */
  drift(ttlMs: number): number;
  acquire(request: LockStoreRequest): LockStoreGrant | Promise<LockStoreGrant>;
  extend(request: LockStoreRequest): LockStoreExtend | Promise<LockStoreExtend>;
  release(request: LockStoreRequest): LockStoreRelease | Promise<LockStoreRelease>;
}
