export { createLock } from './lock.js';
export type { Lock, LockOptions } from './lock.js';
export { createSemaphore } from './semaphore.js';
export type { Semaphore, SemaphoreOptions } from './semaphore.js';
export type { AcquireOptions, LockContext, LockRetryOptions, LockStats, TryLockOptions, WithLockOptions } from './locker.js';
export type { Lease, ReleaseResult } from './lease.js';
export { memoryLockStore } from './memory-store.js';
export type { LockStore, LockStoreExtend, LockStoreGrant, LockStoreRelease, LockStoreRequest } from './store.js';
export { LockLostError, LockNotAcquiredError } from './errors.js';
export type { LockFailureReason, LockLostReason } from './errors.js';
export type {
  LockAcquiredEvent,
  LockContendedEvent,
  LockEvent,
  LockExtendedEvent,
  LockLostEvent,
  LockReleasedEvent,
  LockStoreDegradedEvent,
  LockStoreErrorEvent,
  LockStoreRecoveredEvent,
} from './events.js';
