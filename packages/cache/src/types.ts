/**
 * The small interfaces `@x/cache` takes its collaborators through. `@x/lock`, `@x/bloom` and
 * `@x/dlq` satisfy them, and so does anything else with the same shape: the cache depends on
 * `@x/core` alone.
 */

/** Deadline and cancellation handed to every L2 call. */
export interface StoreCallOptions {
  /** Aborts when the caller or the store policy gives up. */
  readonly signal?: AbortSignal | undefined;
  /** Absolute time (the cache clock's ms) by which the call must settle. */
  readonly deadline?: number | undefined;
}

/** One write to an L2 store: the encoded entry and how long the store should keep it. */
export interface StoreWrite {
  readonly key: string;
  /** The entry envelope, as {@link encodeEntry} made it. */
  readonly value: string;
  /** Physical lifetime in ms (the entry's TTL plus its grace): integer >= 1. */
  readonly ttlMs: number;
}

/**
 * A second-tier (shared) store. Values are encoded entry envelopes (strings); every method
 * rejects when the store fails, so a store policy (retry, breaker) sees the failure.
 * `redisCacheStore` implements it on Redis; `memoryCacheStore` in memory (tests, one process).
 *
 * @example
 * ```ts
 * const l2: CacheStore = redisCacheStore(redis, { prefix: 'users' });
 * const cache = createCache<User>({ name: 'users', l2 });
 * ```
 */
export interface CacheStore {
  /** For events and errors. */
  readonly name: string;
  /** The encoded entries, `undefined` where absent, in the order of `keys`. */
  get(keys: readonly string[], options?: StoreCallOptions): Promise<(string | undefined)[]>;
  set(writes: readonly StoreWrite[], options?: StoreCallOptions): Promise<void>;
  delete(keys: readonly string[], options?: StoreCallOptions): Promise<void>;
  /** Forgets every entry at once (a namespace version bump; never `KEYS`/`SCAN`). */
  clear(options?: StoreCallOptions): Promise<void>;
  /** Another process cleared the namespace: re-read the version before the next call. */
  namespaceChanged?(): void;
}

/**
 * A granted lock. `@x/lock`'s `Lease` is one.
 *
 * @example
 * ```ts
 * const lease = await cache.tryLock('report:2026');
 * if (lease) try { await build() } finally { await lease.release() }
 * ```
 */
export interface CacheLease {
  release(): Promise<unknown>;
  /**
   * Extends the lease to `ms` from now (optional; `@x/lock`'s leases have it). While a loader runs
   * the cache calls it every third of `lockTtlMs`, so a loader slower than the lease cannot let
   * another process take the lock and load too.
   */
  extend?(ms?: number): Promise<unknown>;
  /** Aborts when the lease is lost (optional). */
  readonly signal?: AbortSignal;
}

/**
 * What the cache needs from a distributed lock: one attempt that returns a lease or `null` when
 * another holder has the key. `createLock()` from `@x/lock` (memory, Redis or Redlock store) fits.
 *
 * @example
 * ```ts
 * const cache = createCache({ l2, lock: createLock({ store: redisLockStore(redis) }) });
 * ```
 */
export interface CacheLock {
  tryLock(key: string, options?: { ttlMs?: number }): Promise<CacheLease | null>;
}

/**
 * A membership filter over the keys that exist in the source of truth: `has(key) === false`
 * means "definitely absent", so the loader is skipped. Writers add keys that exist (the cache adds
 * every key it stores a value for when `add` exists). `@x/bloom`'s filters fit, sync or async.
 *
 * @example
 * ```ts
 * const filter = createBloomFilter({ expectedItems: 1e6, falsePositiveRate: 0.01 });
 * const cache = createCache({ filter });
 * ```
 */
export interface MembershipFilter {
  has(key: string): boolean | PromiseLike<boolean>;
  add?(key: string): unknown;
}

/** Metadata the cache hands to a dead-letter sink with each failed write. */
export interface DeadLetterMeta {
  readonly error: unknown;
  readonly key: string;
  readonly source: string;
}

/**
 * Where failed write-behind writes go. `@x/dlq`'s `DeadLetterQueue` is one (its `add(item, { error, key, source })`).
 *
 * @example
 * ```ts
 * const cache = createCache({ writeBehind: { deadLetter: createDeadLetterQueue({ name: 'user-writes', process: save }) } });
 * ```
 */
export interface DeadLetterSinkLike<T = unknown> {
  add(item: { readonly key: string; readonly value: T }, meta: DeadLetterMeta): unknown;
}

/** Extra facts passed with an invalidation. */
export interface InvalidationInfo {
  /** Messages may have been lost: treat every locally cached entry as stale. */
  readonly resync?: 'gap' | 'reconnect' | undefined;
  /** The namespace was cleared. */
  readonly clear?: boolean | undefined;
}

/** Receives invalidations from other processes. With `info.resync` or `info.clear`, `keys` is empty and everything is concerned. */
export type InvalidationHandler = (keys: readonly string[], info: InvalidationInfo) => void;

/**
 * Carries "these keys changed" between processes (keys only, never values).
 * `createInvalidationBus` from `@x/cache/redis` implements it on Redis pub/sub;
 * `createMemoryInvalidationBus` in one process.
 *
 * @example
 * ```ts
 * const bus = createInvalidationBus(subscriber, publisher, { channel: 'users:invalidate' });
 * const close = bus.subscribeInvalidations((keys) => console.log('changed', keys));
 * ```
 */
export interface InvalidationBus {
  /** Tells the other subscribers these keys changed. Resolves false when the message could not be sent; never rejects. */
  publishInvalidation(...keys: string[]): Promise<boolean>;
  /** Tells the other subscribers the namespace was cleared. */
  publishClear?(): Promise<boolean>;
  /** Starts receiving; returns the function that stops. Messages from this bus itself are not delivered. */
  subscribeInvalidations(handler: InvalidationHandler): () => void;
}

/**
 * Turns values into the strings an L2 store keeps, and back. Default: JSON.
 *
 * @example
 * ```ts
 * const serializer: CacheSerializer<Date> = { serialize: (d) => d.toISOString(), deserialize: (s) => new Date(s) };
 * ```
 */
export interface CacheSerializer<T> {
  serialize(value: T): string;
  deserialize(text: string): T;
}
