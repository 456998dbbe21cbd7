import { readOptions } from '@x/core';
import { checkPrefix, familyName, labelName, namingScheme, prefixed } from './naming.js';
import type { NamingId } from './naming.js';

/** Options of {@link grafanaDashboard}. */
export interface DashboardOptions {
  /** Prefix the exporter was given. Default: the naming's (`x`). */
  readonly prefix?: string;
  /** Naming the exporter was given. Default `'x'`. */
  readonly naming?: NamingId;
}

/** One query of a dashboard panel. */
export interface DashboardQuery {
  /** The package whose metrics it reads (`breaker`, `health`…; `metrics` for the exporter's own). */
  readonly package: string;
  readonly expr: string;
  readonly legend: string;
  /**
   * Set when the query can be empty on a healthy, busy service: the series appear only once
   * something happens (why, in words). Every other query returns data as soon as the package has
   * an instance (its series are read at scrape time, or born at 0).
   */
  readonly eventDriven?: string;
  /** Set when it needs an exporter option (`durations: true`). */
  readonly requires?: string;
}

interface PanelSpec {
  readonly title: string;
  readonly unit: string;
  readonly width: number;
  readonly description?: string;
  readonly mappings?: unknown[];
  readonly queries: readonly DashboardQuery[];
}

interface RowSpec {
  readonly title: string;
  readonly panels: readonly PanelSpec[];
}

type M = (suffix: string) => string;
type L = (suffix: string, label: string) => string | null;

const RATE = '$__rate_interval';

