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
const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];
const TIME = '(\\d{2}):(\\d{2}):(\\d{2})';
const MONTH = '(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)';
/** The three HTTP-date forms of RFC 9110 §5.6.7, all in UTC; anything else is malformed. */
const IMF_FIXDATE = new RegExp(`^(?:mon|tue|wed|thu|fri|sat|sun), (\\d{2}) ${MONTH} (\\d{4}) ${TIME} gmt$`, 'i');
const RFC_850 = new RegExp(`^(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday), (\\d{2})-${MONTH}-(\\d{2}) ${TIME} gmt$`, 'i');
const ASCTIME = new RegExp(`^(?:mon|tue|wed|thu|fri|sat|sun) ${MONTH} ([ \\d]\\d) ${TIME} (\\d{4})$`, 'i');

/** Epoch ms of an HTTP-date, or NaN when `text` is not one (or names an impossible date). */
function parseHttpDate(text: string): number {
  let day: string, month: string, year: number, hh: string, mm: string, ss: string;
  let m = IMF_FIXDATE.exec(text);
  if (m !== null) {
    [, day = '', month = '', , hh = '', mm = '', ss = ''] = m;
    year = Number(m[3]);
  } else if ((m = RFC_850.exec(text)) !== null) {
    [, day = '', month = '', , hh = '', mm = '', ss = ''] = m;
    // Two-digit years: RFC 9110 reads one more than 50 years ahead as the past century.
    const yy = Number(m[3]);
    const thisYear = new Date().getUTCFullYear();
    year = 2000 + yy > thisYear + 50 ? 1900 + yy : 2000 + yy;
  } else if ((m = ASCTIME.exec(text)) !== null) {
    [, month = '', day = '', hh = '', mm = '', ss = ''] = m;
    year = Number(m[6]);
  } else {
    return NaN;
  }
  const monthIndex = MONTHS.indexOf(month.toLowerCase());
  const d = Number(day.trim());
  const at = Date.UTC(year, monthIndex, d, Number(hh), Number(mm), Number(ss));
  const check = new Date(at);
  // Date.UTC rolls 31 Feb over into March: such a date is malformed, not a different one.
  if (check.getUTCDate() !== d || check.getUTCMonth() !== monthIndex || Number(hh) > 23 || Number(mm) > 59 || Number(ss) > 60) return NaN;
  return at;
}

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
  // Digits beyond what a double holds are still a wait: a very long one (Infinity ends the retry).
  if (DELAY_SECONDS.test(text)) return Number(text) * 1000;
  const at = parseHttpDate(text);
  if (Number.isNaN(at)) return undefined;
  const ms = at - nowMs;
  return ms > 0 ? ms : 0;
}
