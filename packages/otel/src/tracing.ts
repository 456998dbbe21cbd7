import { SpanKind, SpanStatusCode, context, isSpanContextValid, trace } from '@opentelemetry/api';
import type { Attributes, AttributeValue, Span, Tracer } from '@opentelemetry/api';
import { InvalidOptionsError, checkEvents, checkString, defaultEventBus, readOptions } from '@x/core';
import type { EventBus, ExecuteOptions, Outcome, Policy, PolicyFn, XEvent } from '@x/core';

/** Options of {@link traced}. */
export interface TracedOptions {
  /** Span name. Default: the policy's name. */
  readonly spanName?: string;
  /** Span kind. Default `INTERNAL`. */
  readonly kind?: SpanKind;
  /** Attributes set on every span (besides `resilience.policy.name`). */
  readonly attributes?: Attributes;
  /**
   * The bus the policy emits on (its `events` option), whose retries, rejections, timeouts and
   * waits become span events. Default: the process-wide default bus.
   */
  readonly events?: EventBus;
}

/**
 * Event types that become span events on the span active when they are emitted, and the
 * attributes each carries. A rate limiter's `allowed` decision becomes an event only when it
 * waited.
 */
const SPAN_EVENTS: readonly string[] = [
  'retry.attempt_failed',
  'retry.scheduled',
  'retry.gave_up',
  'breaker.rejected',
  'breaker.state_change',
  'timeout.timed_out',
  'bulkhead.queued',
  'bulkhead.rejected',
  'ratelimit.allowed',
  'ratelimit.rejected',
  'fallback.served',
];

const snake = (key: string): string => key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/** Span-event attributes of an event: its plain fields under `resilience.<source>.*`, errors as `error.type`. */
function eventAttributes(event: Readonly<Record<string, unknown>>): Attributes {
  const source = String(event['source']);
  const attributes: Record<string, AttributeValue> = { 'resilience.policy.name': String(event['name']) };
  for (const key of Object.keys(event)) {
    if (key === 'type' || key === 'source' || key === 'name' || key === 'time' || key === 'key') continue;
    const value = event[key];
    if (key === 'error') {
      if (value !== undefined) attributes['error.type'] = errorType(value);
    } else if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') {
      attributes[`resilience.${source}.${snake(key)}`] = value;
    }
  }
  return attributes;
}

