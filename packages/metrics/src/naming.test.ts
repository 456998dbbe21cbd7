import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { createBreaker } from '@x/breaker';
import { createBulkhead } from '@x/bulkhead';
import { createEventBus } from '@x/core';
import { createVirtualClock } from '@x/core/testing';
import { createBurnRateMonitor, createErrorBudget, createHealthMonitor } from '@x/health';
import { createRateLimiter } from '@x/ratelimit';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { collectMetrics, metricNames } from './index.js';
import { scrape, valueOf } from './test-scrape.js';

const fail = () => Promise.reject(new Error('down'));

function setup(options: Parameters<typeof collectMetrics>[0] = {}) {
  const clock = createVirtualClock({ now: 0 });
  const bus = createEventBus();
  const registry = new Registry();
  const collector = collectMetrics({ registry, bus, ...options });
  return { clock, bus, registry, collector };
}

describe('counters born at 0', () => {
  it('a breaker’s transitions exist at 0 as soon as it is created, so its first open is an increase', async () => {
    const { clock, bus, registry, collector } = setup();
    const breaker = createBreaker({ name: 'pricing', failureThreshold: 1, openMs: 1_000, clock, events: bus });
    let samples = await scrape(registry);
    for (const [from, to] of [
      ['closed', 'open'],
      ['open', 'half_open'],
      ['half_open', 'open'],
      ['half_open', 'closed'],
    ] as const) {
      expect(valueOf(samples, 'x_circuit_breaker_state_changes_total', { name: 'pricing', from_state: from, to_state: to }), `${from}→${to}`).toBe(0);
    }
    await breaker.execute(fail).catch(() => {});
    samples = await scrape(registry);
    expect(valueOf(samples, 'x_circuit_breaker_state_changes_total', { name: 'pricing', from_state: 'closed', to_state: 'open' })).toBe(1);
    collector.stop();
  });

  it('instances tracked before the collector attached get their series at 0 on attach', async () => {
    const clock = createVirtualClock({ now: 0 });
    const bus = createEventBus();
    createBreaker({ name: 'early', clock, events: bus });
    createErrorBudget({ name: 'api', slo: 0.99, windowMs: 60_000, clock, events: bus });
    createBurnRateMonitor({ name: 'api', slo: 0.99, clock, events: bus });
    const registry = new Registry();
    const collector = collectMetrics({ registry, bus });
    const samples = await scrape(registry);
    expect(valueOf(samples, 'x_circuit_breaker_state_changes_total', { name: 'early', from_state: 'closed', to_state: 'open' })).toBe(0);
    expect(valueOf(samples, 'x_error_budget_exhausted_total', { budget: 'api' })).toBe(0);
    expect(valueOf(samples, 'x_burn_rate_alerts_total', { budget: 'api', severity: 'page' })).toBe(0);
    expect(valueOf(samples, 'x_burn_rate_alerts_total', { budget: 'api', severity: 'ticket' })).toBe(0);
    expect(valueOf(samples, 'x_burn_rate_alert_firing', { budget: 'api', severity: 'page' })).toBe(0);
    collector.stop();
  });

  it('a limiter on a named store gets that store’s error and degradation series at 0', async () => {
    const { clock, bus, registry, collector } = setup();
    // The store interface @x/ratelimit expects, with a name like redisStore({ name }) has.
    const store = { name: 'redis-eu', apply: async () => ({ allowed: true, remaining: 1, resetMs: 0, retryAfterMs: 0 }), reset: async () => {} };
    createRateLimiter({ name: 'api', limit: 1, periodMs: 1_000, clock, events: bus, store } as never);
    const samples = await scrape(registry);
    expect(valueOf(samples, 'x_ratelimit_store_degraded_total', { store: 'redis-eu' })).toBe(0);
    expect(valueOf(samples, 'x_ratelimit_store_errors_total', { store: 'redis-eu' })).toBe(0);
    bus.emit({ type: 'ratelimit.store_degraded', source: 'ratelimit', name: 'redis-eu', time: 0, mode: 'open', consecutiveFailures: 3, cooldownMs: 1 } as never);
    expect(valueOf(await scrape(registry), 'x_ratelimit_store_degraded_total', { store: 'redis-eu' })).toBe(1);
    collector.stop();
  });

  it('lock, DLQ and cache store series are born at 0 when the instance exposes a named store', async () => {
    const { bus, registry, collector } = setup();
    // Structural stand-ins: each package's instance with a public, named store.
    const instances = [
      ['lock', 'ledger', { stats: () => ({ held: 0, lost: {} }), store: { name: 'redis-a' } }],
      ['dlq', 'orders', { store: { name: 'redis-b' } }],
      ['cache', 'users', { store: { name: 'redis-c' } }],
      ['lock', 'private', { stats: () => ({ held: 0, lost: {} }) }],
    ] as const;
    for (const [source, name, instance] of instances) bus.track(source, name, instance);
    await Promise.resolve();
    const samples = await scrape(registry);
    expect(valueOf(samples, 'x_lock_store_errors_total', { store: 'redis-a' })).toBe(0);
    expect(valueOf(samples, 'x_dlq_store_errors_total', { store: 'redis-b' })).toBe(0);
    expect(valueOf(samples, 'x_cache_store_errors_total', { store: 'redis-c' })).toBe(0);
    expect(samples.filter((s) => s.name === 'x_lock_store_errors_total')).toHaveLength(1);
    bus.emit({ type: 'lock.store_error', source: 'lock', name: 'redis-a', time: 0 } as never);
    expect(valueOf(await scrape(registry), 'x_lock_store_errors_total', { store: 'redis-a' })).toBe(1);
    expect(instances).toHaveLength(4); // keeps the weakly tracked instances alive until here
    collector.stop();
  });

  it('a health check’s three results exist at 0 after its first run, so a first failure after successes is an increase', async () => {
    const { clock, bus, registry, collector } = setup();
    const monitor = createHealthMonitor({ name: 'app', clock, events: bus });
    let ok = true;
    monitor.register({ name: 'db', check: () => ok });
    await monitor.runOnce();
    let samples = await scrape(registry);
    expect(valueOf(samples, 'x_health_check_total', { checker: 'app', check: 'db', result: 'failure' })).toBe(0);
    expect(valueOf(samples, 'x_health_check_total', { checker: 'app', check: 'db', result: 'timeout' })).toBe(0);
    ok = false;
    await monitor.runOnce();
    samples = await scrape(registry);
    expect(valueOf(samples, 'x_health_check_total', { checker: 'app', check: 'db', result: 'failure' })).toBe(1);
    collector.stop();
  });

  it('a series born at 0 leaves with its instance; one that counted something stays', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const { clock, bus, registry, collector } = setup();
    const kept = createBreaker({ name: 'kept', clock, events: bus });
    await (async () => {
      createBreaker({ name: 'idle', clock, events: bus });
      const used = createBreaker({ name: 'used', failureThreshold: 1, clock, events: bus });
      await used.execute(fail).catch(() => {});
    })();
    expect((await scrape(registry)).filter((s) => s.labels['name'] === 'idle')).not.toHaveLength(0);
    for (let i = 0; i < 5; i++) {
      await new Promise((resolve) => setImmediate(resolve));
      gc();
    }
    const samples = await scrape(registry);
    expect(samples.filter((s) => s.labels['name'] === 'idle')).toEqual([]);
    expect(valueOf(samples, 'x_circuit_breaker_state_changes_total', { name: 'used', from_state: 'closed', to_state: 'open' })).toBe(1);
    expect(valueOf(samples, 'x_circuit_breaker_state_changes_total', { name: 'used', from_state: 'open', to_state: 'half_open' })).toBeUndefined();
    expect(valueOf(samples, 'x_circuit_breaker_state_changes_total', { name: 'kept', from_state: 'closed', to_state: 'open' })).toBe(0);
    expect(kept.state).toBe('closed');
    collector.stop();
  });

  it('a born-at-0 hook that throws is counted in metrics_errors_total and changes nothing for the instance', async () => {
    const { clock, bus, registry, collector } = setup();
    const monitor = createHealthMonitor({ name: 'app', clock, events: bus });
    // A health instance whose statuses() throws when read (an incompatible copy of @x/health).
    bus.track('health', 'broken', { kind: 'health_monitor', statuses: () => { throw new Error('incompatible'); } });
    expect(valueOf(await scrape(registry), 'x_metrics_errors_total')).toBeGreaterThanOrEqual(1);
    expect(monitor.name).toBe('app');
    collector.stop();
  });
});

