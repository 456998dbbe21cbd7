export { createTimeout } from './timeout.js';
export type { TimeoutOptions, TimeoutPolicy, TimeoutStats } from './timeout.js';
export { TimeoutError } from './errors.js';
export type { TimeoutErrorDetails, TimeoutStrategy } from './errors.js';
export type {
  TimeoutAbandonedEvent,
  TimeoutAbandonedSettledEvent,
  TimeoutEvent,
  TimeoutTimedOutEvent,
} from './events.js';