/** `error.type` as the semantic conventions define it: a stable code when there is one. */
function errorType(error: unknown): string {
  if (typeof error === 'object' && error !== null) {
    const code = (error as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    const name = (error as { name?: unknown }).name;
    if (typeof name === 'string') return name;
  }
  return '_OTHER';
}

const installed = new WeakMap<EventBus, () => void>();

/** With the no-op tracer, one call in this many asks it again (a power of two). */
const NOOP_PROBE = 1024;

/**
 * Makes the retries, breaker rejections, timeouts, bulkhead waits and rate-limit waits of every
 * policy on `bus` span events on whatever span is active when they happen (the one
 * {@link traced} opened, or any of yours), once per bus. Needs an OpenTelemetry context manager
 * (`AsyncLocalStorageContextManager`, which the Node SDK registers) so the active span follows the
 * policy across awaits and timers. Returns the function that removes it. Idempotent per bus.
 *
 * @example
 * ```ts
 * traceEvents(defaultEventBus()); // spans you open around policy calls get their events
 * ```
 */
export function traceEvents(bus: EventBus = defaultEventBus()): () => void {
  const events = checkEvents('traceEvents', bus, 'bus');
  const existing = installed.get(events);
  if (existing !== undefined) return existing;
  const listener = (event: XEvent): void => {
    const span = trace.getActiveSpan();
    if (span === undefined || !span.isRecording()) return;
    const e = event as unknown as Readonly<Record<string, unknown>>;
    if (e['type'] === 'ratelimit.allowed' && !((e['waitedMs'] as number) > 0)) return;
    span.addEvent(String(e['type']), eventAttributes(e), typeof e['time'] === 'number' ? e['time'] : undefined);
  };
  const on = events.on as (type: string, l: (e: XEvent) => void) => () => void;
  const offs = SPAN_EVENTS.map((type) => on(type, listener));
  const remove = (): void => {
    if (installed.get(events) !== remove) return;
    installed.delete(events);
    for (const off of offs) off();
  };
  installed.set(events, remove);
  return remove;
}

function fail(span: Span, error: unknown): void {
  span.setAttribute('error.type', errorType(error));
  if (error instanceof Error) span.recordException(error);
  span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
}

/**
 * Wraps a policy so each execution is a span (named after the policy), child of the span active
 * at the call, and active while the policy and your function run: spans your function starts, and
 * those of inner `traced` policies in a `compose`, are its children. Retries, breaker rejections,
 * timeouts and rate-limit or bulkhead waits are span events ({@link traceEvents}); a rejection
 * sets the status to ERROR with `error.type` (the `XError` code, e.g. `BREAKER_OPEN`) and records
 * the exception; success leaves the status unset, as the conventions ask.
 *
 * Cost: without a tracer (`undefined`) the policy itself is returned. With the API's tracer and
 * no SDK behind it (a no-op), the wrapper notices and asks the tracer again only once every 1 024
 * calls (an SDK registered later is picked up within that many calls): measured 1.0x the bare
 * policy. A span that is sampled out still propagates its context (so children are not sampled
 * either) but gets no status or events.
 *
 * @example
 * ```ts
 * import { trace } from '@opentelemetry/api';
 * const tracer = trace.getTracer('checkout');
 * const policy = traced(compose(retry, breaker, timeout), tracer, { spanName: 'pricing call' });
 * await policy.execute(({ signal }) => fetch(url, { signal }));
 * ```
 */
export function traced<A extends object, E>(policy: Policy<A, E>, tracer: Tracer | undefined, options: TracedOptions = {}): Policy<A, E> {
  const o = readOptions('traced', options, ['spanName', 'kind', 'attributes', 'events']);
  if (typeof policy !== 'object' || policy === null || typeof policy.execute !== 'function' || typeof policy.executeOutcome !== 'function') {
    throw new InvalidOptionsError('traced', 'policy', policy, 'a Policy (name, execute, executeOutcome)');
  }
  if (tracer === undefined) return policy;
  if (typeof tracer !== 'object' || tracer === null || typeof tracer.startSpan !== 'function') {
    throw new InvalidOptionsError('traced', 'tracer', tracer, 'an OpenTelemetry Tracer (startSpan), or undefined');
  }
  const spanName = o.spanName === undefined ? policy.name : checkString('traced', 'spanName', o.spanName);
  const kind = o.kind ?? SpanKind.INTERNAL;
  if (!Object.values(SpanKind).includes(kind)) throw new InvalidOptionsError('traced', 'kind', kind, 'a SpanKind');
  const spanOptions = { kind, attributes: { 'resilience.policy.name': policy.name, ...o.attributes } };
  traceEvents(checkEvents('traced', o.events, 'events'));

  // The API's tracer with no SDK behind it hands out invalid, non-recording spans. Once seen, only
  // one call in NOOP_PROBE asks the tracer again (an SDK registered later is picked up within that
  // many calls); the others cost a counter.
  let noop = false;
  let calls = 0;
  /** The span for this call, or undefined when the tracer is the no-op (nothing to propagate). */
  const start = (): Span | undefined => {
    if (noop && (++calls & (NOOP_PROBE - 1)) !== 0) return undefined;
    const span = tracer.startSpan(spanName, spanOptions);
    noop = !span.isRecording() && !isSpanContextValid(span.spanContext());
    return noop ? undefined : span;
  };

  const execute = <T>(fn: PolicyFn<T, A>, options?: ExecuteOptions): Promise<T | E> => {
    const span = start();
    if (span === undefined) return policy.execute(fn, options);
    if (!span.isRecording()) {
      // Sampled out: propagate "not sampled", so spans inside are not sampled either.
      return context.with(trace.setSpan(context.active(), span), () => policy.execute(fn, options));
    }
    let pending: Promise<T | E>;
    try {
      pending = context.with(trace.setSpan(context.active(), span), () => policy.execute(fn, options));
    } catch (error) {
      fail(span, error);
      span.end();
      throw error;
    }
    return pending.then(
      (value) => {
        span.end();
        return value;
      },
      (error: unknown) => {
        fail(span, error);
        span.end();
        throw error;
      },
    );
  };

  const executeOutcome = <T>(fn: PolicyFn<T, A>, options?: ExecuteOptions): Promise<Outcome<T | E>> => {
    const span = start();
    if (span === undefined) return policy.executeOutcome(fn, options);
    if (!span.isRecording()) return context.with(trace.setSpan(context.active(), span), () => policy.executeOutcome(fn, options));
    return context.with(trace.setSpan(context.active(), span), () => policy.executeOutcome(fn, options)).then((outcome) => {
      if (!outcome.ok) fail(span, outcome.error);
      span.end();
      return outcome;
    });
  };

  return { name: policy.name, execute, executeOutcome } as Policy<A, E>;
}
