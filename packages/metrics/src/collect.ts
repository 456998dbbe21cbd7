import { InvalidOptionsError, checkBoolean, checkEvents, readOptions, checkString } from '@x/core';
import type { EventBus, XEvent } from '@x/core';
import { register as globalRegistry } from 'prom-client';
import type { Registry } from 'prom-client';
import { Families, resolveBuckets } from './families.js';
import type { MetricBuckets } from './families.js';
import { familyName, namingScheme, prefixed } from './naming.js';
import type { NamingId } from './naming.js';
import { bloomSource } from './sources/bloom.js';
import { breakerSource } from './sources/breaker.js';
import { bulkheadSource } from './sources/bulkhead.js';
import { cacheSource } from './sources/cache.js';
import { dlqSource } from './sources/dlq.js';
import { healthSource } from './sources/health.js';
import { lockSource } from './sources/lock.js';
import { ratelimitSource } from './sources/ratelimit.js';
import { retrySource } from './sources/retry.js';
import { timeoutSource } from './sources/timeout.js';
import type { AnyEvent, Source, SourceMetrics } from './sources/types.js';

/** The packages the exporter knows. */
const SOURCES: readonly Source[] = [breakerSource, retrySource, timeoutSource, bulkheadSource, ratelimitSource, healthSource, lockSource, bloomSource, dlqSource, cacheSource];
const BY_NAME = new Map(SOURCES.map((source) => [source.source, source]));

/** Options of {@link collectMetrics}. */
export interface CollectMetricsOptions {
  /** Registry to register in. Default: prom-client's global `register`. */
  readonly registry?: Registry;
  /** Prefix of every metric name, joined with `_` (`'dwcp'` gives `dwcp_circuit_breaker_state`). Default `'x'`; `''` for none. */
  readonly prefix?: string;
  /** Bus to subscribe to (an `EventBus`: `on`, `emit`, `hasListeners`). Default: the process-wide `defaultEventBus()`. */
  readonly bus?: EventBus;
  /**
   * Histogram buckets in seconds; each kind given replaces its default: a non-empty array of finite
   * numbers >= 0 in strictly increasing order (anything else fails with `INVALID_OPTIONS`).
   */
  readonly buckets?: Partial<MetricBuckets>;
  /**
   * Record call durations (`circuit_breaker_request_duration_seconds`). Default false: without it
   * the exporter costs observed calls nothing (every count is read from the instances at scrape
   * time). With it, each breaker call reads the clock twice and builds an event, about 150 ns.
   */
  readonly durations?: boolean;
  /**
   * Series names and labels to produce: `'x'` (default, prefix `x`), `'dwcp'` (DWCP's exact
   * series, prefix `dwcp`) or `'go-cachex'` (go-cachex's: no prefix, breakers labelled by
   * `component`, plus `circuit_breaker_failures_total` / `circuit_breaker_successes_total`). A
   * `prefix` given too replaces the naming's default prefix.
   */
  readonly naming?: NamingId;
}

/** What {@link collectMetrics} returns. */
export interface MetricsCollector {
  /** The packages whose families exist so far (they appear on first event or instance). */
  readonly sources: readonly string[];
  /** Unsubscribes from the bus and unregisters every metric it registered. Idempotent. */
  stop(): void;
}

// One collector per registry and prefix: a second would register the same names twice.
const active = new WeakMap<Registry, Set<string>>();

/**
 * Exports every `@x/*` package's events and live gauges as Prometheus metrics. Families appear
 * only for packages that emitted something or have a live instance, so installing packages one at
 * a time never produces empty families. Gauges (breaker state, bulkhead occupancy, error budgets,
 * health status) are read at scrape time; counters and histograms follow events. Labels are
 * instance names and small enums, never keys. Counters never decrease (an instance reset is
 * counted from 0) and instances sharing a name share their series. A failure inside the exporter
 * (an event it cannot record, an instance it cannot read) is counted in
 * `<prefix>_metrics_errors_total` and never reaches the code that emitted the event or the scrape.
 * Options are all checked first: a call that throws leaves nothing registered or reserved.
 *
 * @example
 * ```ts
 * import { Registry } from 'prom-client';
 * import { collectMetrics } from '@x/metrics';
 *
 * const registry = new Registry();
 * const metrics = collectMetrics({ registry, prefix: 'shop', durations: true });
 * app.get('/metrics', async (_req, res) => res.type(registry.contentType).send(await registry.metrics()));
 * ```
 */
