import { isXError } from '@x/core';

/**
 * Decides whether a failure is worth another attempt; `attempt` is the one that failed (1 = first call).
 *
 * @example
 * ```ts
 * const retryOn: RetryPredicate = (error, attempt) => error instanceof HttpError && error.status >= 500;
 * ```
 */
export type RetryPredicate = (error: unknown, attempt: number) => boolean;

/**
 * Any class: matched with `instanceof`.
 *
 * @example
 * ```ts
 * createRetry({ retryOn: [NetworkError] }); // NetworkError is an ErrorClass
 * ```
 */
export type ErrorClass = abstract new (...args: never[]) => unknown;

/**
 * One entry of a `retryOn` list: a string matches an error whose `code` or `name` equals it
 * (`'ECONNRESET'`, `'TIMEOUT'`, `'TimeoutError'`); a class matches with `instanceof`.
 *
 * @example
 * ```ts
 * createRetry({ retryOn: ['ECONNRESET', 'ETIMEDOUT', 'TimeoutError', NetworkError] });
 * ```
 */
export type ErrorMatcher = string | ErrorClass;

/** How deep `cause` chains are followed (fetch wraps `ECONNRESET` in a `TypeError`'s cause). */
const MAX_CAUSE_DEPTH = 8;

function matchesOne(error: unknown, matcher: ErrorMatcher): boolean {
  if (typeof matcher === 'string') {
    if (typeof error !== 'object' || error === null) return false;
    const { code, name } = error as { code?: unknown; name?: unknown };
    return code === matcher || name === matcher;
  }
  return error instanceof (matcher as unknown as new () => unknown);
}

/**
 * True when `error`, or an error in its `cause` chain, matches one of `matchers`.
 *
 * @example
 * ```ts
 * matchesAny(new TypeError('fetch failed', { cause: { code: 'ECONNRESET' } }), ['ECONNRESET']) // true
 * ```
 */
export function matchesAny(error: unknown, matchers: readonly ErrorMatcher[]): boolean {
  let current = error;
  for (let depth = 0; depth <= MAX_CAUSE_DEPTH; depth++) {
    for (let i = 0; i < matchers.length; i++) {
      if (matchesOne(current, matchers[i] as ErrorMatcher)) return true;
    }
    if (typeof current !== 'object' || current === null) return false;
    const cause = (current as { cause?: unknown }).cause;
    if (cause === undefined || cause === current) return false;
    current = cause;
  }
  return false;
}

/**
 * The classification used when no `retryOn` is given: every failure is retried except errors
 * named `AbortError` (somebody cancelled the work), `INVALID_OPTIONS` (a configuration bug never
 * heals) and `RETRY_EXHAUSTED` (an inner retry already gave up; retrying it again multiplies the
 * load).
 *
 * @example
 * ```ts
 * createRetry({ retryOn: (e, attempt) => isRetryableByDefault(e) && !(e instanceof ValidationError) });
 * ```
 */
export function isRetryableByDefault(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return true;
  if ((error as { name?: unknown }).name === 'AbortError') return false;
  if (isXError(error)) {
    const code = error.code;
    if (code === 'INVALID_OPTIONS' || code === 'RETRY_EXHAUSTED') return false;
  }
  return true;
}

/** `BREAKER_OPEN`, whichever copy of core or breaker made it. @internal */
export function isBreakerOpen(error: unknown): boolean {
  return isXError(error) && error.code === 'BREAKER_OPEN';
}
