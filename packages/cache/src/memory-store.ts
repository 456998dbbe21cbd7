import { checkClock, checkString, readOptions } from '@x/core';
import type { Clock } from '@x/core';
import type { CacheStore, StoreWrite } from './types.js';

/** Options of {@link memoryCacheStore}. */
export interface MemoryCacheStoreOptions {
  /** For events and errors. Default `'memory'`. */
  readonly name?: string;
  /** Time source for expiry. Default `systemClock`. */
  readonly clock?: Clock;
}

/** A {@link CacheStore} in memory, with the size of its map for tests. */
export interface MemoryCacheStore extends CacheStore {
  /** Entries held, expired ones included until read. */
  readonly size: number;
}

/**
 * An L2 store in process memory: several caches in one process (or one test) share it the way
 * processes share Redis. Expiry is lazy, `clear()` bumps a namespace version like the Redis store.
 *
 * @example
 * ```ts
 * const shared = memoryCacheStore();
 * const a = createCache({ name: 'a', l2: shared });
 * const b = createCache({ name: 'b', l2: shared }); // sees a's writes
 * ```
 */
export function memoryCacheStore(options?: MemoryCacheStoreOptions): MemoryCacheStore {
  const o = readOptions<MemoryCacheStoreOptions>('memoryCacheStore', options, ['name', 'clock']);
  const name = o.name === undefined ? 'memory' : checkString('memoryCacheStore', 'name', o.name);
  const clock = checkClock('memoryCacheStore', o.clock);
  const map = new Map<string, { value: string; until: number }>();
  let version = 0;
  const id = (key: string) => `${version}\u0000${key}`;
  return {
    name,
    get size() {
      return map.size;
    },
    get(keys: readonly string[]) {
      const now = clock.now();
      return Promise.resolve(
        keys.map((key) => {
          const k = id(key);
          const item = map.get(k);
          if (item === undefined) return undefined;
          if (now >= item.until) {
            map.delete(k);
            return undefined;
          }
          return item.value;
        }),
      );
    },
    set(writes: readonly StoreWrite[]) {
      const now = clock.now();
      for (const w of writes) map.set(id(w.key), { value: w.value, until: now + w.ttlMs });
      return Promise.resolve();
    },
    delete(keys: readonly string[]) {
      for (const key of keys) map.delete(id(key));
      return Promise.resolve();
    },
    clear() {
      version++;
      map.clear();
      return Promise.resolve();
    },
  };
}
