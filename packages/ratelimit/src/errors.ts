import { XError, stacklessPrototype } from '@x/core';
import type { Writable } from '@x/core';

/**
 * A request was not admitted (`code: 'RATE_LIMITED'`): `acquire` or a limiter policy would have
 * had to wait longer than its `maxWaitMs` (or past the caller's deadline). `retryAfterMs` says
 * when the same request would be admitted if nothing else consumed capacity first.
 *
 * Built without a stack trace: it is an expected outcome on a hot path, not a bug.
 *
 * @example
 * ```ts
 * try {
 *   await limiter.acquire(userId, { maxWaitMs: 200 });
 * } catch (error) {
 *   if (isXError(error, 'RATE_LIMITED')) res.setHeader('Retry-After', Math.ceil(error.retryAfterMs / 1000));
 * }
 * ```
 */
export class RateLimitedError extends XError<'RATE_LIMITED'> {
  override name = 'RateLimitedError';
  /** The limiter's name. */
  readonly limiter: string;
  /** Milliseconds until the request would be admitted. */
  readonly retryAfterMs: number;
  /** True when the limiter was answering without its store (`onStoreError: 'closed'`). */
  readonly storeUnavailable: boolean;

  constructor(limiter: string, retryAfterMs: number, storeUnavailable = false) {
    super('RATE_LIMITED', limitedMessage(limiter, retryAfterMs, storeUnavailable));
    this.limiter = limiter;
    this.retryAfterMs = retryAfterMs;
    this.storeUnavailable = storeUnavailable;
  }
}

function limitedMessage(limiter: string, retryAfterMs: number, storeUnavailable: boolean): string {
  return storeUnavailable
    ? `rate limiter "${limiter}" rejected the request: its store is unavailable (retry in ${formatMs(retryAfterMs)} ms)`
    : `rate limiter "${limiter}" rejected the request (retry in ${formatMs(retryAfterMs)} ms)`;
}

// Prepared on first use (see core's `stacklessPrototype`).
let limitedPrototype: RateLimitedError | undefined;

/**
 * A {@link RateLimitedError} built without running the `Error` constructor, so a rejection costs
 * less than the decision that made it. `message` and `stack` are computed from the fields when read.
 *
 * @example
 * ```ts
 * return { ok: false, error: rateLimitRejection('api', 250, false) };
 * ```
 */
export function rateLimitRejection(limiter: string, retryAfterMs: number, storeUnavailable: boolean): RateLimitedError {
  limitedPrototype ??= stacklessPrototype(RateLimitedError, 'RateLimitedError', (e) =>
    limitedMessage(e.limiter, e.retryAfterMs, e.storeUnavailable),
  );
  const error = Object.create(limitedPrototype) as Writable<RateLimitedError>;
  error.code = 'RATE_LIMITED';
  error.limiter = limiter;
  error.retryAfterMs = retryAfterMs;
  error.storeUnavailable = storeUnavailable;
  return error;
}

/**
 * A store call that did not produce an answer: it exceeded the store's `timeoutMs`, or the
 * connection was not ready so the call was not even sent (`code: 'RATELIMIT_STORE_UNAVAILABLE'`).
 * It never reaches callers of `limit()`: it is what `ratelimit.store_error` events carry, while the
 * decision comes from the store's `onStoreError` mode.
 *
 * @example
 * ```ts
 * events.on('ratelimit.store_error', (e) => {
 *   if (isXError(e.error, 'RATELIMIT_STORE_UNAVAILABLE') && e.error.timedOut) slowRedis.inc();
 * });
 * ```
 */
export class RateLimitStoreUnavailableError extends XError<'RATELIMIT_STORE_UNAVAILABLE'> {
  override name = 'RateLimitStoreUnavailableError';
  /** True when the call was sent and exceeded `timeoutMs`; false when it was not sent. */
  readonly timedOut: boolean;

  constructor(message: string, timedOut: boolean) {
    super('RATELIMIT_STORE_UNAVAILABLE', message);
    this.timedOut = timedOut;
  }
}

function formatMs(ms: number): string {
  return ms === Infinity ? 'never' : String(Math.ceil(ms));
}

declare module '@x/core' {
  interface XErrorMap {
    RATE_LIMITED: RateLimitedError;
    RATELIMIT_STORE_UNAVAILABLE: RateLimitStoreUnavailableError;
  }
}
