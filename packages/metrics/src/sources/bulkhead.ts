import type { TrackedInstance } from '@x/core';
import type { SetSample } from '../families.js';
import type { Source } from './types.js';

interface BulkheadLike {
  stats(): {
    readonly active: number;
    readonly queued: number;
    readonly limit?: number;
    readonly rejected?: Readonly<Record<string, number>>;
  };
}

const isBulkhead = (value: object): value is BulkheadLike => typeof (value as Partial<BulkheadLike>).stats === 'function';

export const bulkheadSource: Source = {
  source: 'bulkhead',
  // Everything is read from `stats()` at scrape time: observing a bulkhead costs its calls nothing.
  events: () => [],
  create(families) {
    // Two live bulkheads with the same name add up: calls running, waiting and slots in all of them.
    const read =
      (field: 'active' | 'queued' | 'limit') =>
      ({ name, instance }: TrackedInstance, set: SetSample<'bulkhead'>): void => {
        if (!isBulkhead(instance)) return;
        const value = instance.stats()[field];
        if (typeof value === 'number' && Number.isFinite(value)) set({ bulkhead: name }, value);
      };
    families.gauge('bulkhead_concurrent', 'Calls running inside the bulkhead.', 'bulkhead', 'sum', read('active'));
    families.gauge('bulkhead_queued', 'Calls waiting for a bulkhead slot.', 'bulkhead', 'sum', read('queued'));
    families.gauge('bulkhead_limit', 'Current concurrency limit of the bulkhead.', 'bulkhead', 'sum', read('limit'));
    families.computedCounter<'bulkhead' | 'reason'>(
      'bulkhead_rejected_total',
      'Calls the bulkhead refused, by reason (full, timeout, aborted).',
      'bulkhead',
      ({ name, instance }, set) => {
        if (!isBulkhead(instance)) return;
        for (const [reason, count] of Object.entries(instance.stats().rejected ?? {})) set({ bulkhead: name, reason }, count);
      },
    );
    return { onEvent() {} };
  },
};
