// @x/dlq is not a dependency of @x/metrics: the queue's `snapshot` shape is reproduced here
// structurally, as the exporter reads it.
import { createEventBus } from '@x/core';
import type { XEvent } from '@x/core';
import { Registry } from 'prom-client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { collectMetrics } from '../index.js';
import type { MetricsCollector } from '../index.js';
import { scrape, valueOf } from '../test-scrape.js';

let registry: Registry;
let bus: ReturnType<typeof createEventBus>;
let collector: MetricsCollector;

beforeEach(() => {
  registry = new Registry();
  bus = createEventBus();
  collector = collectMetrics({ registry, bus });
});
afterEach(() => collector.stop());

/** What an @x/dlq queue exposes to exporters (a subset of its snapshot). */
function fakeQueue() {
  const snapshot = {
    pending: 7,
    inFlight: 2,
    dead: 3,
    oldestPendingAgeMs: 4_500,
    oldestDeadAgeMs: 60_000,
    totals: { recorded: 12, attempts: 20, succeeded: 2, dead: 3, revived: 1, dropped: { rejected: 1, drop_oldest: 0, buffer_full: 0, closed: 0, unserializable: 0 } },
  };
  return { snapshot, queue: { get snapshot() { return snapshot; } } };
}

describe("dead-letter queue metrics (go-cachex's names)", () => {
  it('reads totals, sizes and oldest ages from the snapshot at scrape time, labelled by queue', async () => {
    const { snapshot, queue } = fakeQueue();
    bus.track('dlq', 'writes', queue);
    let samples = await scrape(registry);
    expect(valueOf(samples, 'x_dlq_failed_operations_total', { queue: 'writes' })).toBe(12);
    expect(valueOf(samples, 'x_dlq_retried_operations_total', { queue: 'writes' })).toBe(20);
    expect(valueOf(samples, 'x_dlq_succeeded_operations_total', { queue: 'writes' })).toBe(2);
    expect(valueOf(samples, 'x_dlq_dead_operations_total', { queue: 'writes' })).toBe(3);
    expect(valueOf(samples, 'x_dlq_redriven_operations_total', { queue: 'writes' })).toBe(1);
    expect(valueOf(samples, 'x_dlq_dropped_operations_total', { queue: 'writes', reason: 'rejected' })).toBe(1);
    expect(valueOf(samples, 'x_dlq_current_queue_size', { queue: 'writes', state: 'pending' })).toBe(7);
    expect(valueOf(samples, 'x_dlq_current_queue_size', { queue: 'writes', state: 'in_flight' })).toBe(2);
    expect(valueOf(samples, 'x_dlq_current_queue_size', { queue: 'writes', state: 'dead' })).toBe(3);
    expect(valueOf(samples, 'x_dlq_oldest_item_age_seconds', { queue: 'writes', state: 'pending' })).toBe(4.5);
    expect(valueOf(samples, 'x_dlq_oldest_item_age_seconds', { queue: 'writes', state: 'dead' })).toBe(60);
    expect(collector.sources).toEqual(['dlq']);
    snapshot.pending = 1;
    snapshot.totals.recorded = 15;
    samples = await scrape(registry);
    expect(valueOf(samples, 'x_dlq_current_queue_size', { queue: 'writes', state: 'pending' })).toBe(1);
    expect(valueOf(samples, 'x_dlq_failed_operations_total', { queue: 'writes' })).toBe(15);
    for (const s of samples.filter((x) => x.name.startsWith('x_dlq'))) expect(Object.keys(s.labels).every((l) => ['queue', 'state', 'reason'].includes(l))).toBe(true);
  });

  it('sums sizes of queues sharing a name, keeps the oldest age, and counts store errors by store', async () => {
    bus.track('dlq', 'q', fakeQueue().queue);
    const other = fakeQueue();
    other.snapshot.oldestPendingAgeMs = 9_000;
    bus.track('dlq', 'q', other.queue);
    bus.emit({ type: 'dlq.store_error', source: 'dlq', name: 'redis', time: 0, error: new Error('x'), timedOut: true, consecutiveFailures: 1 } as unknown as XEvent);
    const samples = await scrape(registry);
    expect(valueOf(samples, 'x_dlq_current_queue_size', { queue: 'q', state: 'pending' })).toBe(14);
    expect(valueOf(samples, 'x_dlq_oldest_item_age_seconds', { queue: 'q', state: 'pending' })).toBe(9);
    expect(valueOf(samples, 'x_dlq_failed_operations_total', { queue: 'q' })).toBe(24);
    expect(valueOf(samples, 'x_dlq_store_errors_total', { store: 'redis' })).toBe(1);
  });
});
