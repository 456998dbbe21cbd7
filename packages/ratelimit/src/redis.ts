export { redisStore, encodeKeyPart } from './redis-store.js';
export type { RedisClientLike, RedisRateLimitStore, RedisStoreOptions } from './redis-store.js';
export type { StoreHealth } from '@x/core/store';
export { RATE_LIMIT_SCRIPT, RATE_LIMIT_SCRIPT_SHA, SCRIPT_EPOCH_MS } from './redis-script.js';
export type {
  RateLimitStoreDegradedEvent,
  RateLimitStoreErrorEvent,
  RateLimitStoreRecoveredEvent,
} from './events.js';
export type { RateLimitStore, StoreErrorMode, StoreRequest, StoreVerdict } from './store.js';