describe('namings', () => {
  it("go-cachex: exact series names and the component label, from a real prom-client registry", async () => {
    const { clock, bus, registry, collector } = setup({ naming: 'go-cachex', durations: true });
    const breaker = createBreaker({ name: 'cachex', failureThreshold: 2, clock, events: bus });
    await breaker.execute(() => 1);
    await breaker.execute(() => 2);
    await breaker.execute(fail).catch(() => {});
    const text = await registry.metrics();
    expect(text).toContain('# TYPE circuit_breaker_failures_total counter');
    expect(text).toContain('# TYPE circuit_breaker_successes_total counter');
    const samples = await scrape(registry);
    expect(valueOf(samples, 'circuit_breaker_state', { component: 'cachex' })).toBe(0);
    expect(valueOf(samples, 'circuit_breaker_failures_total', { component: 'cachex' })).toBe(1);
    expect(valueOf(samples, 'circuit_breaker_successes_total', { component: 'cachex' })).toBe(2);
    expect(samples.find((s) => s.name === 'circuit_breaker_failures_total')?.labels).toEqual({ component: 'cachex' });
    expect(valueOf(samples, 'circuit_breaker_requests_total', { component: 'cachex', result: 'rejected' })).toBe(0);
    expect(valueOf(samples, 'circuit_breaker_request_duration_seconds_count', { component: 'cachex' })).toBe(3);
    // No `name` label on any breaker family, and no prefix anywhere.
    expect(samples.filter((s) => s.name.startsWith('circuit_breaker') && 'name' in s.labels)).toEqual([]);
    expect(samples.some((s) => s.name.startsWith('x_'))).toBe(false);
    expect(new Set(samples.map((s) => s.name.replace(/_(bucket|sum|count)$/, ''))).size).toBeGreaterThan(3);
    for (const name of new Set(samples.map((s) => s.name.replace(/_(bucket|sum|count)$/, '')))) expect(metricNames(undefined, 'go-cachex')).toContain(name);
    collector.stop();
    expect(registry.getMetricsAsArray()).toHaveLength(0);
  });

  it('dwcp: prefix dwcp and bulkhead_rejected_total{bulkhead} summed over reasons', async () => {
    const { clock, bus, registry, collector } = setup({ naming: 'dwcp' });
    const bulkhead = createBulkhead({ name: 'database-pool', maxConcurrent: 1, maxQueue: 0, clock, events: bus });
    let release = (): void => {};
    const held = bulkhead.execute(() => new Promise<void>((resolve) => (release = resolve)));
    await bulkhead.execute(() => 1).catch(() => {});
    await bulkhead.execute(() => 1).catch(() => {});
    const samples = await scrape(registry);
    const rejected = samples.filter((s) => s.name === 'dwcp_bulkhead_rejected_total');
    expect(rejected).toEqual([{ name: 'dwcp_bulkhead_rejected_total', labels: { bulkhead: 'database-pool' }, value: 2 }]);
    expect(valueOf(samples, 'dwcp_bulkhead_concurrent', { bulkhead: 'database-pool' })).toBe(1);
    release();
    await held;
    collector.stop();
  });

  it('a prefix given with a naming replaces its default prefix; an unknown naming fails with INVALID_OPTIONS', async () => {
    const { clock, bus, registry, collector } = setup({ naming: 'go-cachex', prefix: 'svc' });
    createBreaker({ name: 'a', clock, events: bus });
    expect(valueOf(await scrape(registry), 'svc_circuit_breaker_state', { component: 'a' })).toBe(0);
    collector.stop();
    expect(() => collectMetrics({ registry, bus, naming: 'cachex' as never })).toThrow(/naming/);
    expect(() => collectMetrics({ registry, bus, naming: 'cachex' as never })).toThrow(expect.objectContaining({ code: 'INVALID_OPTIONS' }));
  });
});