function layout(m: M, l: L): RowSpec[] {
  const b = l('circuit_breaker_state', 'name') ?? 'name';
  const byReason = l('bulkhead_rejected_total', 'reason') !== null;
  const q = (pkg: string, expr: string, legend: string, extra: Partial<DashboardQuery> = {}): DashboardQuery => ({ package: pkg, expr, legend, ...extra });
  return [
    {
      title: 'Circuit breakers',
      panels: [
        {
          title: 'Breaker state (0 closed, 1 half-open, 2 open)',
          unit: 'short',
          width: 12,
          mappings: [{ type: 'value', options: { '0': { text: 'closed' }, '1': { text: 'half-open' }, '2': { text: 'open' } } }],
          queries: [q('breaker', m('circuit_breaker_state'), `{{${b}}}`)],
        },
        {
          title: 'Breaker calls by result',
          unit: 'reqps',
          width: 12,
          queries: [q('breaker', `sum by (${b}, result) (rate(${m('circuit_breaker_requests_total')}[${RATE}]))`, `{{${b}}} {{result}}`)],
        },
        {
          title: 'Breaker call latency p50 / p99',
          unit: 's',
          width: 12,
          description: 'Needs collectMetrics({ durations: true }).',
          queries: [0.5, 0.99].map((quantile) =>
            q(
              'breaker',
              `histogram_quantile(${quantile}, sum by (le, ${b}) (rate(${m('circuit_breaker_request_duration_seconds')}_bucket[${RATE}])))`,
              `{{${b}}} p${quantile * 100}`,
              { requires: 'durations: true' },
            ),
          ),
        },
        {
          title: 'Breaker state changes',
          unit: 'short',
          width: 12,
          queries: [
            q('breaker', `sum by (${b}, from_state, to_state) (increase(${m('circuit_breaker_state_changes_total')}[${RATE}]))`, `{{${b}}} {{from_state}} → {{to_state}}`),
          ],
        },
      ],
    },
    {
      title: 'Retries and timeouts',
      panels: [
        {
          title: 'Retry attempts by attempt number',
          unit: 'ops',
          width: 8,
          queries: [q('retry', `sum by (policy, attempt) (rate(${m('retry_attempts_total')}[${RATE}]))`, '{{policy}} #{{attempt}}')],
        },
        {
          title: 'Retry outcomes',
          unit: 'ops',
          width: 8,
          queries: [q('retry', `sum by (policy, result) (rate(${m('retry_calls_total')}[${RATE}]))`, '{{policy}} {{result}}')],
        },
        {
          title: 'Mean backoff delay',
          unit: 's',
          width: 8,
          queries: [
            q(
              'retry',
              `sum by (policy) (rate(${m('retry_backoff_delay_seconds')}_sum[${RATE}])) / sum by (policy) (rate(${m('retry_backoff_delay_seconds')}_count[${RATE}]))`,
              '{{policy}}',
              { eventDriven: 'a policy has backoff series once it first retries' },
            ),
          ],
        },
        {
          title: 'Timeouts',
          unit: 'ops',
          width: 24,
          queries: [
            q('timeout', `sum by (policy, strategy) (rate(${m('timeouts_total')}[${RATE}]))`, '{{policy}} {{strategy}}', {
              eventDriven: 'a timeout policy has a series once a call first times out (timeouts are not tracked instances, so nothing is born at 0)',
            }),
          ],
        },
      ],
    },
    {
      title: 'Bulkheads and rate limits',
      panels: [
        {
          title: 'Bulkhead occupancy',
          unit: 'short',
          width: 12,
          queries: [
            q('bulkhead', m('bulkhead_concurrent'), '{{bulkhead}} running'),
            q('bulkhead', m('bulkhead_queued'), '{{bulkhead}} queued'),
            q('bulkhead', m('bulkhead_limit'), '{{bulkhead}} limit'),
          ],
        },
        {
          title: 'Bulkhead rejections by reason',
          unit: 'ops',
          width: 12,
          queries: [
            q(
              'bulkhead',
              `sum by (bulkhead${byReason ? ', reason' : ''}) (rate(${m('bulkhead_rejected_total')}[${RATE}]))`,
              byReason ? '{{bulkhead}} {{reason}}' : '{{bulkhead}}',
            ),
          ],
        },
        {
          title: 'Rate limiter decisions',
          unit: 'ops',
          width: 12,
          queries: [q('ratelimit', `sum by (limiter, outcome) (rate(${m('ratelimit_requests_total')}[${RATE}]))`, '{{limiter}} {{outcome}}')],
        },
        {
          title: 'Rate limiter store errors',
          unit: 'short',
          width: 12,
          queries: [
            q('ratelimit', `sum by (store) (rate(${m('ratelimit_store_errors_total')}[${RATE}]))`, '{{store}} errors/s', {
              eventDriven: 'only limiters on a named store (Redis) have store series; in memory there is no store to fail',
            }),
            q('ratelimit', `sum by (store) (increase(${m('ratelimit_store_degraded_total')}[${RATE}]))`, '{{store}} degraded', {
              eventDriven: 'only limiters on a named store (Redis) have store series; in memory there is no store to fail',
            }),
          ],
        },
      ],
    },
    {
      title: 'Health and error budgets',
      panels: [
        {
          title: 'Health checks (1 healthy)',
          unit: 'short',
          width: 8,
          queries: [
            q('health', m('health_check_status'), '{{checker}}/{{check}}'),
            q('health', `${m('health_check_critical')} == 0`, '{{checker}}/{{check}} (non-critical)'),
          ],
        },
        {
          title: 'Health check duration p99',
          unit: 's',
          width: 8,
          queries: [
            q('health', `histogram_quantile(0.99, sum by (le, checker, check) (rate(${m('health_check_duration_seconds')}_bucket[${RATE}])))`, '{{checker}}/{{check}}'),
          ],
        },
        {
          title: 'Health check results',
          unit: 'ops',
          width: 8,
          queries: [q('health', `sum by (checker, check, result) (rate(${m('health_check_total')}[${RATE}]))`, '{{check}} {{result}}')],
        },
        {
          title: 'Error budget remaining',
          unit: 'percentunit',
          width: 8,
          queries: [q('health', m('error_budget_remaining'), '{{budget}}')],
        },
        {
          title: 'Error budget consumed',
          unit: 'percentunit',
          width: 8,
          queries: [q('health', m('error_budget_consumed'), '{{budget}}')],
        },
        {
          title: 'Budget exhaustions and burn-rate alerts',
          unit: 'short',
          width: 8,
          queries: [
            q('health', `sum by (budget) (increase(${m('error_budget_exhausted_total')}[${RATE}]))`, '{{budget}} exhausted'),
            q('health', `sum by (budget, severity) (increase(${m('burn_rate_alerts_total')}[${RATE}]))`, '{{budget}} {{severity}} alert', {
              eventDriven: 'only burn-rate monitors (createBurnRateMonitor) have these series, born at 0 when one is created',
            }),
            q('health', `max by (budget, severity) (${m('burn_rate_alert_firing')})`, '{{budget}} {{severity}} firing', {
              eventDriven: 'only burn-rate monitors (createBurnRateMonitor) have these series',
            }),
          ],
        },
      ],
    },
    {
      title: 'Locks and bloom filters',
      panels: [
        {
          title: 'Lock leases held',
          unit: 'short',
          width: 8,
          queries: [q('lock', `sum by (lock) (${m('lock_held')})`, '{{lock}}')],
        },
        {
          title: 'Lock acquire latency p99 and leases lost',
          unit: 's',
          width: 8,
          queries: [
            q('lock', `histogram_quantile(0.99, sum by (le, lock) (rate(${m('lock_acquire_duration_seconds')}_bucket[${RATE}])))`, '{{lock}} p99', {
              eventDriven: 'a lock has acquire series once it first grants a lease',
            }),
            q('lock', `sum by (lock, reason) (increase(${m('lock_lost_total')}[${RATE}]))`, '{{lock}} lost ({{reason}})'),
            q('lock', `sum by (store) (rate(${m('lock_store_errors_total')}[${RATE}]))`, '{{store}} store errors/s', {
              eventDriven: 'a store has a series once one of its calls first fails',
            }),
          ],
        },
        {
          title: 'Bloom filters: items, capacity, false positives',
          unit: 'short',
          width: 8,
          queries: [
            q('bloom', m('bloom_filter_items'), '{{filter}} items'),
            q('bloom', m('bloom_filter_capacity'), '{{filter}} capacity'),
            q('bloom', `sum by (filter) (increase(${m('bloom_filter_false_positives_total')}[${RATE}]))`, '{{filter}} false positives'),
          ],
        },
      ],
    },
    {
      title: 'Dead-letter queues',
      panels: [
        {
          title: 'DLQ items by state',
          unit: 'short',
          width: 8,
          queries: [q('dlq', `sum by (queue, state) (${m('dlq_current_queue_size')})`, '{{queue}} {{state}}')],
        },
        {
          title: 'DLQ operations',
          unit: 'ops',
          width: 8,
          queries: [
            q('dlq', `sum by (queue) (rate(${m('dlq_failed_operations_total')}[${RATE}]))`, '{{queue}} recorded'),
            q('dlq', `sum by (queue) (rate(${m('dlq_retried_operations_total')}[${RATE}]))`, '{{queue}} attempts'),
            q('dlq', `sum by (queue) (rate(${m('dlq_succeeded_operations_total')}[${RATE}]))`, '{{queue}} succeeded'),
            q('dlq', `sum by (queue) (rate(${m('dlq_dead_operations_total')}[${RATE}]))`, '{{queue}} dead'),
            q('dlq', `sum by (queue) (rate(${m('dlq_redriven_operations_total')}[${RATE}]))`, '{{queue}} redriven'),
            q('dlq', `sum by (queue, reason) (rate(${m('dlq_dropped_operations_total')}[${RATE}]))`, '{{queue}} dropped ({{reason}})'),
          ],
        },
        {
          title: 'DLQ oldest item age and store errors',
          unit: 's',
          width: 8,
          queries: [
            q('dlq', `max by (queue, state) (${m('dlq_oldest_item_age_seconds')})`, '{{queue}} oldest {{state}}'),
            q('dlq', `sum by (store) (rate(${m('dlq_store_errors_total')}[${RATE}]))`, '{{store}} store errors/s', {
              eventDriven: 'a store has a series once one of its calls first fails',
            }),
          ],
        },
      ],
    },
    {
      title: 'Caches',
      panels: [
        {
          title: 'Cache operations by status',
          unit: 'ops',
          width: 8,
          queries: [q('cache', `sum by (cache, operation, status) (rate(${m('cache_operations_total')}[${RATE}]))`, '{{cache}} {{operation}} {{status}}')],
        },
        {
          title: 'Cache hit ratio and in-memory tier',
          unit: 'short',
          width: 8,
          queries: [
            q('cache', `min by (cache) (${m('cache_hit_ratio')})`, '{{cache}} hit ratio'),
            q('cache', `sum by (cache) (${m('cache_local_entries')})`, '{{cache}} L1 entries'),
            q('cache', `sum by (cache) (${m('cache_local_bytes')})`, '{{cache}} L1 bytes'),
          ],
        },
        {
          title: 'Cache latency p99',
          unit: 's',
          width: 8,
          description: 'Needs collectMetrics({ durations: true }).',
          queries: [
            q('cache', `histogram_quantile(0.99, sum by (le, cache, operation) (rate(${m('cache_operation_duration_seconds')}_bucket[${RATE}])))`, '{{cache}} {{operation}}', {
              requires: 'durations: true',
            }),
          ],
        },
        {
          title: 'Cache single-flight, bus gaps, filter and write-behind',
          unit: 'ops',
          width: 12,
          queries: [
            q('cache', `sum by (cache) (rate(${m('cache_single_flight_joins_total')}[${RATE}]))`, '{{cache}} single-flight joins'),
            q('cache', `sum by (cache) (increase(${m('cache_bus_gaps_total')}[${RATE}]))`, '{{cache}} bus gaps'),
            q('cache', `sum by (cache, result) (rate(${m('cache_filter_total')}[${RATE}]))`, '{{cache}} filter {{result}}'),
            q('cache', `sum by (cache, outcome) (rate(${m('cache_write_behind_total')}[${RATE}]))`, '{{cache}} write-behind {{outcome}}'),
          ],
        },
        {
          title: 'Cache store errors',
          unit: 'ops',
          width: 12,
          queries: [
            q('cache', `sum by (store) (rate(${m('cache_store_errors_total')}[${RATE}]))`, '{{store}} store errors/s', {
              eventDriven: 'a store has a series once one of its calls first fails',
            }),
          ],
        },
      ],
    },
    {
      title: 'Exporter',
      panels: [
        {
          title: 'Listener and exporter errors',
          unit: 'short',
          width: 24,
          queries: [
            q('metrics', `sum by (event_type) (increase(${m('event_listener_errors_total')}[${RATE}]))`, 'listener {{event_type}}', {
              eventDriven: 'a series per event type appears when a listener first throws',
            }),
            q('metrics', `increase(${m('metrics_errors_total')}[${RATE}])`, 'exporter'),
          ],
        },
      ],
    },
  ];
}

