export { createBloomFilter } from './bloom.js';
export type { BloomFilter, BloomFilterJSON, BloomFilterOptions, BloomFilterStats } from './bloom.js';
export { createScalableBloomFilter } from './scalable.js';
export type {
  BloomStageStats,
  ScalableBloomFilter,
  ScalableBloomFilterJSON,
  ScalableBloomFilterOptions,
  ScalableBloomFilterStats,
} from './scalable.js';
export { createCountingBloomFilter } from './counting.js';
export type { CountingBloomFilter, CountingBloomFilterJSON, CountingBloomFilterOptions, CountingBloomFilterStats } from './counting.js';
export { bloomFromBytes, bloomFromJSON } from './serialize.js';
export type { AnyBloomFilterJSON, RestoreOptions } from './serialize.js';
export { bloomSizing, MAX_SHARD_BITS } from './sizing.js';
export type { BloomSizing, BloomSizingOptions } from './sizing.js';
export { bloomPositions } from './bits.js';
export { HASH_VERSION, SEED_H1, SEED_H2, SEED_SHARD, murmur3 } from './hash.js';
export { BloomInvalidDataError, BloomMetadataMismatchError, BloomModuleUnavailableError, BloomStoreUnavailableError } from './errors.js';
export type {
  BloomCapacityExceededEvent,
  BloomEvent,
  BloomFalsePositiveEvent,
  BloomOpenedEvent,
  BloomStageAddedEvent,
  BloomStoreDegradedEvent,
  BloomStoreErrorEvent,
  BloomStoreRecoveredEvent,
} from './events.js';
