// @x/lock is not a dependency of @x/metrics: its events and its stats() shape are reproduced here
// structurally, as the exporter reads them.
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

/** What an @x/lock lock or semaphore exposes to exporters. */
function fakeLock(held: number, lost: Record<string, number>) {
  return { stats: () => ({ held, acquired: 0, released: {}, lost, contended: {}, failed: 0 }) };
}

const emit = (event: Record<string, unknown>) => bus.emit({ source: 'lock', time: 0, ...event } as unknown as XEvent);

describe('lock metrics', () => {
  it('reads held leases and losses at scrape time, summing locks that share a name', async () => {
    const a = fakeLock(2, { expired: 1, not_held: 0, max_hold: 3 });
    const b = fakeLock(1, { expired: 2, not_held: 1, max_hold: 0 });
    bus.track('lock', 'billing', a);
    bus.track('lock', 'billing', b);
    const samples = await scrape(registry);
    expect(valueOf(samples, 'x_lock_held', { lock: 'billing' })).toBe(3);
    expect(valueOf(samples, 'x_lock_lost_total', { lock: 'billing', reason: 'expired' })).toBe(3);
    expect(valueOf(samples, 'x_lock_lost_total', { lock: 'billing', reason: 'max_hold' })).toBe(3);
    expect(valueOf(samples, 'x_lock_lost_total', { lock: 'billing', reason: 'not_held' })).toBe(1);
    expect(collector.sources).toContain('lock');
  });

  it('observes acquire latency in seconds per lock and never labels by key', async () => {
    emit({ type: 'lock.acquired', name: 'jobs', key: 'user:alice@example.com', fence: 7, waitedMs: 40, attempts: 2, validityMs: 1 });
    emit({ type: 'lock.acquired', name: 'jobs', key: 'user:bob', fence: 8, waitedMs: 2_000, attempts: 9, validityMs: 1 });
    const samples = await scrape(registry);
    expect(valueOf(samples, 'x_lock_acquire_duration_seconds_count', { lock: 'jobs' })).toBe(2);
    expect(valueOf(samples, 'x_lock_acquire_duration_seconds_sum', { lock: 'jobs' })).toBeCloseTo(2.04);
    expect(valueOf(samples, 'x_lock_acquire_duration_seconds_bucket', { lock: 'jobs', le: '0.05' })).toBe(1);
    expect(samples.some((s) => Object.values(s.labels).some((v) => v.includes('alice')))).toBe(false);
  });

  it('counts store errors per store (Redlock nodes separately)', async () => {
    emit({ type: 'lock.store_error', name: 'redlock[0]', error: new Error('down'), timedOut: false, consecutiveFailures: 1 });
    emit({ type: 'lock.store_error', name: 'redlock[0]', error: new Error('down'), timedOut: true, consecutiveFailures: 2 });
    emit({ type: 'lock.store_error', name: 'redlock[2]', error: new Error('down'), timedOut: false, consecutiveFailures: 1 });
    const samples = await scrape(registry);
    expect(valueOf(samples, 'x_lock_store_errors_total', { store: 'redlock[0]' })).toBe(2);
    expect(valueOf(samples, 'x_lock_store_errors_total', { store: 'redlock[2]' })).toBe(1);
  });

  it('skips a tracked lock whose stats() throws, counting it, and still answers the scrape', async () => {
    bus.track('lock', 'broken', {
      stats: () => {
        throw new Error('boom');
      },
    });
    const ok = fakeLock(1, {});
    bus.track('lock', 'fine', ok);
    const samples = await scrape(registry);
    expect(valueOf(samples, 'x_lock_held', { lock: 'fine' })).toBe(1);
    expect(valueOf(samples, 'x_metrics_errors_total')).toBeGreaterThan(0);
  });
});
