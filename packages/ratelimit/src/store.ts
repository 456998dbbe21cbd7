import type { Op } from './algorithms.js';
import type { RateLimitRule } from './rule.js';

/**
 * What a store-backed limiter does when its store fails or exceeds its deadline:
 * - `'open'`: admit (availability first; the limit is not enforced while the store is down);
 * - `'closed'`: reject with `reason: 'store_unavailable'` (protection first);
 * - `'local'`: decide with an in-memory limiter whose limit and burst are divided by the store's
 *   `instances` (approximate, but still limits).
 */
export type StoreErrorMode = 'open' | 'closed' | 'local';

/** One decision a limiter asks its store for. */
export interface StoreRequest {
  /** The limiter's name: stores keep each limiter's keys apart. */
  readonly scope: string;
  readonly key: string;
  /** The rule to apply (parameters travel with every call, so `setLimit` takes effect at once). */
  readonly rule: RateLimitRule;
  readonly cost: number;
  /**
   * For GCRA and token bucket: admit by reserving capacity that frees up within this many ms
   * (what `acquire` does). 0 for `limit()`.
   */
  readonly maxWaitMs: number;
  /** 0 = consume, 1 = peek (no state change), 2 = refund `cost` (GCRA and token bucket). */
  readonly op: Op;
  /**
   * For a refund: the `reservation` of the admission being given back. The store gives capacity
   * back only while that admission is still the last one on the key's schedule (nothing was
   * consumed after it); otherwise, or without a reservation, a refund changes nothing. Giving
   * back a slot with reservations behind it would let a newcomer share a waiter's slot.
   */
  readonly reservation?: number | undefined;
}

/** A store's answer to a {@link StoreRequest}. */
export interface StoreVerdict {
  readonly allowed: boolean;
  readonly remaining: number;
  readonly retryAfterMs: number;
  readonly resetAfterMs: number;
  /** ms to wait before using a reservation made under `maxWaitMs` (0 otherwise). */
  readonly waitMs: number;
  /** Set when the store was unavailable and this verdict came from the `onStoreError` mode. */
  readonly degraded: StoreErrorMode | undefined;
  /**
   * For an admission that consumed (GCRA and token bucket): where it ends on the key's schedule,
   * in the store's own time base. An opaque token: a refund passes it back (see
   * {@link StoreRequest.reservation}).
   */
  readonly reservation?: number | undefined;
  /**
   * The store's clock when it decided (epoch ms), when it has one (Redis: its `TIME`). One
   * timeline for every process: what audits and accuracy checks order admissions by.
   */
  readonly storeTimeMs?: number;
}

/**
 * Where a limiter keeps its state when it is shared between processes. `redisStore` from
 * `@x/ratelimit/redis` is the implementation this package ships; another one must apply each
 * request atomically and never reject (failures are answered per its own `onStoreError`).
 *
 * @example
 * ```ts
 * import { redisStore } from '@x/ratelimit/redis';
 * const limiter = createRateLimiter({ name: 'api', limit: 100, periodMs: 60_000, store: redisStore(redis) });
 * ```
 */
export interface RateLimitStore {
  /** Applies one request atomically. Must resolve (never reject), within the store's deadline. */
  apply(request: StoreRequest): Promise<StoreVerdict>;
  /** Forgets a key's state. May reject when the store is unavailable. */
  reset(scope: string, key: string): Promise<void>;
}
