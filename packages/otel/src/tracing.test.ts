import { INVALID_SPAN_CONTEXT, SpanStatusCode, context, trace } from '@opentelemetry/api';
import type { Tracer } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { AlwaysOffSampler, BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { createBreaker } from '@x/breaker';
import { compose, createEventBus } from '@x/core';
import { createRateLimiter } from '@x/ratelimit';
import { createRetry } from '@x/retry';
import { createTimeout } from '@x/timeout';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { traceEvents, traced } from './index.js';

const contextManager = new AsyncLocalStorageContextManager();
beforeAll(() => void context.setGlobalContextManager(contextManager.enable()));
afterAll(() => {
  contextManager.disable();
  context.disable();
});

const exporter = new InMemorySpanExporter();
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
const tracer = provider.getTracer('x-otel-test');
afterEach(() => exporter.reset());

const spans = (): ReadableSpan[] => exporter.getFinishedSpans();
const byName = (name: string): ReadableSpan[] => spans().filter((s) => s.name === name);
const parentId = (span: ReadableSpan | undefined): string | undefined => span?.parentSpanContext?.spanId;
const down = () => Promise.reject(Object.assign(new Error('downstream failed'), { code: 'ECONNRESET' }));

describe('traced', () => {
  it('opens one span per execution, named after the policy, status unset on success, active for the function', async () => {
    const events = createEventBus();
    const breaker = createBreaker({ name: 'pricing', events });
    const policy = traced(breaker, tracer, { events, attributes: { 'peer.service': 'pricing-api' } });
    let inside: string | undefined;
    const value = await policy.execute(() => {
      inside = trace.getActiveSpan()?.spanContext().spanId;
      return 42;
    });
    expect(value).toBe(42);
    const [span] = spans();
    expect(span?.name).toBe('pricing');
    expect(span?.status.code).toBe(SpanStatusCode.UNSET);
    expect(span?.attributes).toMatchObject({ 'resilience.policy.name': 'pricing', 'peer.service': 'pricing-api' });
    expect(inside).toBe(span?.spanContext().spanId);
    expect(policy.name).toBe('pricing');
  });

  it('a breaker rejection is an ERROR span with error.type BREAKER_OPEN, the exception and a breaker.rejected event', async () => {
    const events = createEventBus();
    const breaker = createBreaker({ name: 'pricing', failureThreshold: 1, openMs: 60_000, events });
    const policy = traced(breaker, tracer, { events });
    await expect(policy.execute(down)).rejects.toMatchObject({ code: 'ECONNRESET' });
    await expect(policy.execute(() => 1)).rejects.toMatchObject({ code: 'BREAKER_OPEN' });
    const [failed, rejected] = spans();
    expect(failed?.status).toEqual({ code: SpanStatusCode.ERROR, message: 'downstream failed' });
    expect(failed?.attributes['error.type']).toBe('ECONNRESET');
    expect(failed?.events.map((e) => e.name)).toEqual(['breaker.state_change', 'exception']);
    expect(rejected?.status.code).toBe(SpanStatusCode.ERROR);
    expect(rejected?.attributes['error.type']).toBe('BREAKER_OPEN');
    const event = rejected?.events.find((e) => e.name === 'breaker.rejected');
    expect(event?.attributes).toMatchObject({ 'resilience.policy.name': 'pricing', 'resilience.breaker.reason': 'open', 'resilience.breaker.state': 'open' });
    expect(rejected?.events.map((e) => e.name)).toContain('exception');
  });

  it('executeOutcome never rejects and still marks a failure as ERROR', async () => {
    const events = createEventBus();
    const policy = traced(createBreaker({ name: 'p', events }), tracer, { events });
    const outcome = await policy.executeOutcome(down);
    expect(outcome.ok).toBe(false);
    expect(spans()[0]?.status.code).toBe(SpanStatusCode.ERROR);
    expect(await policy.executeOutcome(() => 'fine')).toEqual({ ok: true, value: 'fine' });
    expect(spans()[1]?.status.code).toBe(SpanStatusCode.UNSET);
  });

  it('retries and timeouts are span events; composed traced policies nest, and spans of the function are children', async () => {
    const events = createEventBus();
    const retry = traced(createRetry({ name: 'retry', maxAttempts: 3, backoff: 5, events }), tracer, { events });
    const breaker = traced(createBreaker({ name: 'breaker', failureThreshold: 10, events }), tracer, { events });
    const timeout = createTimeout(20, { name: 'timeout', events });
    let attempt = 0;
    const result = await compose(retry, breaker, timeout).execute(async ({ signal }) => {
      attempt++;
      const span = tracer.startSpan(`http GET #${attempt}`);
      span.end();
      if (attempt === 1) throw new Error('flaky');
      if (attempt === 2) {
        await new Promise((resolve, reject) => {
          const t = setTimeout(resolve, 1_000);
          signal.addEventListener('abort', () => {
            clearTimeout(t);
            reject(signal.reason);
          });
        });
      }
      return 'ok';
    });
    expect(result).toBe('ok');
    const [outer] = byName('retry');
    const inner = byName('breaker');
    expect(inner).toHaveLength(3);
    for (const span of inner) expect(parentId(span)).toBe(outer?.spanContext().spanId);
    for (const [i, span] of inner.entries()) expect(parentId(byName(`http GET #${i + 1}`)[0])).toBe(span.spanContext().spanId);
    expect(outer?.events.map((e) => e.name)).toEqual(['retry.attempt_failed', 'retry.scheduled', 'retry.attempt_failed', 'retry.scheduled']);
    expect(outer?.events[1]?.attributes).toMatchObject({ 'resilience.retry.attempt': 2, 'resilience.retry.delay_ms': 5, 'error.type': 'Error' }) // the attempt it schedules;
    expect(outer?.events[2]?.attributes?.['error.type']).toBe('TIMEOUT');
    expect(inner[1]?.events.map((e) => e.name)).toContain('timeout.timed_out');
    expect(inner[1]?.status.code).toBe(SpanStatusCode.ERROR);
    expect(inner[1]?.attributes['error.type']).toBe('TIMEOUT');
    expect(outer?.status.code).toBe(SpanStatusCode.UNSET);
    // Every span of the call is in one trace.
    expect(new Set(spans().map((s) => s.spanContext().traceId)).size).toBe(1);
  });

  it('a rate-limit wait is a span event with the time waited', async () => {
    const events = createEventBus();
    const limiter = createRateLimiter({ name: 'api', limit: 1, periodMs: 60, events });
    const policy = traced(limiter.policy('global', { maxWaitMs: 200 }), tracer, { events, spanName: 'limited call' });
    await policy.execute(() => 1);
    await policy.execute(() => 2);
    const [first, second] = byName('limited call');
    expect(first?.events).toEqual([]);
    const waited = second?.events.find((e) => e.name === 'ratelimit.allowed');
    expect(waited?.attributes?.['resilience.ratelimit.waited_ms']).toBeGreaterThan(0);
  });

  it('a tracer sampling nothing exports nothing and the call still works; no tracer returns the policy itself', async () => {
    const events = createEventBus();
    const off = new BasicTracerProvider({ sampler: new AlwaysOffSampler(), spanProcessors: [new SimpleSpanProcessor(exporter)] }).getTracer('off');
    const breaker = createBreaker({ name: 'pricing', events });
    let active: boolean | undefined;
    const policy = traced(breaker, off, { events });
    expect(
      await policy.execute(() => {
        const span = trace.getActiveSpan();
        active = span !== undefined && !span.isRecording() && span.spanContext().traceFlags === 0;
        return 'v';
      }),
    ).toBe('v');
    expect(active).toBe(true); // the sampled-out span is propagated: children are not sampled either
    expect(spans()).toEqual([]);
    expect(traced(breaker, undefined)).toBe(breaker);
    // The API's tracer with no SDK registered: a no-op.
    expect(await traced(breaker, trace.getTracer('none'), { events }).execute(() => 'w')).toBe('w');
    expect(spans()).toEqual([]);
  });

  it('with a no-op tracer asks it again only once every 1024 calls, and picks up a real one within that', async () => {
    const events = createEventBus();
    let asked = 0;
    let real = false;
    const switching = {
      startSpan: (name: string, options: object) => {
        asked++;
        return real ? tracer.startSpan(name, options) : trace.wrapSpanContext(INVALID_SPAN_CONTEXT);
      },
    } as unknown as Tracer;
    const policy = traced(createBreaker({ name: 'p', events }), switching, { events });
    for (let i = 0; i < 2_048; i++) await policy.execute(() => i);
    expect(asked).toBe(2); // the first call, then the 1 025th
    real = true;
    for (let i = 0; i < 1_024; i++) await policy.execute(() => i);
    expect(spans().length).toBeGreaterThan(0);
    expect(spans().length).toBeLessThanOrEqual(1_024);
  });

  it('rejects what is not a policy or a tracer, and unknown options, with INVALID_OPTIONS', () => {
    const breaker = createBreaker({ name: 'p', events: createEventBus() });
    expect(() => traced({} as never, tracer)).toThrow(expect.objectContaining({ code: 'INVALID_OPTIONS' }));
    expect(() => traced(breaker, {} as never)).toThrow(/tracer/);
    expect(() => traced(breaker, tracer, { spanname: 'x' } as never)).toThrow(/spanname/);
    expect(() => traced(breaker, tracer, { kind: 9 as never })).toThrow(/kind/);
  });

  it('traceEvents is installed once per bus and removable; events outside a recording span are ignored', async () => {
    const events = createEventBus();
    const remove = traceEvents(events);
    expect(traceEvents(events)).toBe(remove);
    expect(events.hasListeners('retry.scheduled')).toBe(true);
    events.emit({ type: 'breaker.rejected', source: 'breaker', name: 'x', time: 0, reason: 'open', state: 'open', retryAfterMs: 1 } as never);
    remove();
    expect(events.hasListeners('retry.scheduled')).toBe(false);
  });
});
