export { createBreaker } from './breaker.js';
export { createBreakerGroup } from './group.js';
export type { BreakerGroup, BreakerGroupDefaults, BreakerGroupOptions } from './group.js';
export { breakerPresets } from './presets.js';
export type { BreakerPreset, BreakerPresets } from './presets.js';
export { BreakerOpenError, BreakerProbeTimeoutError, BreakerTooManyCallsError } from './errors.js';
export type { BreakerOpenReason, BreakerRejectingState } from './errors.js';
export type { BreakerOptions, BreakerReconfigureOptions, BreakerWindow } from './options.js';
export type {
  Breaker,
  BreakerCounts,
  BreakerIsolation,
  BreakerOpenInfo,
  BreakerPermit,
  BreakerSnapshot,
  BreakerState,
  BreakerStats,
  BreakerTotals,
  BreakerWindowSnapshot,
  WaitUntilReadyOptions,
} from './types.js';
export type {
  BreakerEvent,
  BreakerFailureEvent,
  BreakerIgnoredEvent,
  BreakerIgnoreReason,
  BreakerRejectedEvent,
  BreakerRejectionReason,
  BreakerStateChangeEvent,
  BreakerSuccessEvent,
  BreakerTransitionReason,
} from './events.js';
