import { createBreaker } from '@x/breaker';
import { createBulkhead } from '@x/bulkhead';
import { XError, createEventBus } from '@x/core';
import type { XEvent } from '@x/core';
import { createVirtualClock } from '@x/core/testing';
import { createErrorBudget, createHealthMonitor } from '@x/health';
import { createRateLimiter } from '@x/ratelimit';
import { createRetry } from '@x/retry';
import { createTimeout } from '@x/timeout';
import { Registry } from 'prom-client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { METRIC_SUFFIXES, collectMetrics } from './index.js';
import type { MetricsCollector } from './index.js';
import { scrape, valueOf } from './test-scrape.js';

let registry: Registry;
let bus: ReturnType<typeof createEventBus>;
let clock: ReturnType<typeof createVirtualClock>;
let collector: MetricsCollector;

beforeEach(() => {
  registry = new Registry();
  bus = createEventBus();
  clock = createVirtualClock({ now: 0 });
  collector = collectMetrics({ registry, bus, durations: true });
});
afterEach(() => collector.stop());

const fail = () => Promise.reject(new Error('downstream failed'));

describe('circuit breaker metrics', () => {
  it('counts results, state changes and durations, and reads the state at scrape time', async () => {
    const breaker = createBreaker({ name: 'db', failureThreshold: 2, openMs: 1_000, clock, events: bus });
    await breaker.execute(async () => {
      await clock.advance(50);
      return 'ok';
    });
    await expect(breaker.execute(fail)).rejects.toThrow();
    await expect(breaker.execute(fail)).rejects.toThrow();
    await expect(breaker.execute(() => 'never runs')).rejects.toMatchObject({ code: 'BREAKER_OPEN' });

    let samples = await scrape(registry);
    expect(valueOf(samples, 'x_circuit_breaker_requests_total', { name: 'db', result: 'success' })).toBe(1);
    expect(valueOf(samples, 'x_circuit_breaker_requests_total', { name: 'db', result: 'failure' })).toBe(2);
    expect(valueOf(samples, 'x_circuit_breaker_requests_total', { name: 'db', result: 'rejected' })).toBe(1);
    expect(valueOf(samples, 'x_circuit_breaker_state_changes_total', { name: 'db', from_state: 'closed', to_state: 'open' })).toBe(1);
    expect(valueOf(samples, 'x_circuit_breaker_state', { name: 'db' })).toBe(2);
    expect(valueOf(samples, 'x_circuit_breaker_request_duration_seconds_count', { name: 'db' })).toBe(3);
    expect(valueOf(samples, 'x_circuit_breaker_request_duration_seconds_sum', { name: 'db' })).toBeCloseTo(0.05, 5);

    // Open → half-open happens with no call and no event: the gauge still shows it.
    await clock.advance(1_000);
    samples = await scrape(registry);
    expect(valueOf(samples, 'x_circuit_breaker_state', { name: 'db' })).toBe(1);
    breaker.forceOpen();
    expect(valueOf(await scrape(registry), 'x_circuit_breaker_state', { name: 'db' })).toBe(2);
    breaker.forceClose();
    expect(valueOf(await scrape(registry), 'x_circuit_breaker_state', { name: 'db' })).toBe(0);
  });

  it('exports the gauge for breakers created before the exporter attached', async () => {
    collector.stop();
    const breaker = createBreaker({ name: 'early', clock, events: bus });
    collector = collectMetrics({ registry, bus });
    expect(collector.sources).toEqual(['breaker']);
    expect(valueOf(await scrape(registry), 'x_circuit_breaker_state', { name: 'early' })).toBe(0);
    expect(breaker.state).toBe('closed');
  });
});

