// @x/cache is not a dependency of @x/metrics: a real cache's stats() shape and events are
// reproduced structurally here, as the exporter reads them (the cache package tests the producer).
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

function fakeCache(hits: number, misses: number) {
  return {
    stats: () => ({
      operations: { get: { hit: hits, miss: misses }, l2_get: { retry: 2, error: 1 } },
      hitRatio: hits / (hits + misses),
      l1: { entries: 10, bytes: 2_048 },
      singleFlightJoins: 999,
      bus: { gaps: 3 },
      filter: { skipped: 4, falsePositives: 1 },
      writeBehind: { pending: 0, written: 7, coalesced: 2, deadLettered: 1, lost: 0 },
    }),
  };
}

describe('cache metrics', () => {
  beforeEach(() => {
    registry = new Registry();
    bus = createEventBus();
  });
  afterEach(() => collector.stop());

  it("reads go-cachex's cache_operations_total{operation,status}, L1 size, hit ratio, joins and gaps at scrape time", async () => {
    collector = collectMetrics({ registry, bus });
    bus.track('cache', 'users', fakeCache(90, 10));
    const samples = await scrape(registry);
    expect(valueOf(samples, 'x_cache_operations_total', { cache: 'users', operation: 'get', status: 'hit' })).toBe(90);
    expect(valueOf(samples, 'x_cache_operations_total', { cache: 'users', operation: 'l2_get', status: 'retry' })).toBe(2);
    expect(valueOf(samples, 'x_cache_local_entries', { cache: 'users' })).toBe(10);
    expect(valueOf(samples, 'x_cache_local_bytes', { cache: 'users' })).toBe(2_048);
    expect(valueOf(samples, 'x_cache_hit_ratio', { cache: 'users' })).toBeCloseTo(0.9);
    expect(valueOf(samples, 'x_cache_single_flight_joins_total', { cache: 'users' })).toBe(999);
    expect(valueOf(samples, 'x_cache_bus_gaps_total', { cache: 'users' })).toBe(3);
    expect(valueOf(samples, 'x_cache_filter_total', { cache: 'users', result: 'false_positive' })).toBe(1);
    expect(valueOf(samples, 'x_cache_write_behind_total', { cache: 'users', outcome: 'dead_lettered' })).toBe(1);
    expect(collector.sources).toContain('cache');
  });

  it('observes cache_operation_duration_seconds{operation} with durations on, and counts store errors per store', async () => {
    collector = collectMetrics({ registry, bus, durations: true });
    const emit = (event: Record<string, unknown>) => bus.emit({ source: 'cache', time: 0, ...event } as unknown as XEvent);
    emit({ type: 'cache.operation', name: 'users', operation: 'getOrSet', status: 'miss', durationMs: 120 });
    emit({ type: 'cache.operation', name: 'users', operation: 'getOrSet', status: 'hit', durationMs: 0 });
    emit({ type: 'cache.store_error', name: 'users-redis', error: new Error('down'), timedOut: true, consecutiveFailures: 1 });
    const samples = await scrape(registry);
    expect(valueOf(samples, 'x_cache_operation_duration_seconds_count', { cache: 'users', operation: 'getOrSet' })).toBe(2);
    expect(valueOf(samples, 'x_cache_operation_duration_seconds_sum', { cache: 'users', operation: 'getOrSet' })).toBeCloseTo(0.12);
    expect(valueOf(samples, 'x_cache_store_errors_total', { store: 'users-redis' })).toBe(1);
  });
});
