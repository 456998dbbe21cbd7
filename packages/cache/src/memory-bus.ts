import { readOptions } from '@x/core';
import type { InvalidationBus, InvalidationHandler, InvalidationInfo } from './types.js';

/** A channel shared by the buses of one process (what Redis pub/sub is between processes). */
export interface MemoryInvalidationHub {
  /** Creates a bus on this hub; each bus ignores its own messages. */
  bus(): InvalidationBus;
  /** Delivers a resync to every subscriber, as a Redis reconnect would (for tests). */
  resync(reason: 'gap' | 'reconnect'): void;
}

/** Options of {@link createMemoryInvalidationBus}. None yet; reserved. */
export type MemoryInvalidationBusOptions = Record<string, never>;

/**
 * An in-process invalidation hub: caches in one process (or one test) that share a
 * `memoryCacheStore` keep their L1s coherent through it, as processes do through
 * `createInvalidationBus` on Redis. Delivery is synchronous; a throwing handler does not stop the others.
 *
 * @example
 * ```ts
 * const hub = createMemoryInvalidationBus();
 * const a = createCache({ l2: shared, bus: hub.bus() });
 * const b = createCache({ l2: shared, bus: hub.bus() });
 * ```
 */
export function createMemoryInvalidationBus(options?: MemoryInvalidationBusOptions): MemoryInvalidationHub {
  readOptions('createMemoryInvalidationBus', options, []);
  const subscribers = new Set<{ owner: object; handler: InvalidationHandler }>();
  const deliver = (from: object | undefined, keys: readonly string[], info: InvalidationInfo) => {
    for (const s of [...subscribers]) {
      if (s.owner === from) continue;
      try {
        s.handler(keys, info);
      } catch {
        // one subscriber's failure is not the publisher's
      }
    }
  };
  return {
    bus() {
      const owner = {};
      return {
        publishInvalidation(...keys: string[]) {
          deliver(owner, keys.slice(), {});
          return Promise.resolve(true);
        },
        publishClear() {
          deliver(owner, [], { clear: true });
          return Promise.resolve(true);
        },
        subscribeInvalidations(handler: InvalidationHandler) {
          const s = { owner, handler };
          subscribers.add(s);
          return () => {
            subscribers.delete(s);
          };
        },
      };
    },
    resync(reason) {
      deliver(undefined, [], { resync: reason });
    },
  };
}
