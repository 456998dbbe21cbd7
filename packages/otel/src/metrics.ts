import type { Attributes, Meter, ObservableResult } from '@opentelemetry/api';
import { InvalidOptionsError, checkEvents, defaultEventBus, readOptions } from '@x/core';
import type { EventBus, TrackedInstance, XEvent } from '@x/core';

/** Options of {@link otelMetrics}. */
export interface OtelMetricsOptions {
  /** The OpenTelemetry meter to create the instruments on (`metrics.getMeter('my-service')`). */
  readonly meter: Meter;
  /** The bus the policies emit on and are tracked by. Default: the process-wide default bus. */
  readonly bus?: EventBus;
}

/** What {@link otelMetrics} returns. */
export interface OtelMetrics {
  /** Unsubscribes from the bus and stops reporting the observable instruments. Idempotent. */
  stop(): void;
}

type Obs = ObservableResult<Attributes>;

/** Gauge values of a breaker state: isolated reports open, disabled and metrics-only closed. */
const STATE: Readonly<Record<string, number>> = { closed: 0, half_open: 1, open: 2, isolated: 2, disabled: 0, metrics_only: 0 };
const NAME = 'resilience.policy.name';

interface Stats {
  stats?: () => Record<string, unknown>;
}

const statsOf = (instance: object): Record<string, unknown> | undefined => {
  const read = (instance as Stats).stats;
  return typeof read === 'function' ? read.call(instance) : undefined;
};
const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

/**
 * A cumulative count over live instances whose own totals can go back to 0 (a breaker's
 * `reset()`): what each instance grew by since the last collection is added, so the reported sum
 * never decreases, and instances sharing a name add up.
 */
class Cumulative {
  readonly #last = new WeakMap<object, Map<string, number>>();
  readonly #totals = new Map<string, { attributes: Attributes; value: number }>();

  add(instance: object, attributes: Attributes, value: number | undefined): void {
    if (value === undefined || value < 0) return;
    const key = JSON.stringify(attributes);
    let last = this.#last.get(instance);
    if (last === undefined) this.#last.set(instance, (last = new Map()));
    const previous = last.get(key) ?? 0;
    last.set(key, value);
    let total = this.#totals.get(key);
    if (total === undefined) this.#totals.set(key, (total = { attributes, value: 0 }));
    total.value += value >= previous ? value - previous : value;
  }