/**
 * Every query of the dashboard with the package it reads and whether it is event-driven, for
 * checks against a live Prometheus.
 *
 * @example
 * ```ts
 * for (const q of dashboardQueries({ prefix: 'shop' })) console.log(q.package, q.expr);
 * ```
 */
export function dashboardQueries(options: DashboardOptions = {}): DashboardQuery[] {
  const { m, l } = namer('dashboardQueries', options);
  return layout(m, l).flatMap((row) => row.panels.flatMap((panel) => panel.queries));
}

function namer(owner: string, options: DashboardOptions): { m: M; l: L; prefix: string } {
  const o = readOptions(owner, options, ['prefix', 'naming']);
  const naming = namingScheme(o.naming ?? 'x', owner);
  const prefix = checkPrefix(owner, o.prefix ?? naming.defaultPrefix);
  return {
    prefix,
    m: (suffix) => prefixed(prefix, familyName(naming, suffix)),
    l: (suffix, label) => labelName(naming, suffix, label),
  };
}

/**
 * A Grafana dashboard (JSON model) with a panel for every family `collectMetrics` exports under
 * the given prefix and naming; what `x-metrics dashboard --prefix <p>` prints. Import it and pick
 * your Prometheus data source.
 *
 * @example
 * ```ts
 * writeFileSync('shop-resilience.json', JSON.stringify(grafanaDashboard({ prefix: 'shop' }), null, 2));
 * ```
 */
