export { redisCacheStore } from './redis-store.js';
export type { CacheRedisClient, RedisCacheStoreOptions } from './redis-store.js';
export { createInvalidationBus } from './redis-bus.js';
export type { BusPublisherClient, BusSubscriberClient, InvalidationBusOptions, InvalidationBusStats, RedisInvalidationBus } from './redis-bus.js';
export type { CacheStoreDegradedEvent, CacheStoreErrorEvent, CacheStoreRecoveredEvent } from './events.js';
export type { CacheStore, InvalidationBus } from './types.js';
