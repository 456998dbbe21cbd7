export { createCache } from './cache.js';
export type {
  Cache,
  CacheEntry,
  CacheOptions,
  CacheStats,
  GetOrSetOptions,
  L1Options,
  L2WriteQueueOptions,
  Loader,
  LoaderContext,
  SetManyItem,
  SetOptions,
  StorePolicyOption,
  WriteBehindOptions,
} from './cache.js';
export type { L1Stats } from './l1.js';
export { memoryCacheStore } from './memory-store.js';
export type { MemoryCacheStore, MemoryCacheStoreOptions } from './memory-store.js';
export { createMemoryInvalidationBus } from './memory-bus.js';
export type { MemoryInvalidationBusOptions, MemoryInvalidationHub } from './memory-bus.js';
export { encodeEntry, decodeEntry } from './entry.js';
export { CacheStoreError, CacheTimeoutError, CacheWriteQueueFullError } from './errors.js';
export type {
  CacheBusGapEvent,
  CacheEvent,
  CacheL2ErrorEvent,
  CacheL2WriteDroppedEvent,
  CacheLoadErrorEvent,
  CacheLockErrorEvent,
  CacheOperation,
  CacheOperationEvent,
  CacheStaleServedEvent,
  CacheStatus,
  CacheStoreDegradedEvent,
  CacheStoreErrorEvent,
  CacheStoreRecoveredEvent,
  CacheWriteFailedEvent,
  StaleReason,
} from './events.js';
export type {
  CacheLease,
  CacheLock,
  CacheSerializer,
  CacheStore,
  DeadLetterMeta,
  DeadLetterSinkLike,
  InvalidationBus,
  InvalidationHandler,
  InvalidationInfo,
  MembershipFilter,
  StoreCallOptions,
  StoreWrite,
} from './types.js';
