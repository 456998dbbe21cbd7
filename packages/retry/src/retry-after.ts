/**
 * The `retryAfterMs` an error carries (`RATE_LIMITED`, `BREAKER_OPEN` and any user error with that
 * field), when it is a number >= 0; otherwise undefined.
 *
 * @example
 * ```ts
 * retryAfterMsOf(limiterError) // 1200
 * ```
 */
export function retryAfterMsOf(error: unknown): number | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  return validRetryAfter((error as { retryAfterMs?: unknown }).retryAfterMs);
}

/** A usable Retry-After: a number >= 0 (Infinity allowed: "not before the end of time"). @internal */
export function validRetryAfter(value: unknown): number | undefined {
  return typeof value === 'number' && value >= 0 ? value : undefined;
}

const DELAY_SECONDS = /^\d+$/;
/** All three HTTP-date forms (IMF-fixdate, RFC 850, asctime) start with the day name. */
const HTTP_DATE = /^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)/i;

/**
 * Parses an HTTP `Retry-After` header (RFC 9110): delay-seconds (`"120"`) or an HTTP-date
 * (`"Wed, 21 Oct 2026 07:28:00 GMT"`). Returns milliseconds to wait (0 for a date in the past),
 * or undefined when the header is missing or malformed. Dates are compared with `nowMs`, which
 * defaults to the wall clock (`Date.now()`), because the server's date is wall-clock time.
 *
 * @example
 * ```ts
 * const retry = createRetry({
 *   retryAfter: (e) => (e instanceof HttpError && (e.status === 429 || e.status === 503)
 *     ? parseRetryAfter(e.headers.get('retry-after'))
 *     : undefined),
 * });
 * ```
 */
export function parseRetryAfter(header: string | null | undefined, nowMs: number = Date.now()): number | undefined {
  if (typeof header !== 'string') return undefined;
  const text = header.trim();
  if (text.length === 0) return undefined;
  if (DELAY_SECONDS.test(text)) {
    const ms = Number(text) * 1000;
    return Number.isFinite(ms) ? ms : undefined;
  }
  if (!HTTP_DATE.test(text)) return undefined;
  const at = Date.parse(text);
  if (Number.isNaN(at)) return undefined;
  const ms = at - nowMs;
  return ms > 0 ? ms : 0;
}
