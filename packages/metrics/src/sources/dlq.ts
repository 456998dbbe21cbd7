import type { TrackedInstance } from '@x/core';
import type { SetSample } from '../families.js';
import type { Source } from './types.js';
import { bornStores, labelledCells } from './types.js';

/** What an @x/dlq queue exposes to exporters: its `snapshot` (no store call at scrape time). */
interface QueueLike {
  readonly snapshot: {
    readonly pending: number;
    readonly inFlight: number;
    readonly dead: number;
    readonly oldestPendingAgeMs: number;
    readonly oldestDeadAgeMs: number;
    readonly totals: {
      readonly recorded: number;
      readonly attempts: number;
      readonly succeeded: number;
      readonly dead: number;
      readonly revived: number;
      readonly dropped: Readonly<Record<string, number>>;
    };
  };
}

const snapshotOf = (value: object): QueueLike['snapshot'] | undefined => {
  const snapshot = (value as Partial<QueueLike>).snapshot;
  return typeof snapshot === 'object' && snapshot !== null ? snapshot : undefined;
};

const total =
  (field: 'recorded' | 'attempts' | 'succeeded' | 'dead' | 'revived') =>
  ({ name, instance }: TrackedInstance, set: SetSample<'queue'>): void => {
    const value = snapshotOf(instance)?.totals[field];
    if (typeof value === 'number') set({ queue: name }, value);
  };

// The seed's (go-cachex) family names, labelled by queue name and small enums: never by item key.
// Everything is read from the queue's `snapshot` at scrape time (sizes as of its workers' last poll
// or `stats()` call), so observing a queue costs its calls nothing and a scrape never waits on Redis.
export const dlqSource: Source = {
  source: 'dlq',
  events: () => ['dlq.store_error'],
  create(families) {
    families.computedCounter('dlq_failed_operations_total', 'Failed items recorded in the dead-letter queue (add, wrap, stage).', 'dlq', total('recorded'));
    families.computedCounter('dlq_retried_operations_total', 'Processing attempts made by the queue workers.', 'dlq', total('attempts'));
    families.computedCounter('dlq_succeeded_operations_total', 'Items processed successfully and removed.', 'dlq', total('succeeded'));
    families.computedCounter('dlq_dead_operations_total', 'Items that became dead (attempts used up, or a permanent error).', 'dlq', total('dead'));
    families.computedCounter('dlq_redriven_operations_total', 'Dead items moved back to pending by retry() or redrive() (redrive progress).', 'dlq', total('revived'));
    families.computedCounter<'queue' | 'reason'>(
      'dlq_dropped_operations_total',
      'Items dropped or refused, by reason (rejected, drop_oldest, buffer_full, closed, unserializable).',
      'dlq',
      ({ name, instance }, set) => {
        for (const [reason, count] of Object.entries(snapshotOf(instance)?.totals.dropped ?? {})) set({ queue: name, reason }, count);
      },
    );
    families.gauge<'queue' | 'state'>('dlq_current_queue_size', 'Items in the queue by state (pending, in_flight, dead); pending includes in_flight.', 'dlq', 'sum', ({ name, instance }, set) => {
      const s = snapshotOf(instance);
      if (s === undefined) return;
      set({ queue: name, state: 'pending' }, s.pending);
      set({ queue: name, state: 'in_flight' }, s.inFlight);
      set({ queue: name, state: 'dead' }, s.dead);
    });
    families.gauge<'queue' | 'state'>('dlq_oldest_item_age_seconds', 'Age of the oldest pending item (since it became pending) and of the oldest dead item (since it died).', 'dlq', 'max', ({ name, instance }, set) => {
      const s = snapshotOf(instance);
      if (s === undefined) return;
      set({ queue: name, state: 'pending' }, s.oldestPendingAgeMs / 1_000);
      set({ queue: name, state: 'dead' }, s.oldestDeadAgeMs / 1_000);
    });
    // Store events carry the store's name (`redisDlqStore({ name })`).
    const storeErrors = labelledCells(families.counter('dlq_store_errors_total', 'Dead-letter store (Redis) calls that failed or timed out, by store.'), ['store']);
    return {
      // Born at 0 for an instance whose store is public and named (none is yet: series appear with the first error).
      onTracked(_name, instances) {
        bornStores(instances, (store) => storeErrors(store));
      },
      onEvent(event) {
        storeErrors(event.name).value++;
      },
    };
  },
};
