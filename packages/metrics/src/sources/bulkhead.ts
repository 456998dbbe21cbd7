import type { SourceFactory } from './types.js';
import { seconds, text } from './types.js';

interface BulkheadLike {
  stats(): { readonly active: number; readonly queued: number; readonly limit?: number };
}

const isBulkhead = (value: object): value is BulkheadLike => typeof (value as Partial<BulkheadLike>).stats === 'function';

export const bulkheadMetrics: SourceFactory = (families, bus) => {
  const read = (field: 'active' | 'queued' | 'limit') => (set: (l: { bulkhead: string }, v: number) => void) => {
    for (const { name, instance } of bus.tracked('bulkhead')) {
      if (!isBulkhead(instance)) continue;
      const value = instance.stats()[field];
      if (typeof value === 'number' && Number.isFinite(value)) set({ bulkhead: name }, value);
    }
  };
  families.gauge('bulkhead_concurrent', 'Calls running inside the bulkhead.', ['bulkhead'], read('active'));
  families.gauge('bulkhead_queued', 'Calls waiting for a bulkhead slot.', ['bulkhead'], read('queued'));
  families.gauge('bulkhead_limit', 'Current concurrency limit of the bulkhead.', ['bulkhead'], read('limit'));
  const rejected = families.counter('bulkhead_rejected_total', 'Calls the bulkhead refused, by reason (full, timeout, aborted).', [
    'bulkhead',
    'reason',
  ]);
  const wait = families.histogram(
    'bulkhead_queue_wait_seconds',
    'Time admitted calls waited in the bulkhead queue.',
    ['bulkhead'],
    families.buckets.delaySeconds,
  );
  return {
    onEvent(event) {
      if (event.type === 'bulkhead.rejected') rejected.inc({ bulkhead: event.name, reason: text(event.reason) });
      else if (event.type === 'bulkhead.admitted' && event.fromQueue === true) wait.observe({ bulkhead: event.name }, seconds(event.waitedMs));
    },
  };
};