describe('retry and timeout metrics', () => {
  it('counts attempts by number, backoff delays and outcomes', async () => {
    const retry = createRetry({ name: 'api', maxAttempts: 3, backoff: () => 100, clock, events: bus });
    let calls = 0;
    const pending = retry.execute(() => (++calls < 3 ? fail() : 'third time'));
    await clock.advance(250);
    await expect(pending).resolves.toBe('third time');
    const exhausted = retry.execute(fail);
    const assertion = expect(exhausted).rejects.toMatchObject({ code: 'RETRY_EXHAUSTED' });
    await clock.advance(250);
    await assertion;

    await retry.execute(() => 'first try');
    const samples = await scrape(registry);
    expect(valueOf(samples, 'x_retry_attempts_total', { policy: 'api', attempt: '1' })).toBe(3);
    expect(valueOf(samples, 'x_retry_attempts_total', { policy: 'api', attempt: '2' })).toBe(2);
    expect(valueOf(samples, 'x_retry_attempts_total', { policy: 'api', attempt: '3' })).toBe(2);
    expect(valueOf(samples, 'x_retry_backoff_delay_seconds_count', { policy: 'api' })).toBe(4);
    expect(valueOf(samples, 'x_retry_backoff_delay_seconds_sum', { policy: 'api' })).toBeCloseTo(0.4, 5);
    expect(valueOf(samples, 'x_retry_calls_total', { policy: 'api', result: 'succeeded_after_retry' })).toBe(1);
    expect(valueOf(samples, 'x_retry_calls_total', { policy: 'api', result: 'exhausted' })).toBe(1);
  });

  it('counts timeouts by strategy', async () => {
    const timeout = createTimeout(100, { name: 'slow', strategy: 'aggressive', clock, events: bus });
    const pending = timeout.execute(() => new Promise(() => {}));
    const assertion = expect(pending).rejects.toMatchObject({ code: 'TIMEOUT' });
    await clock.advance(100);
    await assertion;
    expect(valueOf(await scrape(registry), 'x_timeouts_total', { policy: 'slow', strategy: 'aggressive' })).toBe(1);
  });
});

describe('bulkhead metrics', () => {
  it('reads occupancy at scrape time and counts rejections by reason', async () => {
    const bulkhead = createBulkhead({ name: 'pool', maxConcurrent: 2, maxQueue: 1, maxWaitMs: 500, clock, events: bus });
    const release: Array<() => void> = [];
    const hold = () => new Promise<void>((resolve) => release.push(resolve));
    const running = [bulkhead.execute(hold), bulkhead.execute(hold)];
    const queued = bulkhead.execute(hold);
    await expect(bulkhead.execute(hold)).rejects.toMatchObject({ code: 'BULKHEAD_FULL', reason: 'full' });

    let samples = await scrape(registry);
    expect(valueOf(samples, 'x_bulkhead_concurrent', { bulkhead: 'pool' })).toBe(2);
    expect(valueOf(samples, 'x_bulkhead_queued', { bulkhead: 'pool' })).toBe(1);
    expect(valueOf(samples, 'x_bulkhead_limit', { bulkhead: 'pool' })).toBe(2);
    expect(valueOf(samples, 'x_bulkhead_rejected_total', { bulkhead: 'pool', reason: 'full' })).toBe(1);

    await clock.advance(100);
    release.shift()?.();
    await clock.flush();
    for (const r of release.splice(0)) r();
    await Promise.all([...running, queued]);
    for (const r of release.splice(0)) r();
    samples = await scrape(registry);
    expect(valueOf(samples, 'x_bulkhead_concurrent', { bulkhead: 'pool' })).toBe(0);
    expect(valueOf(samples, 'x_bulkhead_queued', { bulkhead: 'pool' })).toBe(0);
    expect(valueOf(samples, 'x_bulkhead_rejected_total', { bulkhead: 'pool', reason: 'full' })).toBe(1);
  });
});

describe('rate limiter metrics', () => {
  it('counts decisions by outcome and never labels by key', async () => {
    const limiter = createRateLimiter({ name: 'login', limit: 2, periodMs: 1_000, clock, events: bus });
    for (let i = 0; i < 3; i++) await limiter.limit('user:alice@example.com');
    const text = await registry.metrics();
    expect(text).not.toContain('alice');
    const samples = await scrape(registry);
    expect(valueOf(samples, 'x_ratelimit_requests_total', { limiter: 'login', outcome: 'allowed' })).toBe(2);
    expect(valueOf(samples, 'x_ratelimit_requests_total', { limiter: 'login', outcome: 'limited' })).toBe(1);
  });
});

