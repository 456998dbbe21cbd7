export { createDeadLetterQueue, defaultShouldDeadLetter } from './queue.js';
export type {
  AddOptions,
  CloseOptions,
  DeadLetterQueue,
  DeadLetterQueueOptions,
  DeadLetterSink,
  DeadLetterStats,
  DeadLetterTotals,
  ListOptions,
  ListPage,
  ProcessContext,
  RedriveOptions,
  RedriveResult,
  WrapOptions,
} from './queue.js';
export { memoryDlqStore } from './memory-store.js';
export { exponentialJitterBackoff } from './backoff.js';
export type { DeadLetterBackoff, ExponentialJitterBackoffOptions } from './backoff.js';
export {
  DeadLetterInvalidItemError,
  DeadLetterQueueClosedError,
  DeadLetterQueueFullError,
  DeadLetterStoreUnavailableError,
  PermanentFailureError,
} from './errors.js';
export type * from './events.js';
export type {
  ClaimResult,
  ClaimedEntry,
  DeadLetterRecord,
  DeadLetterState,
  DeadLetterStore,
  FailureInfo,
  OverflowPolicy,
  QueueStore,
  RecordDoc,
  StoreAddOutcome,
  StoreContext,
  StoreSizes,
  StoredEntry,
  StoredPage,
} from './types.js';
