import { XError } from '@x/core';

/**
 * A `getOrSet` gave up (`code: 'CACHE_TIMEOUT'`): the loader ran past `hardTimeoutMs`, or, with a
 * lock, the process holding the load did not fill the cache within `lockWaitMs`. A graced value,
 * when there is one, is served instead of this error. The load itself goes on: a late value is
 * still cached.
 *
 * @example
 * ```ts
 * try { await cache.getOrSet(key, load, { hardTimeoutMs: 2_000 }) }
 * catch (e) { if (isXError(e, 'CACHE_TIMEOUT')) return res.status(503).end() }
 * ```
 */
export class CacheTimeoutError extends XError<'CACHE_TIMEOUT'> {
  override name = 'CacheTimeoutError';
  /** The cache's name. */
  readonly cache: string;
  /** What ran out: the loader's `hardTimeoutMs`, or the wait for another process's load. */
  readonly phase: 'load' | 'lock_wait';
  /** The limit that was reached, ms. */
  readonly timeoutMs: number;

  constructor(cache: string, phase: 'load' | 'lock_wait', timeoutMs: number) {
    super(
      'CACHE_TIMEOUT',
      phase === 'load'
        ? `cache "${cache}": the loader did not finish within hardTimeoutMs (${timeoutMs} ms)`
        : `cache "${cache}": another process held the load and did not fill the cache within lockWaitMs (${timeoutMs} ms)`,
    );
    this.cache = cache;
    this.phase = phase;
    this.timeoutMs = timeoutMs;
  }
}

/**
 * The second-tier store failed and the cache was asked to say so (`onStoreError: 'throw'`;
 * `code: 'CACHE_STORE_ERROR'`). With the default (`'fallback'`) a read never throws this: it
 * answers from L1 or the loader. `cause` is what the store (or the store policy) failed with.
 *
 * @example
 * ```ts
 * const cache = createCache({ l2, onStoreError: 'throw' });
 * try { await cache.get('k') } catch (e) { if (isXError(e, 'CACHE_STORE_ERROR')) alert(e.cause) }
 * ```
 */
export class CacheStoreError extends XError<'CACHE_STORE_ERROR'> {
  override name = 'CacheStoreError';
  readonly cache: string;
  readonly operation: string;

  constructor(cache: string, operation: string, cause: unknown) {
    super('CACHE_STORE_ERROR', `cache "${cache}": the L2 store failed during ${operation}`, { cause });
    this.cache = cache;
    this.operation = operation;
  }
}

/**
 * `writeBehind` refused a write (`code: 'CACHE_WRITE_QUEUE_FULL'`): `maxPending` keys already
 * wait for their write to the source, or the cache is closed (`closed: true`). Nothing was changed:
 * neither the cache nor the queue.
 *
 * @example
 * ```ts
 * try { await cache.writeBehind(key, user, saveUser) }
 * catch (e) { if (isXError(e, 'CACHE_WRITE_QUEUE_FULL')) await saveUser(user) }
 * ```
 */
export class CacheWriteQueueFullError extends XError<'CACHE_WRITE_QUEUE_FULL'> {
  override name = 'CacheWriteQueueFullError';
  readonly cache: string;
  /** True when the write was refused because the cache is closing or closed. */
  readonly closed: boolean;

  constructor(cache: string, maxPending: number, closed: boolean) {
    super(
      'CACHE_WRITE_QUEUE_FULL',
      closed
        ? `cache "${cache}": closed; writeBehind takes no more writes`
        : `cache "${cache}": ${maxPending} keys already wait for write-behind (maxPending)`,
    );
    this.cache = cache;
    this.closed = closed;
  }
}

declare module '@x/core' {
  interface XErrorMap {
    CACHE_TIMEOUT: CacheTimeoutError;
    CACHE_STORE_ERROR: CacheStoreError;
    CACHE_WRITE_QUEUE_FULL: CacheWriteQueueFullError;
  }
}
