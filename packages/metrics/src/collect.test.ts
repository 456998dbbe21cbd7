import { getEventListeners } from 'node:events';
import { readFileSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { createBreaker } from '@x/breaker';
import { createBulkhead } from '@x/bulkhead';
import { XError, compose, createEventBus, defaultEventBus, fallback, isXError, sleep } from '@x/core';
import type { Clock, EventBus, ExecutionContext, Policy, XEvent } from '@x/core';
import { createVirtualClock } from '@x/core/testing';
import type { VirtualClock } from '@x/core/testing';
import { createBurnRateMonitor, createErrorBudget, createHealthMonitor } from '@x/health';
import { createRateLimiter } from '@x/ratelimit';
import { createRetry } from '@x/retry';
import { createTimeout } from '@x/timeout';
import { Counter, Registry } from 'prom-client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { METRIC_SUFFIXES, collectMetrics } from './index.js';
import type { MetricsCollector } from './index.js';
import { scrape, valueOf } from './test-scrape.js';
import type { Sample } from './test-scrape.js';

let registry: Registry;
let bus: ReturnType<typeof createEventBus>;
let clock: ReturnType<typeof createVirtualClock>;
let collector: MetricsCollector;
let listenerErrors: unknown[];

beforeEach(() => {
  registry = new Registry();
  listenerErrors = [];
  bus = createEventBus({ onUnhandledListenerError: (error) => listenerErrors.push(error) });
  clock = createVirtualClock({ now: 0 });
  collector = collectMetrics({ registry, bus, durations: true });
});
afterEach(() => collector.stop());

const fail = () => Promise.reject(new Error('downstream failed'));

/** The error `make` throws, or 'accepted'. */
function thrownBy(make: () => unknown): unknown {
  try {
    make();
  } catch (error) {
    return error;
  }
  return 'accepted';
}

/** Series (name and label set) that appear more than once in one scrape. */
function duplicatedSeries(samples: Sample[]): string[] {
  const key = (s: Sample) => `${s.name}{${Object.entries(s.labels).sort().map(([k, v]) => `${k}=${v}`).join(',')}}`;
  const seen = new Map<string, number>();
  for (const s of samples) seen.set(key(s), (seen.get(key(s)) ?? 0) + 1);
  return [...seen].filter(([, n]) => n > 1).map(([k]) => k);
}

/** Names of the families registered in the registry. */
const registeredNames = (r: Registry = registry) => r.getMetricsAsArray().map((m) => (m as unknown as { name: string }).name);

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

  it('keeps x_circuit_breaker_requests_total counting up across breaker.reset(), which clears the totals it reads', async () => {
    const breaker = createBreaker({ name: 'db', failureThreshold: 10, clock, events: bus });
    for (let i = 0; i < 5; i++) await breaker.execute(() => 'ok');
    await expect(breaker.execute(fail)).rejects.toThrow();
    let samples = await scrape(registry);
    expect(valueOf(samples, 'x_circuit_breaker_requests_total', { name: 'db', result: 'success' })).toBe(5);
    expect(valueOf(samples, 'x_circuit_breaker_requests_total', { name: 'db', result: 'failure' })).toBe(1);
    breaker.reset();
    expect(breaker.stats().totals.successes).toBe(0);
    await breaker.execute(() => 'ok');
    samples = await scrape(registry);
    expect(valueOf(samples, 'x_circuit_breaker_requests_total', { name: 'db', result: 'success' })).toBe(6);
    expect(valueOf(samples, 'x_circuit_breaker_requests_total', { name: 'db', result: 'failure' })).toBe(1);
    // A reset right before a scrape, with nothing since: the counter holds.
    breaker.reset();
    samples = await scrape(registry);
    expect(valueOf(samples, 'x_circuit_breaker_requests_total', { name: 'db', result: 'success' })).toBe(6);
  });

  it('exports two live breakers with the same name as one series each: results summed, the worse state', async () => {
    // e.g. two keyed groups (one per service) that both hold a breaker for the same host.
    const one = createBreaker({ name: 'api.example.com', clock, events: bus });
    const two = createBreaker({ name: 'api.example.com', clock, events: bus, failureThreshold: 1 });
    await one.execute(() => 1);
    await one.execute(() => 1);
    await expect(two.execute(fail)).rejects.toThrow();
    expect([one.state, two.state]).toEqual(['closed', 'open']);
    const samples = await scrape(registry);
    // Prometheus keeps one sample of a duplicated series: one breaker's state and totals would vanish.
    expect(duplicatedSeries(samples)).toEqual([]);
    expect(valueOf(samples, 'x_circuit_breaker_state', { name: 'api.example.com' })).toBe(2);
    expect(valueOf(samples, 'x_circuit_breaker_requests_total', { name: 'api.example.com', result: 'success' })).toBe(2);
    expect(valueOf(samples, 'x_circuit_breaker_requests_total', { name: 'api.example.com', result: 'failure' })).toBe(1);
    expect(valueOf(samples, 'x_circuit_breaker_request_duration_seconds_count', { name: 'api.example.com' })).toBe(3);
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

  it('adds up the attempts and outcomes of two live retry policies with the same name', async () => {
    const r1 = createRetry({ name: 'shared', clock, events: bus, maxAttempts: 1 });
    const r2 = createRetry({ name: 'shared', clock, events: bus, maxAttempts: 2, backoff: 10 });
    await r1.execute(() => 1);
    let n = 0;
    const pending = r2.execute(() => (n++ === 0 ? fail() : 2));
    await clock.advance(10);
    await pending;
    const samples = await scrape(registry);
    expect(duplicatedSeries(samples)).toEqual([]);
    expect(valueOf(samples, 'x_retry_attempts_total', { policy: 'shared', attempt: '1' })).toBe(2);
    expect(valueOf(samples, 'x_retry_attempts_total', { policy: 'shared', attempt: '2' })).toBe(1);
    expect(valueOf(samples, 'x_retry_calls_total', { policy: 'shared', result: 'succeeded_after_retry' })).toBe(1);
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

  it('adds up the occupancy, limits and rejections of two live bulkheads with the same name', async () => {
    const a = createBulkhead({ name: 'pool', maxConcurrent: 1, maxQueue: 0, clock, events: bus });
    const b = createBulkhead({ name: 'pool', maxConcurrent: 2, maxQueue: 0, clock, events: bus });
    let release = (): void => {};
    const held = a.execute(() => new Promise<void>((resolve) => (release = resolve)));
    await expect(a.execute(() => 1)).rejects.toMatchObject({ code: 'BULKHEAD_FULL' });
    const samples = await scrape(registry);
    expect(duplicatedSeries(samples)).toEqual([]);
    expect(valueOf(samples, 'x_bulkhead_concurrent', { bulkhead: 'pool' })).toBe(1);
    expect(valueOf(samples, 'x_bulkhead_queued', { bulkhead: 'pool' })).toBe(0);
    expect(valueOf(samples, 'x_bulkhead_limit', { bulkhead: 'pool' })).toBe(3);
    expect(valueOf(samples, 'x_bulkhead_rejected_total', { bulkhead: 'pool', reason: 'full' })).toBe(1);
    release();
    await held;
    expect(b.stats().active).toBe(0);
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

  it('adds up the decisions of two live limiters with the same name', async () => {
    const a = createRateLimiter({ name: 'login', limit: 1, periodMs: 1_000, clock, events: bus });
    const b = createRateLimiter({ name: 'login', limit: 5, periodMs: 1_000, clock, events: bus });
    for (let i = 0; i < 2; i++) await a.limit('k');
    for (let i = 0; i < 3; i++) await b.limit('k');
    const samples = await scrape(registry);
    expect(duplicatedSeries(samples)).toEqual([]);
    expect(valueOf(samples, 'x_ratelimit_requests_total', { limiter: 'login', outcome: 'allowed' })).toBe(4);
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

  it('exports health check durations in seconds (events carry ms), with the timeout as result', async () => {
    const monitor = createHealthMonitor({ name: 'app', timeoutMs: 2_000, clock, events: bus });
    monitor.register({
      name: 'db',
      check: (signal) => sleep(250, { clock, signal }),
    });
    monitor.register({ name: 'hung', check: () => new Promise(() => {}) });
    monitor.register({ name: 'err', check: () => Promise.reject(new Error('password=hunter2 host=db-7.internal')) });
    const run = monitor.runOnce();
    await clock.advance(2_000);
    await run;
    const samples = await scrape(registry);
    expect(valueOf(samples, 'x_health_check_duration_seconds_sum', { checker: 'app', check: 'db' })).toBeCloseTo(0.25, 9);
    expect(valueOf(samples, 'x_health_check_duration_seconds_bucket', { checker: 'app', check: 'db', le: '0.1' })).toBe(0);
    expect(valueOf(samples, 'x_health_check_duration_seconds_bucket', { checker: 'app', check: 'db', le: '0.25' })).toBe(1);
    expect(valueOf(samples, 'x_health_check_duration_seconds_sum', { checker: 'app', check: 'hung' })).toBeCloseTo(2, 9);
    expect(valueOf(samples, 'x_health_check_total', { checker: 'app', check: 'hung', result: 'timeout' })).toBe(1);
    expect(valueOf(samples, 'x_health_check_status', { checker: 'app', check: 'hung' })).toBe(0);
    // Error text never becomes a label.
    expect(await registry.metrics()).not.toMatch(/hunter2|db-7/);
  });

  it('reads the error budget at scrape time: overspent goes negative, the window slides with no record', async () => {
    const budget = createErrorBudget({ name: 'checkout', slo: 0.999, windowMs: 60_000, bucketMs: 1_000, clock, events: bus });
    budget.recordMany(997, 3); // allowance 1 → consumed 3
    let samples = await scrape(registry);
    expect(valueOf(samples, 'x_error_budget_consumed', { budget: 'checkout' })).toBeCloseTo(3, 9);
    expect(valueOf(samples, 'x_error_budget_remaining', { budget: 'checkout' })).toBeCloseTo(-2, 9);
    expect(valueOf(samples, 'x_error_budget_exhausted_total', { budget: 'checkout' })).toBe(1);
    await clock.advance(60_000);
    samples = await scrape(registry);
    expect(valueOf(samples, 'x_error_budget_consumed', { budget: 'checkout' })).toBe(0);
    expect(valueOf(samples, 'x_error_budget_remaining', { budget: 'checkout' })).toBe(1);
    budget.recordMany(999, 1);
    budget.record(false); // exhausted a second time
    samples = await scrape(registry);
    expect(valueOf(samples, 'x_error_budget_exhausted_total', { budget: 'checkout' })).toBe(2);
  });

  it('omits checks not yet run from the status gauge and drops unregistered ones', async () => {
    const monitor = createHealthMonitor({ name: 'app', clock, events: bus });
    const off = monitor.register({ name: 'db', check: () => true });
    expect(valueOf(await scrape(registry), 'x_health_check_status', { checker: 'app', check: 'db' })).toBeUndefined();
    await monitor.runOnce();
    monitor.register({ name: 'late', check: () => true });
    let samples = await scrape(registry);
    expect(valueOf(samples, 'x_health_check_status', { checker: 'app', check: 'db' })).toBe(1);
    expect(valueOf(samples, 'x_health_check_status', { checker: 'app', check: 'late' })).toBeUndefined();
    off();
    samples = await scrape(registry);
    expect(valueOf(samples, 'x_health_check_status', { checker: 'app', check: 'db' })).toBeUndefined();
  });

  it('counts burn-rate alerts by budget and severity when they start firing, not when they stop', async () => {
    const burn = createBurnRateMonitor({
      name: 'checkout',
      slo: 0.99,
      windows: [{ severity: 'page', longWindowMs: 60_000, shortWindowMs: 6_000, threshold: 2 }],
      clock,
      events: bus,
    });
    burn.recordMany(90, 10); // burn rate 10 over both windows
    expect(valueOf(await scrape(registry), 'x_burn_rate_alerts_total', { budget: 'checkout', severity: 'page' })).toBe(1);
    burn.reset(); // stops firing: not counted
    burn.recordMany(90, 10); // fires again
    expect(valueOf(await scrape(registry), 'x_burn_rate_alerts_total', { budget: 'checkout', severity: 'page' })).toBe(2);
  });

  it('stop() stops updates from health events and unregisters the health families', async () => {
    const monitor = createHealthMonitor({ name: 'app', clock, events: bus });
    monitor.register({ name: 'db', check: () => true });
    await monitor.runOnce();
    collector.stop();
    expect(bus.hasListeners('health.check')).toBe(false);
    expect(bus.hasListeners('health.error_budget_exhausted')).toBe(false);
    expect(bus.hasListeners('core.instance_tracked')).toBe(false);
    expect((await registry.metrics()).trim()).toBe('');
    await monitor.runOnce();
    collector = collectMetrics({ registry, bus });
    const samples = await scrape(registry);
    // Runs while nothing was attached are not counted; the series is born at 0 on attach.
    expect(valueOf(samples, 'x_health_check_total', { checker: 'app', check: 'db', result: 'success' })).toBe(0);
    expect(valueOf(samples, 'x_health_check_status', { checker: 'app', check: 'db' })).toBe(1);
  });

  it('a user listener that throws while the scrape reads a budget neither breaks the scrape nor is lost', async () => {
    bus.on('health.error_budget_recovered', () => {
      throw new Error('user bug');
    });
    const budget = createErrorBudget({ name: 'checkout', slo: 0.9, windowMs: 60_000, bucketMs: 1_000, clock, events: bus });
    budget.record(false); // exhausted
    await clock.advance(60_000); // recovery is noticed only when read: during the scrape
    const samples = await scrape(registry);
    expect(valueOf(samples, 'x_error_budget_remaining', { budget: 'checkout' })).toBe(1);
    expect(valueOf(await scrape(registry), 'x_event_listener_errors_total', { event_type: 'health.error_budget_recovered' })).toBe(1);
  });

  it('exports live monitors and budgets sharing a name as one series each, the worst of them', async () => {
    // Both default-named: e.g. a library and the app each create a budget and a monitor.
    const a = createErrorBudget({ slo: 0.999, windowMs: 60_000, clock, events: bus });
    const b = createErrorBudget({ slo: 0.99, windowMs: 60_000, clock, events: bus });
    a.recordMany(1_999, 1); // consumed 0.5
    b.record(true); // consumed 0
    const m1 = createHealthMonitor({ clock, events: bus });
    const m2 = createHealthMonitor({ clock, events: bus });
    m1.register({ name: 'db', check: () => true });
    m2.register({ name: 'db', check: () => false });
    await m1.runOnce();
    await m2.runOnce();
    expect(a.name).toBe(b.name);
    expect(m1.name).toBe(m2.name);
    const samples = await scrape(registry);
    expect(duplicatedSeries(samples)).toEqual([]);
    expect(valueOf(samples, 'x_health_check_status', { checker: m1.name, check: 'db' })).toBe(0);
    expect(valueOf(samples, 'x_error_budget_consumed', { budget: a.name })).toBeCloseTo(0.5, 9);
    expect(valueOf(samples, 'x_error_budget_remaining', { budget: a.name })).toBeCloseTo(0.5, 9);
    expect(valueOf(samples, 'x_health_check_total', { checker: m1.name, check: 'db', result: 'success' })).toBe(1);
    expect(valueOf(samples, 'x_health_check_total', { checker: m1.name, check: 'db', result: 'failure' })).toBe(1);
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

  it('leaves the registry/prefix pair free after a call that fails validation', () => {
    const bad: object[] = [{ durations: 'yes' }, { bus: 42 }, { buckets: { durationSeconds: [Number.NaN, 1] } }, { buckets: 5 }, { registry: 'r' }];
    for (const options of bad) {
      const fresh = new Registry();
      expect(thrownBy(() => collectMetrics({ registry: fresh, bus, ...options }))).toMatchObject({ code: 'INVALID_OPTIONS' });
      // README: a second collector fails only "until the first is stopped"; there is no first one here.
      expect(thrownBy(() => collectMetrics({ registry: fresh, bus }).stop())).toBe('accepted');
      expect(registeredNames(fresh)).toEqual([]);
    }
  });

  it('leaves nothing registered and the pair free when one of its names is already taken in the registry', async () => {
    const fresh = new Registry();
    fresh.registerMetric(new Counter({ name: 'x_event_listener_errors_total', help: 'someone else', registers: [] }));
    expect(thrownBy(() => collectMetrics({ registry: fresh, bus }))).toMatchObject({
      code: 'INVALID_OPTIONS',
      option: 'prefix',
      message: expect.stringContaining('x_event_listener_errors_total is already registered') as unknown,
    });
    expect(registeredNames(fresh)).toEqual(['x_event_listener_errors_total']);
    expect(bus.hasListeners('core.instance_tracked')).toBe(true); // the beforeEach collector's only
    fresh.removeSingleMetric('x_event_listener_errors_total');
    const second = collectMetrics({ registry: fresh, bus });
    expect(registeredNames(fresh)).toEqual(['x_metrics_errors_total', 'x_event_listener_errors_total']);
    second.stop();
  });

  it('rejects a bus that is not an EventBus with INVALID_OPTIONS naming the option, value and expected type', () => {
    for (const value of [42, null, {}, { on() {}, emit() {} }]) {
      const error = thrownBy(() => collectMetrics({ registry: new Registry(), bus: value as never }));
      expect(isXError(error, 'INVALID_OPTIONS')).toBe(true);
      expect(error).toMatchObject({ option: 'bus', value });
      expect((error as Error).message).toMatch(/option "bus" must be an EventBus \(on, emit, hasListeners\)/);
    }
  });

  it('rejects NaN, negative, infinite, unsorted, duplicate, empty or non-array buckets with INVALID_OPTIONS naming the bucket and the allowed range', async () => {
    const cases: Array<[unknown, string, unknown]> = [
      [{ durationSeconds: [Number.NaN, 1] }, 'buckets.durationSeconds[0]', Number.NaN],
      [{ delaySeconds: [-1] }, 'buckets.delaySeconds[0]', -1],
      [{ delaySeconds: [1, Infinity] }, 'buckets.delaySeconds[1]', Infinity],
      [{ durationSeconds: [0.5, 0.1] }, 'buckets.durationSeconds[1]', 0.1],
      [{ durationSeconds: [0.1, 0.1] }, 'buckets.durationSeconds[1]', 0.1],
      [{ durationSeconds: ['1'] }, 'buckets.durationSeconds[0]', '1'],
      [{ durationSeconds: [] }, 'buckets.durationSeconds', []],
      [{ durationSeconds: 5 }, 'buckets.durationSeconds', 5],
      [{ durationSecond: [1] }, 'buckets.durationSecond', [1]],
      [[1, 2], 'buckets', [1, 2]],
    ];
    for (const [buckets, option, value] of cases) {
      const error = thrownBy(() => collectMetrics({ registry: new Registry(), bus, buckets: buckets as never }));
      expect(error, option).toMatchObject({ code: 'INVALID_OPTIONS', option, value });
      expect((error as Error).message).toMatch(/>= 0|> 0\.|known: durationSeconds, delaySeconds/);
    }
    // A valid list is taken as given (zero allowed) and the other kind keeps its default.
    collector.stop();
    collector = collectMetrics({ registry, bus, buckets: { durationSeconds: [0, 0.1, 1] } });
    const monitor = createHealthMonitor({ name: 'app', clock, events: bus });
    monitor.register({ name: 'db', check: () => true });
    await monitor.runOnce();
    const les = (await scrape(registry)).filter((s) => s.name === 'x_health_check_duration_seconds_bucket').map((s) => s.labels['le']);
    expect(les).toEqual(['0', '0.1', '1', '+Inf']);
  });

  it("registers a package's families all or nothing: a name taken in the registry leaves none of them, and all appear once it is free", async () => {
    registry.registerMetric(new Counter({ name: 'x_health_check_total', help: 'taken', registers: [] }));
    const monitor = createHealthMonitor({ name: 'app', clock, events: bus });
    monitor.register({ name: 'db', check: () => true });
    await monitor.runOnce();
    const health = () => registeredNames().filter((n) => /^x_(health|error_budget|burn_rate)/.test(n));
    expect(health()).toEqual(['x_health_check_total']);
    expect(collector.sources).toEqual([]);
    expect(valueOf(await scrape(registry), 'x_metrics_errors_total')).toBeGreaterThan(0);
    registry.removeSingleMetric('x_health_check_total');
    await monitor.runOnce();
    expect(collector.sources).toEqual(['health']);
    expect(health()).toHaveLength(9);
    const samples = await scrape(registry);
    expect(valueOf(samples, 'x_health_check_status', { checker: 'app', check: 'db' })).toBe(1);
    expect(valueOf(samples, 'x_health_check_total', { checker: 'app', check: 'db', result: 'success' })).toBe(1);
  });

  it('skips a tracked instance whose read throws, counts it in x_metrics_errors_total and still answers the scrape', async () => {
    const budget = createErrorBudget({ name: 'checkout', slo: 0.999, windowMs: 60_000, clock, events: bus });
    budget.record(true);
    const breaker = createBreaker({ name: 'db', clock, events: bus });
    await breaker.execute(() => 1);
    // e.g. an instance from another copy/version of a package sharing the default bus.
    let broken = false;
    const foreign = {
      get state(): string {
        if (broken) throw new Error('incompatible instance');
        return 'closed';
      },
      stats() {
        if (broken) throw new Error('incompatible instance');
        return { totals: { successes: 3, failures: 0, rejected: 0 } };
      },
    };
    bus.track('breaker', 'legacy', foreign);
    let samples = await scrape(registry);
    expect(valueOf(samples, 'x_circuit_breaker_requests_total', { name: 'legacy', result: 'success' })).toBe(3);
    expect(valueOf(samples, 'x_metrics_errors_total')).toBe(0);
    broken = true;
    samples = await scrape(registry);
    expect(valueOf(samples, 'x_error_budget_remaining', { budget: 'checkout' })).toBe(1);
    expect(valueOf(samples, 'x_circuit_breaker_state', { name: 'db' })).toBe(0);
    expect(valueOf(samples, 'x_circuit_breaker_requests_total', { name: 'db', result: 'success' })).toBe(1);
    expect(valueOf(samples, 'x_circuit_breaker_state', { name: 'legacy' })).toBeUndefined();
    // A counter it fed before holds its value: it never goes down.
    expect(valueOf(samples, 'x_circuit_breaker_requests_total', { name: 'legacy', result: 'success' })).toBe(3);
    expect(valueOf(samples, 'x_metrics_errors_total')).toBe(2); // the state gauge and the requests counter
    expect(foreign.stats).toBeTypeOf('function'); // keeps the weakly tracked instance alive
  });

  it('never lets a counter read from stats() go down: a lower total means the instance was reset and counts from 0', async () => {
    // Stand-ins for each package's stats(), so every counter family read at scrape time is covered.
    let scale = 10;
    const retry = { stats: () => ({ attempts: [scale, scale / 2], succeededAfterRetry: scale, gaveUp: { exhausted: scale } }) };
    const bulkhead = { stats: () => ({ active: 0, queued: 0, limit: 1, rejected: { full: scale } }) };
    const limiter = { stats: () => ({ allowed: scale, rejected: { limited: scale } }) };
    const breaker = { state: 'closed', stats: () => ({ totals: { successes: scale, failures: scale, rejected: scale } }) };
    bus.track('retry', 'r', retry);
    bus.track('bulkhead', 'b', bulkhead);
    bus.track('ratelimit', 'l', limiter);
    bus.track('breaker', 'c', breaker);
    const counters = (samples: Sample[]) =>
      samples
        .filter((s) => s.name.endsWith('_total') && s.name !== 'x_metrics_errors_total' && s.name !== 'x_circuit_breaker_state_changes_total')
        .map((s) => `${s.name} ${JSON.stringify(s.labels)} ${s.value}`);
    const first = counters(await scrape(registry));
    expect(first).toHaveLength(10);
    scale = 4; // every instance reset, then counted 4 (2 for the second attempt)
    const second = counters(await scrape(registry));
    expect(second).toEqual(first.map((line) => line.replace(/ 10$/, ' 14').replace(/ 5$/, ' 7')));
    scale = 6; // grew by 2 (1) since
    const third = counters(await scrape(registry));
    expect(third).toEqual(first.map((line) => line.replace(/ 10$/, ' 16').replace(/ 5$/, ' 8')));
    expect([retry, bulkhead, limiter, breaker]).toHaveLength(4);
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
    bus.emit({ type: 'lock.store_error', source: 'lock', name: 'redis', time: 0 } as unknown as XEvent);
    bus.track('bloom', 'f', { stats: () => ({ items: 1, capacity: 10, falsePositives: 2 }) }); // @x/bloom's stats() shape
    const dlqTotals = { recorded: 1, attempts: 1, succeeded: 0, dead: 1, revived: 0, dropped: { rejected: 1 } };
    bus.track('dlq', 'd', { snapshot: { pending: 1, inFlight: 0, dead: 1, oldestPendingAgeMs: 5, oldestDeadAgeMs: 5, totals: dlqTotals } }); // @x/dlq's snapshot shape
    bus.emit({ type: 'dlq.store_error', source: 'dlq', name: 'redis', time: 0 } as unknown as XEvent);
    const cacheStats = { operations: { get: { hit: 1 } }, hitRatio: 1, l1: { entries: 1, bytes: 1 }, singleFlightJoins: 0, bus: { gaps: 0 }, filter: { skipped: 0, falsePositives: 0 }, writeBehind: { written: 0, coalesced: 0, deadLettered: 0, lost: 0 } };
    bus.track('cache', 'c', { stats: () => cacheStats }); // @x/cache's stats() shape
    bus.emit({ type: 'cache.operation', source: 'cache', name: 'c', time: 0, operation: 'get', status: 'hit', durationMs: 1 } as unknown as XEvent);
    bus.emit({ type: 'cache.store_error', source: 'cache', name: 'redis', time: 0 } as unknown as XEvent);
    const registered = registry.getMetricsAsArray().map((m) => (m as unknown as { name: string }).name.replace(/^x_/, ''));
    expect(new Set(registered)).toEqual(new Set(METRIC_SUFFIXES));
  });

  it('produces every metric name and label set the README lists', async () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    const rows = [...readme.matchAll(/^\| `(x_[a-z_]+)` \| (counter|gauge|histogram) \| ((?:[^|\\]|\\.)+) \|/gm)].map((m) => ({
      name: m[1] as string,
      type: m[2] as string,
      labels: (m[3] as string).trim() === '—' ? [] : (m[3] as string).split(',').map((part) => (/`([a-z_]+)`/.exec(part) as RegExpExecArray)[1] as string),
    }));
    expect(rows.length).toBe(METRIC_SUFFIXES.length);

    // Drive every package.
    const breaker = createBreaker({ name: 'b', failureThreshold: 1, clock, events: bus });
    await breaker.execute(() => 1);
    await breaker.execute(() => Promise.reject(new Error('x'))).catch(() => undefined);
    createBulkhead({ name: 'p', maxConcurrent: 1, clock, events: bus });
    await createRateLimiter({ name: 'r', limit: 1, periodMs: 1_000, clock, events: bus }).limit('k');
    bus.emit({ type: 'ratelimit.store_error', source: 'ratelimit', name: 'redis', time: 0 } as unknown as XEvent);
    bus.emit({ type: 'ratelimit.store_degraded', source: 'ratelimit', name: 'redis', time: 0 } as unknown as XEvent);
    const retry = createRetry({ name: 'q', maxAttempts: 2, backoff: () => 1, clock, events: bus });
    let n = 0;
    const pending = retry.execute(() => (n++ === 0 ? Promise.reject(new Error('x')) : 1));
    await clock.advance(1);
    await pending;
    const t = createTimeout(1, { name: 't', clock, events: bus, strategy: 'aggressive' }).execute(() => new Promise(() => {}));
    const caught = t.catch(() => undefined);
    await clock.advance(1);
    await caught;
    const monitor = createHealthMonitor({ name: 'app', clock, events: bus });
    monitor.register({ name: 'db', check: () => true });
    await monitor.runOnce();
    const budget = createErrorBudget({ name: 'e', slo: 0.99, windowMs: 60_000, clock, events: bus });
    budget.record(false);
    const burn = createBurnRateMonitor({ name: 'e', slo: 0.99, clock, events: bus });
    burn.recordMany(0, 10);
    bus.on('health.check', () => {
      throw new Error('user listener');
    });
    await monitor.runOnce();
    const lock = { stats: () => ({ held: 1, lost: { expired: 1 } }) }; // @x/lock's stats() shape
    bus.track('lock', 'l', lock);
    bus.emit({ type: 'lock.acquired', source: 'lock', name: 'l', time: 0, waitedMs: 3 } as unknown as XEvent);
    bus.emit({ type: 'lock.store_error', source: 'lock', name: 'redis', time: 0 } as unknown as XEvent);
    bus.track('bloom', 'f', { stats: () => ({ items: 1, capacity: 10, falsePositives: 2 }) }); // @x/bloom's stats() shape
    const dlqTotals = { recorded: 1, attempts: 1, succeeded: 0, dead: 1, revived: 0, dropped: { rejected: 1 } };
    bus.track('dlq', 'd', { snapshot: { pending: 1, inFlight: 0, dead: 1, oldestPendingAgeMs: 5, oldestDeadAgeMs: 5, totals: dlqTotals } }); // @x/dlq's snapshot shape
    bus.emit({ type: 'dlq.store_error', source: 'dlq', name: 'redis', time: 0 } as unknown as XEvent);
    const cacheStats = { operations: { get: { hit: 1 } }, hitRatio: 1, l1: { entries: 1, bytes: 1 }, singleFlightJoins: 0, bus: { gaps: 0 }, filter: { skipped: 0, falsePositives: 0 }, writeBehind: { written: 0, coalesced: 0, deadLettered: 0, lost: 0 } };
    bus.track('cache', 'c', { stats: () => cacheStats }); // @x/cache's stats() shape
    bus.emit({ type: 'cache.operation', source: 'cache', name: 'c', time: 0, operation: 'get', status: 'hit', durationMs: 1 } as unknown as XEvent);
    bus.emit({ type: 'cache.store_error', source: 'cache', name: 'redis', time: 0 } as unknown as XEvent);

    const samples = await scrape(registry);
    const missing: string[] = [];
    for (const row of rows) {
      const name = row.type === 'histogram' ? `${row.name}_count` : row.name;
      const found = samples.filter((s) => s.name === name);
      if (found.length === 0) missing.push(`${row.name}: no sample`);
      else if (!found.every((s) => JSON.stringify(Object.keys(s.labels).sort()) === JSON.stringify([...row.labels].sort()))) {
        missing.push(`${row.name}: labels ${JSON.stringify(found.map((s) => Object.keys(s.labels)))} vs ${JSON.stringify(row.labels)}`);
      }
    }
    expect(missing).toEqual([]);
  });

  it('ignores events and tracked instances from an unknown package', async () => {
    bus.emit({ type: 'acme.thing', source: 'acme', name: 'a', time: 0 } as unknown as XEvent);
    bus.emit({ type: 'health.check', source: 'acme', name: 'a', time: 0, check: 'x', result: 'success', durationMs: 5 } as unknown as XEvent);
    bus.track('acme', 'widget', { kind: 'health_monitor', statuses: () => [{ name: 'x', healthy: true, lastCheckedAt: 0 }] });
    expect(collector.sources).toEqual([]);
    const samples = await scrape(registry);
    expect(samples.map((s) => s.name).sort()).toEqual(['x_metrics_errors_total']);
    expect(valueOf(samples, 'x_metrics_errors_total')).toBe(0);
    expect(listenerErrors).toEqual([]);
  });
});

// Cross-package behaviour of composed policies (@x/core compose/fallback, @x/breaker, @x/retry,
// @x/timeout) as the exporter reports it; no single package's tests can run these.
/** A call that hangs until its signal aborts, then rejects with the signal's reason (as fetch does). */
const hang = ({ signal }: ExecutionContext): Promise<never> =>
  new Promise<never>((_, reject) => {
    if (signal.aborted) return reject(signal.reason);
    signal.addEventListener('abort', () => reject(signal.reason), { once: true });
  });

interface Settled<T> {
  settled: boolean;
  at?: number;
  value?: T;
  error?: unknown;
}

/** Records how and when (virtual time) a promise settled, without awaiting it. */
function watch<T>(promise: Promise<T>, clock: VirtualClock): Settled<T> {
  const state: Settled<T> = { settled: false };
  promise.then(
    (value) => Object.assign(state, { settled: true, value, at: clock.now() }),
    (error: unknown) => Object.assign(state, { settled: true, error, at: clock.now() }),
  );
  return state;
}

function setup() {
  const clock = createVirtualClock({ now: 0 });
  const events = createEventBus();
  const seen: XEvent[] = [];
  events.on('*', (e) => seen.push(e));
  return { clock, events, seen };
}

interface Knobs {
  maxAttempts?: number;
  backoff?: number;
  failureThreshold?: number;
  openMs?: number;
  timeoutMs?: number;
}

function policies(clock: VirtualClock, events: EventBus, o: Knobs = {}) {
  const retry = createRetry({ name: 'r', maxAttempts: o.maxAttempts ?? 5, backoff: o.backoff ?? 100, clock, events });
  const breaker = createBreaker({ name: 'b', failureThreshold: o.failureThreshold ?? 100, openMs: o.openMs ?? 1_000, clock, events });
  const timeout = createTimeout(o.timeoutMs ?? 300, { name: 't', clock, events });
  return { retry, breaker, timeout };
}

const gaveUpReasons = (seen: XEvent[]) =>
  seen.filter((e) => e.type === 'retry.gave_up').map((e) => (e as unknown as { reason: string }).reason);


describe('composed policies (retry, breaker, timeout, fallback)', () => {
  it('retry → breaker → timeout: calls whose deadline passed before they started never reach the dependency and do not trip the breaker', async () => {
    // A server propagating request deadlines under load: requests that waited past their deadline
    // are refused by the timeout without calling the dependency, yet the breaker counts each
    // refusal as a dependency failure and opens on a healthy dependency.
    const { clock, events } = setup();
    const { retry, breaker, timeout } = policies(clock, events, { failureThreshold: 3 });
    await clock.advance(1_000);
    let calls = 0;
    for (let i = 0; i < 3; i++) {
      const outcome = await compose(retry, breaker, timeout).executeOutcome(
        () => {
          calls++;
          return 'called';
        },
        { deadline: 500 },
      );
      expect(outcome.ok).toBe(false);
    }
    expect(calls).toBe(0);
    // Observed: failures 3, timeouts 3, state 'open'.
    expect(breaker.stats().totals.failures).toBe(0);
    expect(breaker.state).toBe('closed');
  });

  it('breaker (open): a caller that already aborted gets its own reason, as it does from a closed breaker, and nothing is counted', async () => {
    // core/README: "the caller's abort surfaces as the caller's own signal.reason"; the closed
    // breaker does this ("rejects at once with the reason when the caller already aborted, without
    // running or counting"), the open one answers BREAKER_OPEN and counts a request and a rejection.
    const { clock, events } = setup();
    const breaker = createBreaker({ name: 'b', failureThreshold: 1, clock, events });
    await breaker.execute(() => Promise.reject(new Error('trip'))).catch(() => {});
    expect(breaker.state).toBe('open');
    const before = breaker.stats().totals;
    const controller = new AbortController();
    const reason = new Error('caller gave up');
    controller.abort(reason);
    const viaExecute = await breaker.execute(() => 1, { signal: controller.signal }).catch((e: unknown) => e);
    const viaOutcome = await breaker.executeOutcome(() => 1, { signal: controller.signal });
    const viaFallback = await compose(fallback(() => 'cached'), breaker).execute(() => 1, { signal: controller.signal }).catch((e: unknown) => e);
    expect(viaExecute).toBe(reason);
    expect(viaOutcome).toEqual({ ok: false, error: reason });
    expect(viaFallback).toBe(reason);
    expect(breaker.stats().totals).toEqual(before);
  });
  it('retry → breaker on Node-like timers: waiting out retryAfterMs lands on the half-open probe even when a timer fires a little early', async () => {
    // systemClock.now() reads performance.now(), but setTimeout runs on libuv's whole-millisecond
    // loop time, so a timer can fire up to ~1 ms before now() says its delay passed (measured on
    // Node 20 here: a 7 ms setTimeout resolved after 6.27 ms, 8 of 200 fired early). The breaker's
    // retryAfterMs is exact, so the retry wakes while the circuit is still open, gets another
    // BREAKER_OPEN (retryAfterMs < 1 ms) and burns an attempt on it. Modelled with a virtual clock
    // whose timers fire 0.5 ms early.
    const clock = createVirtualClock({ now: 0 });
    const nodeLike: Clock = {
      now: () => clock.now(),
      setTimeout: (callback, ms) => clock.setTimeout(callback, Math.max(0, ms - 0.5)),
      clearTimeout: (handle) => clock.clearTimeout(handle),
    };
    const events = createEventBus();
    const retry = createRetry({ name: 'r', maxAttempts: 2, backoff: 10, clock: nodeLike, events });
    const breaker = createBreaker({ name: 'b', failureThreshold: 1, openMs: 1_000, clock: nodeLike, events });
    await breaker.execute(() => Promise.reject(new Error('trip'))).catch(() => {});
    const s = watch(compose(retry, breaker).execute(() => 'probe ok'), clock);
    await clock.advance(2_000);
    // Observed: RETRY_EXHAUSTED at 999.5 ms, cause BREAKER_OPEN with retryAfterMs 0.5; 2 rejections.
    expect({ at: s.at, value: s.value, error: s.error, rejected: breaker.stats().totals.rejected }).toMatchObject({ value: 'probe ok', rejected: 1 });
  });

  it('timeout → retry → breaker: an outer timeout cutting a hung attempt is a TIMEOUT to the caller, a timeout to the breaker and a deadline (not a caller abort) to the retry and its metric', async () => {
    // timeout/README: "a retry in between does not mistake it for the caller giving up"; retry/README
    // (since dfb0508): an enclosing timeout firing ends the run as 'deadline'. Found by this audit
    // (it was 'aborted' in the event, in stats() and in x_retry_calls_total) and fixed meanwhile;
    // kept as the end-to-end check with the real @x/timeout and the exporter.
    const { clock, events, seen } = setup();
    const registry = new Registry();
    const collector = collectMetrics({ registry, bus: events });
    try {
      const { retry, breaker } = policies(clock, events);
      const total = createTimeout(1_000, { name: 'total', clock, events });
      const s = watch(compose(total, retry, breaker).execute(hang), clock);
      await clock.advance(1_000);
      expect(isXError(s.error, 'TIMEOUT')).toBe(true);
      expect(s.at).toBe(1_000);
      // The breaker gets it right: a failure and a timeout, not an ignored caller abort.
      expect(breaker.stats().totals).toMatchObject({ failures: 1, timeouts: 1, ignored: 0 });
      expect(gaveUpReasons(seen)).toEqual(['deadline']);
      expect(retry.stats().gaveUp).toMatchObject({ aborted: 0, deadline: 1 });
      const samples = await scrape(registry);
      expect(valueOf(samples, 'x_retry_calls_total', { policy: 'r', result: 'aborted' })).toBe(0);
      expect(valueOf(samples, 'x_retry_calls_total', { policy: 'r', result: 'deadline' })).toBe(1);
    } finally {
      collector.stop();
    }
  });

  it('retry → breaker → timeout: hung attempts become TIMEOUTs the breaker counts; retries run only while the caller deadline leaves time', async () => {
    const { clock, events } = setup();
    const { retry, breaker, timeout } = policies(clock, events);
    const starts: Array<{ at: number; deadline: number | undefined; attempt: number }> = [];
    const s = watch(
      compose(retry, breaker, timeout).execute(
        (ctx) => {
          starts.push({ at: clock.now(), deadline: ctx.deadline, attempt: ctx.attempt });
          return hang(ctx);
        },
        { deadline: 1_000 },
      ),
      clock,
    );
    await clock.advance(2_000);
    // Each attempt sees min(own timeout, caller deadline); the last one gets only what is left.
    expect(starts).toEqual([
      { at: 0, deadline: 300, attempt: 1 },
      { at: 400, deadline: 700, attempt: 2 },
      { at: 800, deadline: 1_000, attempt: 3 },
    ]);
    expect(s.at).toBe(1_000);
    expect(s.error).toMatchObject({ code: 'RETRY_EXHAUSTED', reason: 'deadline' });
    expect((s.error as { cause?: unknown }).cause).toMatchObject({ code: 'TIMEOUT', timeoutMs: 200 });
    expect(breaker.stats().totals).toMatchObject({ failures: 3, timeouts: 3 });
    expect(clock.pendingTimers).toBe(0);
  });

  it('retry → breaker → timeout: BREAKER_OPEN is waited out exactly when retryAfterMs fits, landing on the half-open probe', async () => {
    const { clock, events } = setup();
    const { retry, breaker, timeout } = policies(clock, events, { failureThreshold: 2, openMs: 1_000 });
    const calls: Array<{ at: number; state: string }> = [];
    const s = watch(
      compose(retry, breaker, timeout).execute(
        (ctx) => {
          calls.push({ at: clock.now(), state: breaker.state });
          return calls.length <= 2 ? hang(ctx) : 'ok';
        },
        { deadline: 5_000 },
      ),
      clock,
    );
    await clock.advance(5_000);
    // 0 hang → 300 TIMEOUT; 400 hang → 700 TIMEOUT, opens until 1 700; 800 BREAKER_OPEN
    // (retryAfterMs 900) → waits 900, not the 100 ms backoff → 1 700 half-open probe.
    expect(s.value).toBe('ok');
    expect(calls).toEqual([
      { at: 0, state: 'closed' },
      { at: 400, state: 'closed' },
      { at: 1_700, state: 'half_open' },
    ]);
    expect(breaker.stats().totals.rejected).toBe(1);
  });

  it('retry → breaker → timeout: BREAKER_OPEN whose retryAfterMs does not fit ends the retry at once', async () => {
    const { clock, events } = setup();
    const { retry, breaker, timeout } = policies(clock, events, { failureThreshold: 2, openMs: 1_000 });
    let calls = 0;
    const s = watch(
      compose(retry, breaker, timeout).execute(
        (ctx) => {
          calls++;
          return hang(ctx);
        },
        { deadline: 1_500 },
      ),
      clock,
    );
    await clock.advance(5_000);
    expect(calls).toBe(2);
    expect(s.at).toBe(800);
    expect(s.error).toMatchObject({ code: 'RETRY_EXHAUSTED', reason: 'deadline' });
    expect(isXError((s.error as { cause?: unknown }).cause, 'BREAKER_OPEN')).toBe(true);
  });

  it('timeout → retry → breaker: retries only while time remains, never sleeping into the outer deadline', async () => {
    const { clock, events } = setup();
    const { retry, breaker } = policies(clock, events, { backoff: 300 });
    const total = createTimeout(1_000, { name: 'total', clock, events });
    const starts: Array<{ at: number; deadline: number | undefined }> = [];
    const s = watch(
      compose(total, retry, breaker).execute(async (ctx) => {
        starts.push({ at: clock.now(), deadline: ctx.deadline });
        await sleep(200, { signal: ctx.signal, clock });
        throw new Error('boom');
      }),
      clock,
    );
    await clock.advance(2_000);
    expect(starts).toEqual([
      { at: 0, deadline: 1_000 },
      { at: 500, deadline: 1_000 },
    ]);
    expect(s.at).toBe(700);
    expect(s.error).toMatchObject({ code: 'RETRY_EXHAUSTED', reason: 'deadline' });
    expect(breaker.stats().totals.failures).toBe(2);
  });

  it('execute(fn, { deadline }) on a composed policy is ctx.deadline in fn, whatever the order', async () => {
    const { clock, events } = setup();
    const { retry, breaker, timeout } = policies(clock, events, { timeoutMs: 10_000 });
    const stacks: Array<Policy<object, unknown>> = [
      compose(fallback(() => 'fb'), breaker, retry, timeout),
      compose(retry, breaker, timeout),
      compose(timeout, retry, breaker),
      compose(retry, breaker),
    ];
    for (const stack of stacks) {
      const seenDeadlines: Array<number | undefined> = [];
      const s = watch(
        stack.execute(
          (ctx: ExecutionContext) => {
            seenDeadlines.push(ctx.deadline);
            if (ctx.attempt === 1) throw new Error('once');
            return 'ok';
          },
          { deadline: 2_500 },
        ),
        clock,
      );
      await clock.advance(200);
      expect(s.value).toBe('ok');
      expect(seenDeadlines).toEqual([2_500, 2_500]);
    }
  });

  it('fallback outermost: gets the typed failure; a caller abort at any stage is never replaced; an enclosing timeout is', async () => {
    const { clock, events } = setup();
    const { retry, breaker, timeout } = policies(clock, events, { maxAttempts: 2 });
    const handled: unknown[] = [];
    const fb = fallback((error) => {
      handled.push(error);
      return 'fallback';
    });
    const policy = compose(fb, retry, breaker, timeout);
    const s1 = watch(policy.execute(hang), clock);
    await clock.advance(1_000);
    expect(s1.value).toBe('fallback');
    expect(handled[0]).toMatchObject({ code: 'RETRY_EXHAUSTED', cause: { code: 'TIMEOUT' } });
    // Abort while running inside the timeout (50) and while waiting in the retry's backoff (350).
    for (const abortAfter of [50, 350]) {
      const controller = new AbortController();
      const reason = new Error(`caller after ${abortAfter}`);
      const t0 = clock.now();
      const s2 = watch(policy.execute(hang, { signal: controller.signal }), clock);
      clock.setTimeout(() => controller.abort(reason), abortAfter);
      await clock.advance(1_000);
      expect(s2.error).toBe(reason);
      expect(s2.at).toBe(t0 + abortAfter);
    }
    expect(handled).toHaveLength(1);
    const outer = createTimeout(250, { name: 'outer', clock, events });
    const s3 = watch(compose(outer, fb, retry, breaker, timeout).execute(hang), clock);
    await clock.advance(1_000);
    expect(s3.value).toBe('fallback');
    // The TIMEOUT itself, or the retry's RETRY_EXHAUSTED ('deadline') caused by it.
    const second = handled[1] as { code?: string; cause?: unknown };
    expect(isXError(second, 'TIMEOUT') || (isXError(second, 'RETRY_EXHAUSTED') && isXError(second.cause, 'TIMEOUT'))).toBe(true);
  });

  it('executeOutcome through the whole stack never throws and never rejects', async () => {
    const { clock, events } = setup();
    const { retry, breaker, timeout } = policies(clock, events, { maxAttempts: 2, failureThreshold: 2 });
    const brokenFallback = fallback(() => {
      throw new Error('fallback broke');
    });
    const stacks: Array<Policy<object, unknown>> = [compose(retry, breaker, timeout), compose(timeout, retry, breaker), compose(brokenFallback, retry, breaker, timeout)];
    const fns: Array<(ctx: ExecutionContext) => unknown> = [
      () => 1,
      () => {
        throw new Error('sync');
      },
      () => Promise.reject(new Error('async')),
      hang,
      () => Promise.reject(undefined),
      () => ({
        then() {
          throw new Error('bad thenable');
        },
      }),
    ];
    const aborted = new AbortController();
    aborted.abort(new Error('pre'));
    for (const stack of stacks) {
      for (const fn of fns) {
        for (const options of [undefined, { signal: aborted.signal }, { deadline: clock.now() }, { deadline: clock.now() + 10_000 }]) {
          let pending: Promise<unknown> | undefined;
          expect(() => (pending = stack.executeOutcome(fn, options))).not.toThrow();
          const s = watch(pending as Promise<unknown>, clock);
          await clock.advance(2_000);
          expect(s).toMatchObject({ settled: true, value: { ok: expect.any(Boolean) } });
          expect(s.error).toBeUndefined();
        }
      }
    }
  });

  describe('caller abort at each stage: own reason at once, not counted by the breaker, stats say aborted, nothing left behind', () => {
    const orders = {
      'retry → breaker → timeout': (p: ReturnType<typeof policies>) => compose(p.retry, p.breaker, p.timeout),
      'timeout → retry → breaker': (p: ReturnType<typeof policies>, clock: VirtualClock, events: EventBus) =>
        compose(createTimeout(5_000, { name: 'total', clock, events }), p.retry, p.breaker),
    };
    for (const [order, build] of Object.entries(orders)) {
      it(`${order}: queued in the retry's backoff`, async () => {
        const { clock, events } = setup();
        const p = policies(clock, events, { backoff: 1_000 });
        const controller = new AbortController();
        const reason = new Error('stop');
        let n = 0;
        const fn = () => (++n === 1 ? Promise.reject(new Error('flaky')) : 'ok');
        const s = watch(build(p, clock, events).execute(fn, { signal: controller.signal }), clock);
        await clock.advance(500);
        controller.abort(reason);
        await clock.flush();
        expect(s).toMatchObject({ error: reason, at: 500 });
        expect(p.breaker.stats().totals).toMatchObject({ failures: 1, ignored: 0, successes: 0 });
        expect(p.retry.stats().gaveUp.aborted).toBe(1);
        expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
        expect(clock.pendingTimers).toBe(0);
      });

      it(`${order}: running inside the timeout`, async () => {
        const { clock, events } = setup();
        const p = policies(clock, events);
        const controller = new AbortController();
        const reason = new Error('stop');
        const s = watch(build(p, clock, events).execute(hang, { signal: controller.signal }), clock);
        await clock.advance(100);
        controller.abort(reason);
        await clock.flush();
        expect(s).toMatchObject({ error: reason, at: 100 });
        expect(p.breaker.stats().totals).toMatchObject({ failures: 0, ignored: 1 });
        expect(p.retry.stats().gaveUp.aborted).toBe(1);
        expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
        expect(clock.pendingTimers).toBe(0);
      });

      it(`${order}: during the breaker's half-open probe (the permit comes back)`, async () => {
        const { clock, events } = setup();
        const p = policies(clock, events, { failureThreshold: 1, openMs: 1_000 });
        const policy = build(p, clock, events);
        await p.breaker.execute(() => Promise.reject(new Error('trip'))).catch(() => {});
        await clock.advance(1_000);
        expect(p.breaker.state).toBe('half_open');
        const before = p.breaker.stats().totals;
        const controller = new AbortController();
        const reason = new Error('stop');
        const s = watch(policy.execute(hang, { signal: controller.signal }), clock);
        await clock.advance(100);
        expect(p.breaker.stats().halfOpenProbes).toBe(1);
        controller.abort(reason);
        await clock.flush();
        expect(s).toMatchObject({ error: reason, at: 1_100 });
        const after = p.breaker.stats();
        expect(after).toMatchObject({ state: 'half_open', halfOpenProbes: 0 });
        expect(after.totals.failures).toBe(before.failures);
        expect(after.totals.ignored).toBe(before.ignored + 1);
        expect(p.retry.stats().gaveUp.aborted).toBe(1);
        expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
        expect(clock.pendingTimers).toBe(0);
        await expect(policy.execute(() => 'next caller gets the probe')).resolves.toBe('next caller gets the probe');
      });
    }
  });

  it('1 000 calls on one long-lived caller signal leave no abort listener and no timer (three stacks)', async () => {
    const { clock, events } = setup();
    const { retry, breaker, timeout } = policies(clock, events, { backoff: 10 });
    const aggressive = createTimeout(300, { name: 'hard', strategy: 'aggressive', clock, events });
    const total = createTimeout(5_000, { name: 'total', clock, events });
    const signal = new AbortController().signal;
    for (const policy of [compose(retry, breaker, timeout), compose(total, retry, breaker), compose(retry, breaker, aggressive)]) {
      for (let i = 0; i < 1_000; i++) {
        let attempt = 0;
        const pending = policy.execute(
          async (ctx) => {
            attempt++;
            if (i % 3 === 0) await sleep(5, { signal: ctx.signal, clock });
            if (i % 4 === 0 && attempt === 1) throw new Error('transient');
            if (i % 50 === 0 && attempt === 2) return hang(ctx).catch(() => 'cut');
            return i;
          },
          { signal },
        );
        await clock.runAll();
        await pending.catch(() => {});
      }
      expect(getEventListeners(signal, 'abort')).toHaveLength(0);
      expect(clock.pendingTimers).toBe(0);
    }
  }, 60_000);

  it("events: a '*' listener sees every package's events, inner to outer, in time order; a throwing listener changes nothing and is reported", async () => {
    const run = async (throwing: boolean) => {
      const { clock, events, seen } = setup();
      const errors: XEvent[] = [];
      events.on('core.listener_error', (e) => errors.push(e));
      if (throwing) {
        events.on('*', (e) => {
          if (e.type !== 'core.listener_error') throw new Error(`listener broke on ${e.type}`);
        });
      }
      const { retry, breaker, timeout } = policies(clock, events, { failureThreshold: 2, openMs: 1_000 });
      let n = 0;
      const s = watch(compose(retry, breaker, timeout).execute((ctx) => (++n <= 2 ? hang(ctx) : 'ok'), { deadline: 5_000 }), clock);
      await clock.advance(5_000);
      const policyEvents = seen.filter((e) => !e.type.startsWith('core.'));
      return { s, policyEvents, errors, breaker: breaker.stats(), retry: retry.stats() };
    };
    const quiet = await run(false);
    expect(quiet.policyEvents.map((e) => `${e.type}@${e.time}`)).toEqual([
      'timeout.timed_out@300',
      'breaker.failure@300',
      'retry.attempt_failed@300',
      'retry.scheduled@300',
      'timeout.timed_out@700',
      'breaker.failure@700',
      'breaker.state_change@700',
      'retry.attempt_failed@700',
      'retry.scheduled@700',
      'breaker.rejected@800',
      'retry.attempt_failed@800',
      'retry.scheduled@800',
      'breaker.state_change@1700',
      'breaker.success@1700',
      'retry.succeeded@1700',
    ]);
    for (const e of quiet.policyEvents) {
      expect(e.type.startsWith(`${e.source}.`)).toBe(true);
      expect(['r', 'b', 't']).toContain(e.name);
    }
    // Durations are milliseconds.
    expect(quiet.policyEvents.find((e) => e.type === 'breaker.failure')).toMatchObject({ durationMs: 300, timeout: true });
    expect(quiet.policyEvents.find((e) => e.type === 'retry.attempt_failed')).toMatchObject({ durationMs: 300 });
    expect(quiet.policyEvents.filter((e) => e.type === 'retry.scheduled').map((e) => (e as unknown as { delayMs: number }).delayMs)).toEqual([100, 100, 900]);

    const noisy = await run(true);
    expect(noisy.s).toEqual(quiet.s);
    expect(noisy.breaker).toEqual(quiet.breaker);
    expect(noisy.retry).toEqual(quiet.retry);
    expect(noisy.policyEvents.map((e) => e.type)).toEqual(quiet.policyEvents.map((e) => e.type));
    const reported = noisy.errors.map((e) => (e as unknown as { eventType: string }).eventType).filter((t) => !t.startsWith('core.'));
    expect(reported).toEqual(quiet.policyEvents.map((e) => e.type));
    expect(noisy.errors.every((e) => e.source === 'core' && e.type === 'core.listener_error')).toBe(true);
  });

  it('the one-line attach on the default bus, scraped after a composed sequence, matches the policies\u2019 own stats()', async () => {
    // Policies on the default bus (no `events`), exporter attached in one line (no `bus`).
    const clock = createVirtualClock({ now: 0 });
    const registry = new Registry();
    const collector = collectMetrics({ registry, durations: true });
    try {
      const retry = createRetry({ name: 'audit-compose-r', maxAttempts: 3, backoff: 100, clock });
      const breaker = createBreaker({ name: 'audit-compose-b', failureThreshold: 2, openMs: 1_000, clock });
      const timeout = createTimeout(300, { name: 'audit-compose-t', clock });
      const policy = compose(retry, breaker, timeout);
      await policy.execute(() => 'ok');
      const failing = watch(policy.execute(hang, { deadline: 1_000 }), clock); // 2 TIMEOUTs, opens, BREAKER_OPEN
      await clock.advance(2_000);
      expect(failing.error).toMatchObject({ code: 'RETRY_EXHAUSTED' });
      const samples = await scrape(registry); // the breaker half-opened at 1 700 with no call and no event
      const bs = breaker.stats();
      const rs = retry.stats();
      expect(bs.state).toBe('half_open');
      expect(valueOf(samples, 'x_circuit_breaker_state', { name: 'audit-compose-b' })).toBe(1);
      expect(valueOf(samples, 'x_circuit_breaker_requests_total', { name: 'audit-compose-b', result: 'success' })).toBe(bs.totals.successes);
      expect(valueOf(samples, 'x_circuit_breaker_requests_total', { name: 'audit-compose-b', result: 'failure' })).toBe(bs.totals.failures);
      expect(valueOf(samples, 'x_circuit_breaker_requests_total', { name: 'audit-compose-b', result: 'rejected' })).toBe(bs.totals.rejected);
      expect(bs.totals).toMatchObject({ successes: 1, failures: 2, rejected: 1, timeouts: 2 });
      expect(valueOf(samples, 'x_circuit_breaker_state_changes_total', { name: 'audit-compose-b', from_state: 'closed', to_state: 'open' })).toBe(1);
      expect(valueOf(samples, 'x_circuit_breaker_state_changes_total', { name: 'audit-compose-b', from_state: 'open', to_state: 'half_open' })).toBe(1);
      expect(valueOf(samples, 'x_circuit_breaker_request_duration_seconds_count', { name: 'audit-compose-b' })).toBe(3);
      expect(valueOf(samples, 'x_circuit_breaker_request_duration_seconds_sum', { name: 'audit-compose-b' })).toBeCloseTo(0.6, 6);
      expect(rs.attempts).toEqual([2, 1, 1]);
      rs.attempts.forEach((n, i) => expect(valueOf(samples, 'x_retry_attempts_total', { policy: 'audit-compose-r', attempt: String(i + 1) })).toBe(n));
      for (const [reason, n] of Object.entries(rs.gaveUp)) {
        expect(valueOf(samples, 'x_retry_calls_total', { policy: 'audit-compose-r', result: reason })).toBe(n);
      }
      expect(valueOf(samples, 'x_retry_calls_total', { policy: 'audit-compose-r', result: 'exhausted' })).toBe(1);
      expect(valueOf(samples, 'x_retry_backoff_delay_seconds_count', { policy: 'audit-compose-r' })).toBe(2);
      expect(valueOf(samples, 'x_retry_backoff_delay_seconds_sum', { policy: 'audit-compose-r' })).toBeCloseTo(0.2, 6);
      expect(valueOf(samples, 'x_timeouts_total', { policy: 'audit-compose-t', strategy: 'cooperative' })).toBe(bs.totals.timeouts);
    } finally {
      collector.stop();
    }
    expect(defaultEventBus().hasListeners('retry.scheduled')).toBe(false);
  });

  it('a scrape after tracked policies were garbage-collected succeeds and their series disappear', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const { clock, events } = setup();
    const registry = new Registry();
    const collector = collectMetrics({ registry, bus: events });
    try {
      const kept = createBreaker({ name: 'kept', clock, events });
      (() => {
        const breaker = createBreaker({ name: 'gone', clock, events });
        const retry = createRetry({ name: 'gone', clock, events });
        void breaker.execute(() => 1);
        void retry.execute(() => 1);
      })();
      const isGone = (s: { labels: Readonly<Record<string, string>> }) => s.labels['name'] === 'gone' || s.labels['policy'] === 'gone';
      expect((await scrape(registry)).some(isGone)).toBe(true);
      for (let i = 0; i < 5; i++) {
        await new Promise((resolve) => setImmediate(resolve));
        gc();
      }
      const samples = await scrape(registry);
      expect(samples.some(isGone)).toBe(false);
      expect(valueOf(samples, 'x_circuit_breaker_state', { name: 'kept' })).toBe(0);
      expect(kept.state).toBe('closed');
    } finally {
      collector.stop();
    }
  });
});
