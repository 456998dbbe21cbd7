export { redisLockStore } from './redis-store.js';
export type { RedisLockStoreOptions } from './redis-store.js';
export { redlockStore } from './redis-redlock.js';
export type { RedlockStoreOptions } from './redis-redlock.js';
export type { LockRedisClient, RedisStoreCommonOptions } from './redis-node.js';
export type { LockStoreDegradedEvent, LockStoreErrorEvent, LockStoreRecoveredEvent } from './events.js';
export type { LockStore } from './store.js';
