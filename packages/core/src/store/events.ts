/**
 * Fields of a `<source>.store_error` event: one store call failed or missed its deadline, and the
 * package answered without the store (per its fail mode). Each package declares its own event type
 * with these fields, e.g. `'lock.store_error'`.
 *
 * @example
 * ```ts
 * export interface LockStoreErrorEvent extends BaseEvent, StoreErrorPayload {
 *   readonly type: 'lock.store_error';
 *   readonly source: 'lock';
 * }
 * ```
 */
export interface StoreErrorPayload {
  /** What failed: the client's error, or a `STORE_UNAVAILABLE` error for a deadline or a down connection. */
  readonly error: unknown;
  /** True when the call missed its deadline. */
  readonly timedOut: boolean;
  /**
   * Consecutive failures counted so far. Calls that were in flight together when they failed (one
   * stall, one dropped connection) count once.
   */
  readonly consecutiveFailures: number;
}

/**
 * Fields of a `<source>.store_degraded` event: after `failureThreshold` consecutive failures the
 * store is skipped for `cooldownMs`, and every call is answered per the fail mode at in-memory cost.
 *
 * @example
 * ```ts
 * bus.on('ratelimit.store_degraded', (e) => log.warn(`redis skipped for ${e.cooldownMs} ms (${e.mode})`));
 * ```
 */
export interface StoreDegradedPayload {
  /** The fail mode answering while the store is skipped (package-specific, e.g. `'local'`). */
  readonly mode: string;
  readonly consecutiveFailures: number;
  /** How long until one call probes the store again. */
  readonly cooldownMs: number;
}

/**
 * Fields of a `<source>.store_recovered` event: a probe succeeded and calls go to the store again.
 *
 * @example
 * ```ts
 * bus.on('ratelimit.store_recovered', (e) => log.info(`redis back after ${e.degradedForMs} ms`));
 * ```
 */
export interface StoreRecoveredPayload {
  readonly mode: string;
  /** How long the store was skipped. */
  readonly degradedForMs: number;
}
