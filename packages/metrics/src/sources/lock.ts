import type { Source } from './types.js';
import { bornStores, labelledCells, seconds } from './types.js';

interface LockLike {
  stats(): { readonly held: number; readonly lost?: Readonly<Record<string, number>> };
}

const isLock = (value: object): value is LockLike => typeof (value as Partial<LockLike>).stats === 'function';

// Labelled by lock (or semaphore) name and small enums only: never by key, whose cardinality
// callers control.
export const lockSource: Source = {
  source: 'lock',
  // Held leases and losses are read from `stats()` at scrape time. Acquire latency needs the
  // `lock.acquired` event; it is subscribed to whatever `durations` says, since an acquire that
  // reaches a store costs far more than the event (an in-memory one, about 100 ns more).
  events: () => ['lock.acquired', 'lock.store_error'],
  create(families) {
    families.gauge('lock_held', 'Leases held now (granted, not yet released or lost), read at scrape.', 'lock', 'sum', ({ name, instance }, set) => {
      if (!isLock(instance)) return;
      const held = instance.stats().held;
      if (Number.isFinite(held)) set({ lock: name }, held);
    });
    families.computedCounter<'lock' | 'reason'>(
      'lock_lost_total',
      'Leases lost while held, by reason (expired, not_held, max_hold).',
      'lock',
      ({ name, instance }, set) => {
        if (!isLock(instance)) return;
        for (const [reason, count] of Object.entries(instance.stats().lost ?? {})) set({ lock: name, reason }, count);
      },
    );
    const acquire = families.histogram('lock_acquire_duration_seconds', 'Time from the call to the grant of each lease (tryLock, acquire, withLock).', families.buckets.durationSeconds);
    // Store events carry the store's name (`redisLockStore({ name })`; Redlock nodes `<name>[i]`).
    const storeErrors = labelledCells(families.counter('lock_store_errors_total', 'Lock store (Redis) calls that failed or timed out, by store.'), ['store']);
    return {
      // Born at 0 for an instance whose store is public and named (none is yet: series appear with the first error).
      onTracked(_name, instances) {
        bornStores(instances, (store) => storeErrors(store));
      },
      onEvent(event) {
        if (event.type === 'lock.acquired') acquire.cell(event.name, { lock: event.name }).observe(seconds(event.waitedMs));
        else storeErrors(event.name).value++;
      },
    };
  },
};