export function collectMetrics(options: CollectMetricsOptions = {}): MetricsCollector {
  // Every option is checked before the registry/prefix pair is reserved.
  options = readOptions('collectMetrics', options, ['registry', 'prefix', 'bus', 'buckets', 'durations', 'naming']);
  const registry = checkRegistry(options.registry);
  const naming = namingScheme(options.naming ?? 'x');
  const prefix = options.prefix ?? naming.defaultPrefix;
  if (prefix !== '') checkString('collectMetrics', 'prefix', prefix);
  if (!/^([a-zA-Z_:][a-zA-Z0-9_:]*)?$/.test(prefix)) {
    throw new InvalidOptionsError('collectMetrics', 'prefix', prefix, 'a Prometheus name prefix matching [a-zA-Z_:][a-zA-Z0-9_:]*');
  }
  const bus = checkEvents('collectMetrics', options.bus, 'bus');
  const durations = checkBoolean('collectMetrics', 'durations', options.durations ?? false);
  const buckets = resolveBuckets('collectMetrics', options.buckets);

  const prefixes = active.get(registry) ?? new Set<string>();
  if (prefixes.has(prefix)) {
    throw new InvalidOptionsError(
      'collectMetrics',
      'prefix',
      prefix,
      'a prefix no running collector uses in this registry (stop() the other one first)',
    );
  }
  prefixes.add(prefix);
  active.set(registry, prefixes);

  const families = new Families(registry, prefix, bus, buckets, durations, naming);
  const unsubscribers: Array<() => void> = [];
  const release = () => {
    for (const off of unsubscribers.splice(0)) off();
    families.removeAll();
    prefixes.delete(prefix);
  };
  try {
    return start(families, bus, durations, unsubscribers, release);
  } catch (error) {
    // Whatever failed (a name already taken in the registry, a broken bus), nothing stays behind.
    release();
    throw error;
  }
}

function start(
  families: Families,
  bus: EventBus,
  durations: boolean,
  unsubscribers: Array<() => void>,
  release: () => void,
): MetricsCollector {
  const exporterErrors = families
    .counter(
      'metrics_errors_total',
      'Events the metrics exporter failed to record and tracked instances it failed to read at scrape time (never thrown to the emitter or the scraper).',
    )
    .cell('', {});
  families.onReadError = () => {
    exporterErrors.value++;
  };
  const listenerErrors = families.counter('event_listener_errors_total', 'Event listeners that threw, by the type of event they were handling.');
  const bySource = new Map<string, SourceMetrics>();

  const ensure = (source: string): SourceMetrics | undefined => {
    let metrics = bySource.get(source);
    if (metrics === undefined) {
      const known = BY_NAME.get(source);
      if (known === undefined) return undefined;
      // All or nothing: a failure leaves none of this package's families registered.
      metrics = families.atomically(() => known.create(families, bus));
      bySource.set(source, metrics);
    }
    return metrics;
  };

  const onSourceEvent = (event: XEvent): void => {
    try {
      const any = event as unknown as AnyEvent;
      (bySource.get(any.source) ?? ensure(any.source))?.onEvent(any);
    } catch {
      exporterErrors.value++;
    }
  };

  // Born at 0: the series an instance's events will feed exist before its first event.
  const lookup = (source: string, name: string) => () =>
    (typeof bus.tracked === 'function' ? bus.tracked(source) : []).filter((t) => t.name === name).map((t) => t.instance);
  const born = (source: string, name: string): void => {
    const metrics = ensure(source);
    if (metrics?.onTracked === undefined) return;
    try {
      const onTracked = metrics.onTracked.bind(metrics);
      families.birth(source, name, () => onTracked(name, lookup(source, name)));
    } catch {
      exporterErrors.value++;
    }
  };
  if (typeof bus.tracked === 'function') for (const { source, name } of bus.tracked()) born(source, name);
  // Only the types the exporter records: a package skips building events nobody listens to.
  const subscribe = bus.on as (type: string, listener: (event: XEvent) => void) => () => void;
  unsubscribers.push(
    bus.on('core.listener_error', (event) => {
      const type = event.eventType;
      listenerErrors.cell(type, { event_type: type }).value++;
    }),
    bus.on('core.instance_tracked', (event) => {
      try {
        born(event.instanceSource, event.name);
      } catch {
        exporterErrors.value++;
      }
      // Tracking happens inside constructors, some before every field is set (a store-backed
      // limiter's `store`): born again once the constructor has returned. Idempotent.
      queueMicrotask(() => {
        if (stopped) return;
        try {
          born(event.instanceSource, event.name);
        } catch {
          exporterErrors.value++;
        }
      });
    }),
  );
  for (const source of SOURCES) for (const type of source.events(durations)) unsubscribers.push(subscribe(type, onSourceEvent));
  let stopped = false;

  return {
    get sources() {
      return [...bySource.keys()];
    },
    stop() {
      if (stopped) return;
      stopped = true;
      release();
    },
  };
}

