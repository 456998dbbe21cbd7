import type { RateLimitDecision } from './decision.js';

/** Options of {@link rateLimitHeaders}. */
export interface RateLimitHeaderOptions {
  /** The quota policy identifier in both fields. Default: the limiter's name. */
  readonly policy?: string | undefined;
  /**
   * Adds the `pk` (partition key) parameter, so a client can tell which of its quotas this is
   * (e.g. a hashed API key). Sent as the base64 of its UTF-8 bytes; never put secrets here.
   */
  readonly partitionKey?: string | undefined;
}

/** The fields {@link rateLimitHeaders} returns. `Retry-After` is present only on rejections. */
export interface RateLimitHeaders {
  readonly 'RateLimit-Policy': string;
  readonly RateLimit: string;
  readonly 'Retry-After'?: string;
}

/** A Structured Fields string: printable ASCII, with `"` and `\` escaped. */
function sfString(value: string): string {
  let out = '"';
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 0x22 || c === 0x5c) out += `\\${value[i]}`;
    else if (c >= 0x20 && c <= 0x7e) out += value[i];
    else out += '_';
  }
  return `${out}"`;
}

/** A Structured Fields byte sequence (`:base64:`) of the UTF-8 bytes of `value`. */
function sfBytes(value: string): string {
  const bytes = new TextEncoder().encode(value);
  let binary = '';
  for (let i = 0; i < bytes.length; i++) binary += String.fromCharCode(bytes[i] as number);
  return `:${btoa(binary)}:`;
}

/**
 * The HTTP response fields of the IETF RateLimit draft (draft-ietf-httpapi-ratelimit-headers):
 * `RateLimit-Policy` (`"name";q=<quota>;w=<window seconds>`), `RateLimit`
 * (`"name";r=<remaining>;t=<seconds until reset>`), plus `Retry-After` (seconds) on a rejection.
 *
 * The window is advertised in whole seconds: a `periodMs` that is not a multiple of 1000 is
 * rounded up and the quota scaled down to match, so the advertised rate never exceeds the real one
 * (5 per 1500 ms is advertised as `q=6;w=2`). Seconds are rounded up, so a client that waits
 * `Retry-After` is admitted.
 *
 * @example
 * ```ts
 * const decision = limiter.limit(ip);
 * for (const [field, value] of Object.entries(rateLimitHeaders(decision))) res.setHeader(field, value);
 * if (!decision.allowed) return res.writeHead(429).end();
 * // RateLimit-Policy: "api";q=100;w=60
 * // RateLimit: "api";r=0;t=1
 * // Retry-After: 1
 * ```
 */
export function rateLimitHeaders(decision: RateLimitDecision, options: RateLimitHeaderOptions = {}): RateLimitHeaders {
  const { rule } = decision;
  const id = sfString(options.policy ?? rule.name);
  const pk = options.partitionKey === undefined ? '' : `;pk=${sfBytes(options.partitionKey)}`;
  const window = Math.ceil(rule.periodMs / 1000);
  const quota = rule.periodMs === window * 1000 ? rule.limit : Math.floor((rule.limit * window * 1000) / rule.periodMs);
  const reset = Math.ceil(Math.max(0, decision.resetAfterMs) / 1000);
  const policyField = `${id};q=${quota};w=${window}${pk}`;
  const limitField = `${id};r=${Math.max(0, Math.floor(decision.remaining))};t=${reset}${pk}`;
  if (decision.allowed || !Number.isFinite(decision.retryAfterMs)) {
    return { 'RateLimit-Policy': policyField, RateLimit: limitField };
  }
  return {
    'RateLimit-Policy': policyField,
    RateLimit: limitField,
    'Retry-After': String(Math.max(1, Math.ceil(decision.retryAfterMs / 1000))),
  };
}
