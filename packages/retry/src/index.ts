export { createRetry } from './retry.js';
export type { RetryOptions, RetryPolicy, RetryPolicyStats } from './retry.js';
export { constantBackoff, linearBackoff, exponentialBackoff, backoffDelays } from './backoff.js';
export type {
  Backoff,
  Jitter,
  SimpleJitter,
  DescribedBackoff,
  ConstantBackoffOptions,
  LinearBackoffOptions,
  ExponentialBackoffOptions,
} from './backoff.js';
export { createRetryBudget } from './budget.js';
export type { RetryBudget, RetryBudgetOptions, RetryBudgetSnapshot } from './budget.js';
export { permanent, retryable, isMarkedRetryable } from './marks.js';
export { isRetryableByDefault, matchesAny } from './classify.js';
export type { RetryPredicate, ErrorMatcher, ErrorClass } from './classify.js';
export { RetryExhaustedError, UnacceptableResultError } from './errors.js';
export type { RetryExhaustedReason } from './errors.js';
export { parseRetryAfter, retryAfterMsOf } from './retry-after.js';
export { retryPresets } from './presets.js';
export type { RetryPreset } from './presets.js';
export { retryStatsOf } from './stats.js';
export type { RetryStats, RetryResult } from './stats.js';
export type {
  RetryEvent,
  RetryGiveUpReason,
  RetryAttemptFailedEvent,
  RetryScheduledEvent,
  RetryGaveUpEvent,
  RetrySucceededEvent,
  RetryBudgetExhaustedEvent,
} from './events.js';