export function grafanaDashboard(options: DashboardOptions = {}): Record<string, unknown> {
  const { m, l, prefix } = namer('grafanaDashboard', options);
  const panels: Record<string, unknown>[] = [];
  let id = 1;
  let y = 0;
  for (const row of layout(m, l)) {
    panels.push({ type: 'row', title: row.title, collapsed: false, gridPos: { x: 0, y, w: 24, h: 1 }, panels: [], id: id++ });
    y += 1;
    let x = 0;
    for (const panel of row.panels) {
      if (x + panel.width > 24) {
        x = 0;
        y += 8;
      }
      const notes = [...new Set(panel.queries.flatMap((query) => (query.eventDriven === undefined ? [] : [`Event-driven: ${query.eventDriven}.`])))];
      const description = [panel.description, ...notes].filter((text) => text !== undefined).join(' ');
      panels.push({
        type: 'timeseries',
        title: panel.title,
        ...(description !== '' && { description }),
        gridPos: { x, y, w: panel.width, h: 8 },
        datasource: { type: 'prometheus', uid: '${datasource}' },
        fieldConfig: { defaults: { unit: panel.unit, ...(panel.mappings !== undefined && { mappings: panel.mappings }) }, overrides: [] },
        targets: panel.queries.map((query, i) => ({ refId: String.fromCharCode(65 + i), expr: query.expr, legendFormat: query.legend })),
        id: id++,
      });
      x += panel.width;
    }
    y += 8;
  }
  const tag = prefix === '' ? 'resilience' : prefix;
  return {
    title: prefix === '' || prefix === 'x' ? '@x resilience' : `@x resilience (${prefix})`,
    uid: `${tag}-resilience`.slice(0, 40),
    schemaVersion: 39,
    version: 1,
    editable: true,
    time: { from: 'now-1h', to: 'now' },
    refresh: '30s',
    tags: ['resilience', 'x'],
    templating: { list: [{ name: 'datasource', type: 'datasource', query: 'prometheus', label: 'Prometheus' }] },
    annotations: { list: [] },
    panels,
  };
}
