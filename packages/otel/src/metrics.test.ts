import { MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import type { DataPoint, MetricData } from '@opentelemetry/sdk-metrics';
import { createBreaker } from '@x/breaker';
import { createBulkhead } from '@x/bulkhead';
import { createEventBus } from '@x/core';
import type { XEvent } from '@x/core';
import { createVirtualClock } from '@x/core/testing';
import { createRateLimiter } from '@x/ratelimit';
import { createRetry } from '@x/retry';
import { createTimeout } from '@x/timeout';
import { describe, expect, it } from 'vitest';
import { otelMetrics } from './index.js';

/** A pull reader: `collect()` on demand, as a Prometheus exporter or a test does. */
class TestReader extends MetricReader {
  protected async onShutdown(): Promise<void> {}
  protected async onForceFlush(): Promise<void> {}
}

function setup() {
  const reader = new TestReader();
  const provider = new MeterProvider({ readers: [reader] });
  const meter = provider.getMeter('x-otel-test');
  const clock = createVirtualClock({ now: 0 });
  const bus = createEventBus();
  const collect = async (): Promise<Map<string, MetricData>> => {
    const { resourceMetrics } = await reader.collect();
    return new Map(resourceMetrics.scopeMetrics.flatMap((s) => s.metrics).map((m) => [m.descriptor.name, m]));
  };
  return { meter, clock, bus, collect };
}

const point = (metric: MetricData | undefined, attributes: Record<string, unknown>): DataPoint<unknown> | undefined =>
  (metric?.dataPoints as DataPoint<unknown>[] | undefined)?.find((p) => Object.entries(attributes).every(([k, v]) => p.attributes[k] === v));
const value = (metric: MetricData | undefined, attributes: Record<string, unknown>) => point(metric, attributes)?.value;
const fail = () => Promise.reject(new Error('down'));

describe('otelMetrics', () => {
  it('reports breakers: state gauge, calls by result (monotonic across reset) and state changes', async () => {
    const { meter, clock, bus, collect } = setup();
    const metrics = otelMetrics({ meter, bus });
    const breaker = createBreaker({ name: 'pricing', failureThreshold: 1, openMs: 1_000, clock, events: bus });
    for (let i = 0; i < 3; i++) await breaker.execute(() => 1);
    await breaker.execute(fail).catch(() => {});
    await breaker.execute(() => 1).catch(() => {});
    let m = await collect();
    expect(m.get('resilience.circuit_breaker.state')?.descriptor.unit).toBe('1');
    expect(value(m.get('resilience.circuit_breaker.state'), { 'resilience.policy.name': 'pricing' })).toBe(2);
    const calls = m.get('resilience.circuit_breaker.calls');
    expect(value(calls, { 'resilience.circuit_breaker.result': 'success' })).toBe(3);
    expect(value(calls, { 'resilience.circuit_breaker.result': 'failure' })).toBe(1);
    expect(value(calls, { 'resilience.circuit_breaker.result': 'rejected' })).toBe(1);
    expect(value(m.get('resilience.circuit_breaker.state_changes'), { 'resilience.circuit_breaker.from_state': 'closed', 'resilience.circuit_breaker.to_state': 'open' })).toBe(1);
    breaker.reset();
    await breaker.execute(() => 1);
    m = await collect();
    // The breaker's own total went 3 → 0 → 1: the reported count never goes down.
    expect(value(m.get('resilience.circuit_breaker.calls'), { 'resilience.circuit_breaker.result': 'success' })).toBe(4);
    expect(value(m.get('resilience.circuit_breaker.state'), { 'resilience.policy.name': 'pricing' })).toBe(0);
    metrics.stop();
  });

  it('reports retries (attempts, results, backoff in seconds), timeouts, bulkheads and rate limits', async () => {
    const { meter, clock, bus, collect } = setup();
    const metrics = otelMetrics({ meter, bus });
    const retry = createRetry({ name: 'api', maxAttempts: 2, backoff: 250, clock, events: bus });
    const pending = retry.execute(fail).catch(() => {});
    await clock.advance(250);
    await pending;
    const timeout = createTimeout(10, { name: 'slow', strategy: 'aggressive', clock, events: bus });
    const timed = timeout.execute(() => new Promise(() => {})).catch(() => {});
    await clock.advance(10);
    await timed;
    const bulkhead = createBulkhead({ name: 'db', maxConcurrent: 1, maxQueue: 0, clock, events: bus });
    let release = (): void => {};
    const held = bulkhead.execute(() => new Promise<void>((resolve) => (release = resolve)));
    await bulkhead.execute(() => 1).catch(() => {});
    const limiter = createRateLimiter({ name: 'login', limit: 1, periodMs: 1_000, clock, events: bus });
    await limiter.limit('k');
    await limiter.limit('k');
    const m = await collect();
    expect(value(m.get('resilience.retry.attempts'), { 'resilience.retry.attempt': 1 })).toBe(1);
    expect(value(m.get('resilience.retry.attempts'), { 'resilience.retry.attempt': 2 })).toBe(1);
    expect(value(m.get('resilience.retry.calls'), { 'resilience.retry.result': 'exhausted' })).toBe(1);
    const backoff = point(m.get('resilience.retry.backoff.duration'), { 'resilience.policy.name': 'api' })?.value as { sum: number; count: number };
    expect(backoff).toMatchObject({ sum: 0.25, count: 1 });
    expect(m.get('resilience.retry.backoff.duration')?.descriptor.unit).toBe('s');
    expect(value(m.get('resilience.timeout.timeouts'), { 'resilience.policy.name': 'slow', 'resilience.timeout.strategy': 'aggressive' })).toBe(1);
    expect(value(m.get('resilience.bulkhead.active'), { 'resilience.policy.name': 'db' })).toBe(1);
    expect(value(m.get('resilience.bulkhead.limit'), { 'resilience.policy.name': 'db' })).toBe(1);
    expect(value(m.get('resilience.bulkhead.rejections'), { 'resilience.bulkhead.reason': 'full' })).toBe(1);
    expect(value(m.get('resilience.rate_limit.decisions'), { 'resilience.rate_limit.outcome': 'allowed' })).toBe(1);
    expect(value(m.get('resilience.rate_limit.decisions'), { 'resilience.rate_limit.outcome': 'limited' })).toBe(1);
    // Keys never become attributes.
    expect(JSON.stringify([...m.values()].flatMap((x) => x.dataPoints.map((p) => p.attributes)))).not.toContain('"k"');
    release();
    await held;
    metrics.stop();
  });

  it('counts store trouble of any package and listener errors; a meter that throws never reaches the emitter', async () => {
    const { meter, bus, collect } = setup();
    const metrics = otelMetrics({ meter, bus });
    bus.emit({ type: 'lock.store_error', source: 'lock', name: 'redlock[1]', time: 0 } as unknown as XEvent);
    bus.emit({ type: 'ratelimit.store_degraded', source: 'ratelimit', name: 'redis', time: 0 } as unknown as XEvent);
    bus.on('breaker.state_change', () => {
      throw new Error('user bug');
    });
    bus.emit({ type: 'breaker.state_change', source: 'breaker', name: 'b', time: 0, from: 'closed', to: 'open' } as unknown as XEvent);
    const m = await collect();
    expect(value(m.get('resilience.store.errors'), { 'resilience.component': 'lock', 'resilience.store.name': 'redlock[1]' })).toBe(1);
    expect(value(m.get('resilience.store.degradations'), { 'resilience.component': 'ratelimit', 'resilience.store.name': 'redis' })).toBe(1);
    expect(value(m.get('resilience.event_listener.errors'), { 'resilience.event.type': 'breaker.state_change' })).toBe(1);
    metrics.stop();

    const throwing = Object.assign(Object.create(meter) as object, {
      createCounter: () => ({
        add: () => {
          throw new Error('exporter down');
        },
      }),
    });
    const broken = otelMetrics({ meter: throwing as never, bus });
    const breaker = createBreaker({ name: 'x', failureThreshold: 1, events: bus });
    await expect(breaker.execute(fail)).rejects.toThrow('down');
    expect(breaker.state).toBe('open');
    broken.stop();
  });

  it('stop() unsubscribes and stops the observable instruments; bad options fail with INVALID_OPTIONS', async () => {
    const { meter, clock, bus, collect } = setup();
    const metrics = otelMetrics({ meter, bus });
    const breaker = createBreaker({ name: 'pricing', clock, events: bus });
    expect(value((await collect()).get('resilience.circuit_breaker.state'), {})).toBe(0);
    metrics.stop();
    metrics.stop();
    expect(bus.hasListeners('breaker.state_change')).toBe(false);
    breaker.forceOpen();
    // The callback is gone: the SDK keeps the last value it had, the open state is never read.
    expect(value((await collect()).get('resilience.circuit_breaker.state'), {}) ?? 0).toBe(0);
    expect(() => otelMetrics({} as never)).toThrow(/meter/);
    expect(() => otelMetrics({ meter, bus: {} as never })).toThrow(/bus/);
    expect(() => otelMetrics({ meter, buss: bus } as never)).toThrow(expect.objectContaining({ code: 'INVALID_OPTIONS' }));
  });
});
