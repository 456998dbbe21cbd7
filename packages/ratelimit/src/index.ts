export { createRateLimiter } from './limiter.js';
export type {
  AcquireOptions,
  AnyRateLimiter,
  LimitOptions,
  RateLimiter,
  RateLimiterBase,
  RateLimiterOptions,
  RateLimiterStats,
  StoreRateLimiter,
} from './limiter.js';
export type { RateLimitDecision } from './decision.js';
export type { RateLimitPolicyOptions } from './policy.js';
export type { RateLimitAlgorithm, RateLimitRule } from './rule.js';
export { RateLimitedError, RateLimitStoreUnavailableError } from './errors.js';
export { rateLimitHeaders } from './headers.js';
export { createAdaptiveRateLimiter } from './adaptive.js';
export type { AdaptiveRateLimiter, AdaptiveRateLimiterOptions, LimitChangeReason } from './adaptive.js';
export type { RateLimitHeaderOptions, RateLimitHeaders } from './headers.js';
export type { RateLimitStore, StoreErrorMode, StoreRequest, StoreVerdict } from './store.js';
export type {
  RateLimitAllowedEvent,
  RateLimitEvent,
  RateLimitKeysEvictedEvent,
  RateLimitLimitChangedEvent,
  RateLimitRejectReason,
  RateLimitRejectedEvent,
  RateLimitStoreDegradedEvent,
  RateLimitStoreErrorEvent,
  RateLimitStoreRecoveredEvent,
} from './events.js';
