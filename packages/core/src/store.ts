// The shared mechanism of every `/redis` entry (BRIEF §4): deadlines, the store guard, scripts with
// NOSCRIPT fallback and lossless key encoding. Browser-safe: no ioredis or `node:` import.
export { StoreCaller } from './store/caller.js';
export type { StoreCallOptions, StoreCallerSettings, StoreClient, StoreResult } from './store/caller.js';
export { StoreGuard, storeGuardOptions } from './store/guard.js';
export type { StoreGuardSettings, StoreHealth } from './store/guard.js';
export { defineScript, isNoScript } from './store/script.js';
export type { StoreScript } from './store/script.js';
export { encodeKeyPart, checkKeyPrefix } from './store/keys.js';
export { StoreUnavailableError } from './store/errors.js';
export type { StoreDegradedPayload, StoreErrorPayload, StoreRecoveredPayload } from './store/events.js';
export { DeadlineQueue } from './store/deadline-queue.js';
export type { Deadlined } from './store/deadline-queue.js';
export { sha1 } from './store/sha1.js';
