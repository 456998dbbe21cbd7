import type { RateLimitRule } from './rule.js';
import type { StoreErrorMode } from './store.js';

/**
 * The answer to one request. Immutable; `limit()` returns a new one per call.
 *
 * @example
 * ```ts
 * const d = limiter.limit(ip);
 * if (!d.allowed) return reply(429, { retryAfterMs: d.retryAfterMs });
 * ```
 */
export interface RateLimitDecision {
  /** Whether the request was admitted (and its cost consumed). A rejection consumes nothing. */
  readonly allowed: boolean;
  /** The rule's `limit`: cost units per `rule.periodMs`. */
  readonly limit: number;
  /** Cost units that would still be admitted at once, after this request. */
  readonly remaining: number;
  /** For a rejection, ms until the same request would be admitted; 0 when admitted. */
  readonly retryAfterMs: number;
  /** ms until the key is back to its fresh state (full burst, empty windows). */
  readonly resetAfterMs: number;
  /** The rule the decision was made under. */
  readonly rule: RateLimitRule;
  /** Set when the store was unavailable and the decision came from its `onStoreError` mode. */
  readonly degraded: StoreErrorMode | undefined;
}

/**
 * The one class every decision is an instance of (a single shape keeps callers monomorphic).
 *
 * @example
 * ```ts
 * const decision = new Decision(true, 9, 0, 100, rule, undefined);
 * ```
 */
export class Decision implements RateLimitDecision {
  readonly allowed: boolean;
  readonly limit: number;
  readonly remaining: number;
  readonly retryAfterMs: number;
  readonly resetAfterMs: number;
  readonly rule: RateLimitRule;
  readonly degraded: StoreErrorMode | undefined;

  constructor(
    allowed: boolean,
    remaining: number,
    retryAfterMs: number,
    resetAfterMs: number,
    rule: RateLimitRule,
    degraded: StoreErrorMode | undefined,
  ) {
    this.allowed = allowed;
    this.limit = rule.limit;
    this.remaining = remaining;
    this.retryAfterMs = retryAfterMs;
    this.resetAfterMs = resetAfterMs;
    this.rule = rule;
    this.degraded = degraded;
  }
}
