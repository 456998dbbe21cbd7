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
  create(families, bus) {
    const read = (field: 'active' | 'queued' | 'limit') => (set: (l: { bulkhead: string }, v: number) => void) => {
      for (const { name, instance } of bus.tracked('bulkhead')) {
        if (!isBulkhead(instance)) continue;
        const value = instance.stats()[field];
        if (typeof value === 'number' && Number.isFinite(value)) set({ bulkhead: name }, value);
      }
    };
    families.gauge('bulkhead_concurrent', 'Calls running inside the bulkhead.', read('active'));
    families.gauge('bulkhead_queued', 'Calls waiting for a bulkhead slot.', read('queued'));
    families.gauge('bulkhead_limit', 'Current concurrency limit of the bulkhead.', read('limit'));
    families.computedCounter<'bulkhead' | 'reason'>(
      'bulkhead_rejected_total',
      'Calls the bulkhead refused, by reason (full, timeout, aborted).',
      (set) => {
        for (const { name, instance } of bus.tracked('bulkhead')) {
          if (!isBulkhead(instance)) continue;
          for (const [reason, count] of Object.entries(instance.stats().rejected ?? {})) set({ bulkhead: name, reason }, count);
        }
      },
    );
    return { onEvent() {} };
  },
};