describe('health and error budget metrics', () => {
  it('exports check status, durations and results', async () => {
    const monitor = createHealthMonitor({ name: 'app', timeoutMs: 1_000, clock, events: bus });
    let dbUp = true;
    monitor.register({
      name: 'database',
      check: async () => {
        await clock.advance(0);
        if (!dbUp) throw new Error('connection refused');
      },
    });
    await monitor.runOnce();
    let samples = await scrape(registry);
    expect(valueOf(samples, 'x_health_check_status', { checker: 'app', check: 'database' })).toBe(1);
    dbUp = false;
    await monitor.runOnce();
    samples = await scrape(registry);
    expect(valueOf(samples, 'x_health_check_status', { checker: 'app', check: 'database' })).toBe(0);
    expect(valueOf(samples, 'x_health_check_total', { checker: 'app', check: 'database', result: 'success' })).toBe(1);
    expect(valueOf(samples, 'x_health_check_total', { checker: 'app', check: 'database', result: 'failure' })).toBe(1);
    expect(valueOf(samples, 'x_health_check_duration_seconds_count', { checker: 'app', check: 'database' })).toBe(2);
  });

  it('exports the budget gauges at scrape time and counts exhaustion', async () => {
    const budget = createErrorBudget({ name: 'availability', slo: 0.999, windowMs: 60_000, clock, events: bus });
    for (let i = 0; i < 1_999; i++) budget.record(true);
    budget.record(false);
    let samples = await scrape(registry);
    expect(valueOf(samples, 'x_error_budget_consumed', { budget: 'availability' })).toBeCloseTo(0.5, 10);
    expect(valueOf(samples, 'x_error_budget_remaining', { budget: 'availability' })).toBeCloseTo(0.5, 10);
    budget.record(false);
    budget.record(false); // 3 failures in 2 002 requests: 3 ÷ 2.002 ≈ 1.5 budgets
    samples = await scrape(registry);
    expect(valueOf(samples, 'x_error_budget_consumed', { budget: 'availability' })).toBeCloseTo(1.4985, 3);
    expect(valueOf(samples, 'x_error_budget_exhausted_total', { budget: 'availability' })).toBe(1);
  });
});

