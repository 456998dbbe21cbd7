// @x/bloom is not a dependency of @x/metrics: its stats() shape is reproduced here structurally,
// as the exporter reads it.
import { createEventBus } from '@x/core';
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

/** What an @x/bloom filter exposes to exporters (a subset of its stats()). */
function fakeFilter(stats: { items: number; capacity: number; falsePositives: number }) {
  return { stats: () => ({ m: 64, k: 1, fillRatio: 0, estimatedFpr: 0, targetFpr: 0.01, bytes: 8, hashVersion: 1, ...stats }) };
}

describe('bloom filter metrics (the seed\'s names)', () => {
  it('reads items, capacity and false positives at scrape time, labelled by filter name only', async () => {
    const stats = { items: 120, capacity: 1_000, falsePositives: 3 };
    const filter = fakeFilter(stats);
    bus.track('bloom', 'user-ids', filter);
    let samples = await scrape(registry);
    expect(valueOf(samples, 'x_bloom_filter_items', { filter: 'user-ids' })).toBe(120);
    expect(valueOf(samples, 'x_bloom_filter_capacity', { filter: 'user-ids' })).toBe(1_000);
    expect(valueOf(samples, 'x_bloom_filter_false_positives_total', { filter: 'user-ids' })).toBe(3);
    expect(collector.sources).toEqual(['bloom']);
    stats.items = 130;
    stats.falsePositives = 5;
    samples = await scrape(registry);
    expect(valueOf(samples, 'x_bloom_filter_items', { filter: 'user-ids' })).toBe(130);
    expect(valueOf(samples, 'x_bloom_filter_false_positives_total', { filter: 'user-ids' })).toBe(5);
    // clear() resets a filter's own count; the exported counter never goes down.
    stats.falsePositives = 1;
    samples = await scrape(registry);
    expect(valueOf(samples, 'x_bloom_filter_false_positives_total', { filter: 'user-ids' })).toBe(6);
    for (const s of samples) expect(Object.keys(s.labels).every((l) => l === 'filter')).toBe(true);
  });

  it('sums filters that share a name, and skips one whose stats() throws (counted)', async () => {
    bus.track('bloom', 'ids', fakeFilter({ items: 10, capacity: 100, falsePositives: 1 }));
    bus.track('bloom', 'ids', fakeFilter({ items: 5, capacity: 50, falsePositives: 2 }));
    bus.track('bloom', 'broken', {
      stats: () => {
        throw new Error('boom');
      },
    });
    const samples = await scrape(registry);
    expect(valueOf(samples, 'x_bloom_filter_items', { filter: 'ids' })).toBe(15);
    expect(valueOf(samples, 'x_bloom_filter_capacity', { filter: 'ids' })).toBe(150);
    expect(valueOf(samples, 'x_bloom_filter_false_positives_total', { filter: 'ids' })).toBe(3);
    expect(valueOf(samples, 'x_bloom_filter_items', { filter: 'broken' })).toBeUndefined();
    expect(valueOf(samples, 'x_metrics_errors_total')).toBeGreaterThan(0);
  });
});