function checkRegistry(value: unknown): Registry {
  if (value === undefined) return globalRegistry;
  const registry = value as Partial<Registry> | null;
  if (
    typeof registry !== 'object' ||
    registry === null ||
    typeof registry.registerMetric !== 'function' ||
    typeof registry.removeSingleMetric !== 'function'
  ) {
    throw new InvalidOptionsError('collectMetrics', 'registry', value, "a prom-client Registry (registerMetric, removeSingleMetric)");
  }
  return registry as Registry;
}

/**
 * Every metric name the exporter can produce under `prefix`, for dashboards, alert rules and
 * tests that check them.
 *
 * @example
 * ```ts
 * metricNames('shop').includes('shop_circuit_breaker_state'); // true
 * metricNames(undefined, 'go-cachex').includes('circuit_breaker_failures_total'); // true
 * ```
 */
export function metricNames(prefix?: string, naming: NamingId = 'x'): string[] {
  const scheme = namingScheme(naming, 'metricNames');
  const p = prefix ?? scheme.defaultPrefix;
  const names = METRIC_SUFFIXES.map((suffix) => prefixed(p, familyName(scheme, suffix)));
  for (const derived of scheme.derived) names.push(prefixed(p, derived.name));
  return names;
}

/**
 * Name suffixes of every family (a test checks they match what the sources register).
 *
 * @example
 * ```ts
 * METRIC_SUFFIXES.includes('bulkhead_queued'); // true
 * ```
 */
export const METRIC_SUFFIXES: readonly string[] = [
  'metrics_errors_total',
  'event_listener_errors_total',
  'circuit_breaker_state',
  'circuit_breaker_requests_total',
  'circuit_breaker_state_changes_total',
  'circuit_breaker_request_duration_seconds',
  'retry_attempts_total',
  'retry_backoff_delay_seconds',
  'retry_calls_total',
  'timeouts_total',
  'bulkhead_concurrent',
  'bulkhead_queued',
  'bulkhead_limit',
  'bulkhead_rejected_total',
  'ratelimit_requests_total',
  'ratelimit_store_errors_total',
  'ratelimit_store_degraded_total',
  'health_check_status',
  'health_check_critical',
  'error_budget_remaining',
  'error_budget_consumed',
  'error_budget_exhausted_total',
  'health_check_duration_seconds',
  'health_check_total',
  'burn_rate_alerts_total',
  'burn_rate_alert_firing',
  'lock_held',
  'lock_lost_total',
  'lock_acquire_duration_seconds',
  'lock_store_errors_total',
  'bloom_filter_items',
  'bloom_filter_capacity',
  'bloom_filter_false_positives_total',
  'dlq_failed_operations_total',
  'dlq_retried_operations_total',
  'dlq_succeeded_operations_total',
  'dlq_dead_operations_total',
  'dlq_redriven_operations_total',
  'dlq_dropped_operations_total',
  'dlq_current_queue_size',
  'dlq_oldest_item_age_seconds',
  'dlq_store_errors_total',
  'cache_operations_total',
  'cache_local_entries',
  'cache_local_bytes',
  'cache_hit_ratio',
  'cache_single_flight_joins_total',
  'cache_bus_gaps_total',
  'cache_filter_total',
  'cache_write_behind_total',
  'cache_operation_duration_seconds',
  'cache_store_errors_total',
];