describe('collectMetrics', () => {
  it('creates families only for packages that emitted or registered something', async () => {
    const registered = () => new Set(registry.getMetricsAsArray().map((m) => (m as unknown as { name: string }).name));
    expect(registered()).toEqual(new Set(['x_metrics_errors_total', 'x_event_listener_errors_total']));
    createBulkhead({ name: 'only-this', maxConcurrent: 1, clock, events: bus });
    const families = registered();
    expect([...families].filter((f) => f.startsWith('x_bulkhead'))).toHaveLength(4);
    expect([...families].some((f) => f.startsWith('x_circuit_breaker'))).toBe(false);
    expect(collector.sources).toEqual(['bulkhead']);
  });

  it('uses the prefix for every family', async () => {
    collector.stop();
    collector = collectMetrics({ registry, bus, prefix: 'dwcp', durations: true });
    createBreaker({ name: 'network-ops', clock, events: bus });
    const samples = await scrape(registry);
    expect(valueOf(samples, 'dwcp_circuit_breaker_state', { name: 'network-ops' })).toBe(0);
    expect(samples.every((s) => s.name.startsWith('dwcp_'))).toBe(true);
  });

  it('stop() unsubscribes and unregisters everything, and is idempotent', async () => {
    createBreaker({ name: 'db', clock, events: bus });
    expect((await registry.metrics()).length).toBeGreaterThan(0);
    collector.stop();
    collector.stop();
    expect((await registry.metrics()).trim()).toBe('');
    expect(registry.getMetricsAsArray()).toHaveLength(0);
    expect(bus.hasListeners('breaker.success')).toBe(false);
    collector = collectMetrics({ registry, bus });
  });

  it('refuses a second collector with the same prefix on one registry', () => {
    expect(() => collectMetrics({ registry, bus })).toThrow(/no running collector uses in this registry/);
    const other = collectMetrics({ registry, bus, prefix: 'other', durations: true });
    other.stop();
  });

  it('rejects an invalid prefix at construction', () => {
    expect(() => collectMetrics({ registry: new Registry(), prefix: '9lives' })).toThrowError(
      expect.objectContaining({ code: 'INVALID_OPTIONS' }) as unknown as Error,
    );
  });

  it('counts, never throws, an event it cannot record', async () => {
    const broken = {
      type: 'breaker.success',
      source: 'breaker',
      name: 'db',
      time: 0,
      get durationMs(): number {
        throw new Error('corrupt event');
      },
    } as unknown as XEvent;
    expect(() => bus.emit(broken)).not.toThrow();
    expect(valueOf(await scrape(registry), 'x_metrics_errors_total')).toBe(1);
  });

  it('leaves out call durations by default, so observed calls are not timed', async () => {
    collector.stop();
    collector = collectMetrics({ registry, bus });
    const breaker = createBreaker({ name: 'hot', clock, events: bus });
    await breaker.execute(() => 1);
    expect(bus.hasListeners('breaker.success')).toBe(false);
    const samples = await scrape(registry);
    expect(valueOf(samples, 'x_circuit_breaker_requests_total', { name: 'hot', result: 'success' })).toBe(1);
    expect(samples.some((s) => s.name.startsWith('x_circuit_breaker_request_duration'))).toBe(false);
  });

  it('reports totals that happened before the exporter attached', async () => {
    collector.stop();
    const breaker = createBreaker({ name: 'before', clock, events: bus });
    await breaker.execute(() => 1);
    collector = collectMetrics({ registry, bus });
    expect(valueOf(await scrape(registry), 'x_circuit_breaker_requests_total', { name: 'before', result: 'success' })).toBe(1);
  });

  it('counts listener errors reported on the bus', async () => {
    const breaker = createBreaker({ name: 'db', clock, events: bus });
    bus.on('breaker.success', () => {
      throw new XError('BUG', 'listener bug');
    });
    await expect(breaker.execute(() => 'fine')).resolves.toBe('fine');
    expect(valueOf(await scrape(registry), 'x_event_listener_errors_total', { event_type: 'breaker.success' })).toBe(1);
  });

  it('knows every family it can register', async () => {
    // Drive every package so every family exists, then compare with the declared list.
    expect(() => collectMetrics({ registry: new Registry(), durations: 'yes' as never })).toThrow(/durations/);
    const breaker = createBreaker({ name: 'b', clock, events: bus });
    await breaker.execute(() => 1);
    createBulkhead({ name: 'p', maxConcurrent: 1, clock, events: bus });
    createErrorBudget({ name: 'e', slo: 0.99, windowMs: 60_000, clock, events: bus });
    await createRateLimiter({ name: 'r', limit: 1, periodMs: 1_000, clock, events: bus }).limit('k');
    const retry = createRetry({ name: 'q', maxAttempts: 2, backoff: () => 1, clock, events: bus });
    let n = 0;
    const pending = retry.execute(() => (n++ === 0 ? fail() : 1));
    await clock.advance(1);
    await pending;
    const t = createTimeout(1, { clock, events: bus, strategy: 'aggressive' }).execute(() => new Promise(() => {}));
    const caught = t.catch(() => undefined);
    await clock.advance(1);
    await caught;
    const registered = registry.getMetricsAsArray().map((m) => (m as unknown as { name: string }).name.replace(/^x_/, ''));
    expect(new Set(registered)).toEqual(new Set(METRIC_SUFFIXES));
  });
});