  report(result: Obs): void {
    for (const { attributes, value } of this.#totals.values()) result.observe(value, attributes);
  }
}

/**
 * Reports every `@x` package's events and live instances as OpenTelemetry metrics, in the style
 * of the semantic conventions (dotted lowercase names under `resilience.`, seconds for durations,
 * `resilience.policy.name` and small enums as attributes, never keys). Counts the instances keep
 * (breaker results, retry attempts, bulkhead and rate-limit decisions) and gauges (breaker state,
 * bulkhead occupancy, health, budgets) are observable instruments read at collection time, so
 * calls pay nothing; state changes, backoff delays, timeouts, store trouble and listener errors
 * follow events. Returns `{ stop }`.
 *
 * | instrument | kind | attributes |
 * |---|---|---|
 * | `resilience.circuit_breaker.state` | gauge (0 closed, 1 half-open, 2 open) | policy name |
 * | `resilience.circuit_breaker.calls` | counter | `resilience.circuit_breaker.result` |
 * | `resilience.circuit_breaker.state_changes` | counter | `…from_state`, `…to_state` |
 * | `resilience.retry.attempts` | counter | `resilience.retry.attempt` |
 * | `resilience.retry.calls` | counter | `resilience.retry.result` |
 * | `resilience.retry.backoff.duration` | histogram, s | |
 * | `resilience.timeout.timeouts` | counter | `resilience.timeout.strategy` |
 * | `resilience.bulkhead.active` / `.queued` / `.limit` | gauges | |
 * | `resilience.bulkhead.rejections` | counter | `resilience.bulkhead.reason` |
 * | `resilience.rate_limit.decisions` | counter | `resilience.rate_limit.outcome` |
 * | `resilience.store.errors` / `.degradations` | counters | `resilience.component`, `resilience.store.name` |
 * | `resilience.health.check.status` | gauge (1 healthy) | `resilience.health.checker`, `…check`, `…critical` |
 * | `resilience.error_budget.remaining` | gauge | policy name (the budget) |
 * | `resilience.event_listener.errors` | counter | `resilience.event.type` |
 *
 * @example
 * ```ts
 * import { metrics } from '@opentelemetry/api';
 * const stop = otelMetrics({ meter: metrics.getMeter('checkout') }).stop;
 * ```
 */
export function otelMetrics(options: OtelMetricsOptions): OtelMetrics {
  const o = readOptions('otelMetrics', options, ['meter', 'bus'], true);
  const meter = o.meter;
  if (typeof meter !== 'object' || meter === null || typeof meter.createCounter !== 'function' || typeof meter.createObservableGauge !== 'function') {
    throw new InvalidOptionsError('otelMetrics', 'meter', meter, 'an OpenTelemetry Meter (metrics.getMeter(name))');
  }
  const bus = o.bus === undefined ? defaultEventBus() : checkEvents('otelMetrics', o.bus, 'bus');
  const tracked = (source: string): TrackedInstance[] => (typeof bus.tracked === 'function' ? bus.tracked(source) : []);
  let stopped = false;
  /** Each observable callback reads instances defensively: one broken instance never breaks a collection. */
  const each = (source: string, read: (t: TrackedInstance) => void) => (): void => {
    if (stopped) return;
    for (const t of tracked(source)) {
      try {
        read(t);
      } catch {
        // An incompatible copy of a package on the shared bus: skipped.
      }
    }
  };
  const callbacks: Array<[{ removeCallback(cb: (r: Obs) => void): void }, (r: Obs) => void]> = [];
  const observe = (
    instrument: { addCallback(cb: (r: Obs) => void): void; removeCallback(cb: (r: Obs) => void): void },
    callback: (r: Obs) => void,
  ): void => {
    instrument.addCallback(callback);
    callbacks.push([instrument, callback]);
  };
  const cumulative = (name: string, description: string, source: string, read: (t: TrackedInstance, add: (attrs: Attributes, v: number | undefined) => void) => void): void => {
    const counts = new Cumulative();
    observe(meter.createObservableCounter(name, { description, unit: '{call}' }), (result) => {
      each(source, (t) => read(t, (attrs, v) => counts.add(t.instance, attrs, v)))();
      counts.report(result);
    });
  };

  // Breakers.
  observe(meter.createObservableGauge('resilience.circuit_breaker.state', { description: 'Circuit breaker state: 0 closed, 1 half-open, 2 open.', unit: '1' }), (result) => {
    const worst = new Map<string, number>();
    each('breaker', ({ name, instance }) => {
      const value = STATE[String((instance as { state?: unknown }).state)];
      if (value !== undefined) worst.set(name, Math.max(worst.get(name) ?? 0, value));
    })();
    for (const [name, value] of worst) result.observe(value, { [NAME]: name });
  });
  cumulative('resilience.circuit_breaker.calls', 'Calls seen by the circuit breaker, by result.', 'breaker', ({ name, instance }, add) => {
    const totals = statsOf(instance)?.['totals'] as Record<string, unknown> | undefined;
    if (totals === undefined) return;
    add({ [NAME]: name, 'resilience.circuit_breaker.result': 'success' }, num(totals['successes']));
    add({ [NAME]: name, 'resilience.circuit_breaker.result': 'failure' }, num(totals['failures']));
    add({ [NAME]: name, 'resilience.circuit_breaker.result': 'rejected' }, num(totals['rejected']));
  });
  const stateChanges = meter.createCounter('resilience.circuit_breaker.state_changes', { description: 'Circuit breaker state transitions.', unit: '{transition}' });

  // Retries and timeouts.
  cumulative('resilience.retry.attempts', 'Attempts made, by attempt number (1 is the first call).', 'retry', ({ name, instance }, add) => {
    const attempts = statsOf(instance)?.['attempts'];
    if (Array.isArray(attempts)) attempts.forEach((count, i) => add({ [NAME]: name, 'resilience.retry.attempt': i + 1 }, num(count)));
  });
  cumulative('resilience.retry.calls', 'Executions whose first attempt failed, by result.', 'retry', ({ name, instance }, add) => {
    const stats = statsOf(instance);
    if (stats === undefined) return;
    add({ [NAME]: name, 'resilience.retry.result': 'succeeded_after_retry' }, num(stats['succeededAfterRetry']));
    for (const [reason, count] of Object.entries((stats['gaveUp'] as Record<string, unknown> | undefined) ?? {})) add({ [NAME]: name, 'resilience.retry.result': reason }, num(count));
  });
  const backoff = meter.createHistogram('resilience.retry.backoff.duration', { description: 'Backoff delay before each retry.', unit: 's' });
  const timeouts = meter.createCounter('resilience.timeout.timeouts', { description: 'Calls that reached their timeout.', unit: '{call}' });

  // Bulkheads and rate limiters.
  for (const [field, description] of [
    ['active', 'Calls running inside the bulkhead.'],
    ['queued', 'Calls waiting for a bulkhead slot.'],
    ['limit', 'Current concurrency limit of the bulkhead.'],
  ] as const) {
    observe(meter.createObservableGauge(`resilience.bulkhead.${field}`, { description, unit: '{call}' }), (result) => {
      const sums = new Map<string, number>();
      each('bulkhead', ({ name, instance }) => {
        const value = num(statsOf(instance)?.[field]);
        if (value !== undefined) sums.set(name, (sums.get(name) ?? 0) + value);
      })();
      for (const [name, value] of sums) result.observe(value, { [NAME]: name });
    });
  }
  cumulative('resilience.bulkhead.rejections', 'Calls the bulkhead refused, by reason.', 'bulkhead', ({ name, instance }, add) => {
    for (const [reason, count] of Object.entries((statsOf(instance)?.['rejected'] as Record<string, unknown> | undefined) ?? {})) add({ [NAME]: name, 'resilience.bulkhead.reason': reason }, num(count));
  });
  cumulative('resilience.rate_limit.decisions', 'Rate limiter decisions, by outcome.', 'ratelimit', ({ name, instance }, add) => {
    const stats = statsOf(instance);
    if (stats === undefined) return;
    add({ [NAME]: name, 'resilience.rate_limit.outcome': 'allowed' }, num(stats['allowed']));
    for (const [reason, count] of Object.entries((stats['rejected'] as Record<string, unknown> | undefined) ?? {})) add({ [NAME]: name, 'resilience.rate_limit.outcome': reason }, num(count));
  });

  // Health and budgets.
  observe(meter.createObservableGauge('resilience.health.check.status', { description: 'Health check status: 1 healthy, 0 unhealthy (checks not yet run are omitted).', unit: '1' }), (result) => {
    each('health', ({ name, instance }) => {
      if ((instance as { kind?: unknown }).kind !== 'health_monitor') return;
      const statuses = (instance as { statuses(): Array<{ name: string; healthy: boolean; critical?: boolean; lastCheckedAt?: number }> }).statuses();
      for (const s of statuses) {
        if (s.lastCheckedAt === undefined) continue;
        result.observe(s.healthy ? 1 : 0, { 'resilience.health.checker': name, 'resilience.health.check': s.name, 'resilience.health.critical': s.critical !== false });
      }
    })();
  });
  observe(meter.createObservableGauge('resilience.error_budget.remaining', { description: 'Share of the error budget left in the window (1 − consumed).', unit: '1' }), (result) => {
    each('health', ({ name, instance }) => {
      if ((instance as { kind?: unknown }).kind !== 'error_budget') return;
      const value = num((instance as { remaining?: unknown }).remaining);
      if (value !== undefined) result.observe(value, { [NAME]: name });
    })();
  });

  // Store trouble (every package with a Redis store) and listener errors.
  const storeErrors = meter.createCounter('resilience.store.errors', { description: 'Store (Redis) calls that failed or timed out.', unit: '{call}' });
  const degradations = meter.createCounter('resilience.store.degradations', { description: 'Times a store was bypassed after repeated failures.', unit: '{event}' });
  const listenerErrors = meter.createCounter('resilience.event_listener.errors', { description: 'Event listeners that threw, by event type.', unit: '{error}' });

  const onEvent = (event: XEvent): void => {
    const e = event as unknown as Readonly<Record<string, unknown>>;
    const type = String(e['type']);
    const name = String(e['name']);
    try {
      if (type === 'breaker.state_change') {
        stateChanges.add(1, { [NAME]: name, 'resilience.circuit_breaker.from_state': String(e['from']), 'resilience.circuit_breaker.to_state': String(e['to']) });
      } else if (type === 'retry.scheduled') {
        backoff.record(Math.max(0, num(e['delayMs']) ?? 0) / 1000, { [NAME]: name });
      } else if (type === 'timeout.timed_out') {
        timeouts.add(1, { [NAME]: name, 'resilience.timeout.strategy': String(e['strategy']) });
      } else if (type === 'core.listener_error') {
        listenerErrors.add(1, { 'resilience.event.type': String(e['eventType']) });
      } else if (type.endsWith('.store_error')) {
        storeErrors.add(1, { 'resilience.component': String(e['source']), 'resilience.store.name': name });
      } else if (type.endsWith('.store_degraded')) {
        degradations.add(1, { 'resilience.component': String(e['source']), 'resilience.store.name': name });
      }
    } catch {
      // A meter that throws never reaches the policy that emitted the event.
    }
  };
  const on = bus.on as (type: string, l: (e: XEvent) => void) => () => void;
  const offs = [
    'breaker.state_change',
    'retry.scheduled',
    'timeout.timed_out',
    'core.listener_error',
    ...['ratelimit', 'lock', 'dlq', 'bloom', 'cache'].flatMap((source) => [`${source}.store_error`, `${source}.store_degraded`]),
  ].map((type) => on(type, onEvent));

  return {
    stop() {
      if (stopped) return;
      stopped = true;
      for (const off of offs.splice(0)) off();
      for (const [instrument, callback] of callbacks.splice(0)) instrument.removeCallback(callback);
    },
  };
}
