export { createBulkhead } from './bulkhead.js';
export type { Bulkhead, BulkheadPermit, BulkheadStats, BulkheadRejections } from './bulkhead.js';
export type { BulkheadOptions, BulkheadOrder } from './options.js';
export { BulkheadRejectedError } from './errors.js';
export type { BulkheadRejectReason, BulkheadErrorReason } from './errors.js';
export { createAdaptiveConcurrency } from './adaptive.js';
export type {
  AdaptiveConcurrency,
  AdaptiveConcurrencyOptions,
  AdaptiveConcurrencyStats,
  AdaptiveErrorKind,
  AdaptiveSample,
  AdaptiveTarget,
} from './adaptive.js';
export type {
  AdaptiveAlgorithm,
  AdaptiveChangeCause,
  AdaptiveLimitChangedEvent,
  BulkheadAdmittedEvent,
  BulkheadEvent,
  BulkheadLimitChangedEvent,
  BulkheadLoad,
  BulkheadQueuedEvent,
  BulkheadRejectedEvent,
} from './events.js';
