import { readOptions } from '@x/core';
import { alertRules } from './rules.js';
import type { AlertRule } from './rules.js';
import { checkPrefix, familyName, labelName, namingScheme, prefixed } from './naming.js';
import type { NamingId } from './naming.js';

/** Options of {@link alertRuleTestsYaml}. */
export interface AlertRuleTestsOptions {
  readonly prefix?: string;
  readonly naming?: NamingId;
  /** The rule file the tests load, relative to the test file. Default `x-resilience.rules.yml`. */
  readonly ruleFile?: string;
}

type Labels = Readonly<Record<string, string>>;

/** One input series: a family (this package's suffix, `_bucket` etc. allowed), its labels, promtool values. */
type Series = readonly [family: string, labels: Labels, values: string];

interface Expect {
  /** Evaluation time (promtool duration). */
  readonly at: string;
  readonly alert: string;
  /** Label sets (besides severity) of the alerts expected to fire; empty: none fires. */
  readonly firing: readonly Labels[];
  /** What `{{ $value | humanizePercentage }}` renders to, where a summary uses it. */
  readonly value?: string;
}

interface Scenario {
  readonly name: string;
  readonly series: readonly Series[];
  readonly expect: readonly Expect[];
}

/** `n` samples of `value` (promtool's `aXn` means n + 1 samples). */
const times = (value: string | number, n: number): string => (n === 1 ? String(value) : `${value}x${n - 1}`);
/** Alternating samples, e.g. open / half-open while the probes fail. */
const alternate = (a: number, b: number, n: number): string => Array.from({ length: n }, (_, i) => (i % 2 === 0 ? a : b)).join(' ');

const SCENARIOS: readonly Scenario[] = [
  {
    name: 'outage with half-open probes pages; a short outage and a recovery do not',
    series: [
      // 5 min closed, 10 min open/half-open (each probe fails), then closed again.
      ['circuit_breaker_state', { name: 'pricing' }, `${times(0, 20)} ${alternate(2, 1, 40)} ${times(0, 40)}`],
      // A one-minute outage.
      ['circuit_breaker_state', { name: 'search' }, `${times(0, 20)} ${alternate(2, 1, 4)} ${times(0, 76)}`],
    ],
    expect: [
      { at: '7m', alert: 'CircuitBreakerOpen', firing: [] },
      { at: '11m', alert: 'CircuitBreakerOpen', firing: [{ name: 'pricing' }] },
      { at: '14m', alert: 'CircuitBreakerOpen', firing: [{ name: 'pricing' }] },
      { at: '18m', alert: 'CircuitBreakerOpen', firing: [] },
    ],
  },
  {
    name: 'flapping counts from the first open (born at 0), and a series born at 1 still counts it',
    series: [
      ['circuit_breaker_state_changes_total', { name: 'pricing', from_state: 'closed', to_state: 'open' }, `${times(0, 4)} ${times(1, 40)}`],
      ['circuit_breaker_state_changes_total', { name: 'pricing', from_state: 'half_open', to_state: 'open' }, `${times(0, 6)} 1 2 ${times(3, 40)}`],
      // No series until the first open: its first sample already counts one.
      ['circuit_breaker_state_changes_total', { name: 'search', from_state: 'closed', to_state: 'open' }, `${times('_', 4)} 1 2 3 ${times(4, 40)}`],
      // Three opens only.
      ['circuit_breaker_state_changes_total', { name: 'quiet', from_state: 'closed', to_state: 'open' }, `${times(0, 4)} 1 2 ${times(3, 40)}`],
    ],
    expect: [
      { at: '3m', alert: 'CircuitBreakerFlapping', firing: [{ name: 'pricing' }, { name: 'search' }] },
      { at: '9m', alert: 'CircuitBreakerFlapping', firing: [{ name: 'pricing' }, { name: 'search' }] },
      { at: '20m', alert: 'CircuitBreakerFlapping', firing: [] },
    ],
  },
  {
    name: 'high failure rate pages after 5 minutes',
    series: [
      ['circuit_breaker_requests_total', { name: 'pricing', result: 'success' }, '0+10x80'],
      ['circuit_breaker_requests_total', { name: 'pricing', result: 'failure' }, '0+5x80'],
      ['circuit_breaker_requests_total', { name: 'pricing', result: 'rejected' }, '0+100x80'],
      ['circuit_breaker_requests_total', { name: 'search', result: 'success' }, '0+100x80'],
      ['circuit_breaker_requests_total', { name: 'search', result: 'failure' }, '0+1x80'],
    ],
    expect: [
      { at: '4m', alert: 'HighFailureRate', firing: [] },
      { at: '11m', alert: 'HighFailureRate', firing: [{ name: 'pricing' }] },
    ],
  },
  {
    name: 'retries exhausted for 10 minutes',
    series: [
      ['retry_calls_total', { policy: 'pricing', result: 'exhausted' }, '0+1x80'],
      ['retry_calls_total', { policy: 'pricing', result: 'succeeded_after_retry' }, '0+5x80'],
      ['retry_calls_total', { policy: 'search', result: 'exhausted' }, times(0, 80)],
    ],
    expect: [
      { at: '8m', alert: 'RetriesExhausted', firing: [] },
      { at: '16m', alert: 'RetriesExhausted', firing: [{ policy: 'pricing' }] },
    ],
  },
  {
    name: 'bulkhead rejecting and saturated',
    series: [
      ['bulkhead_rejected_total', { bulkhead: 'db', reason: 'full' }, '0+30x80'],
      ['bulkhead_rejected_total', { bulkhead: 'db', reason: 'timeout' }, '0+0x80'],
      ['bulkhead_rejected_total', { bulkhead: 'cache', reason: 'full' }, '0+1x80'],
      ['bulkhead_concurrent', { bulkhead: 'db' }, times(10, 80)],
      ['bulkhead_limit', { bulkhead: 'db' }, times(10, 80)],
      ['bulkhead_queued', { bulkhead: 'db' }, times(4, 80)],
      ['bulkhead_concurrent', { bulkhead: 'cache' }, times(10, 80)],
      ['bulkhead_limit', { bulkhead: 'cache' }, times(10, 80)],
      ['bulkhead_queued', { bulkhead: 'cache' }, times(0, 80)],
    ],
    expect: [
      { at: '11m', alert: 'BulkheadRejecting', firing: [{ bulkhead: 'db' }] },
      { at: '5m', alert: 'BulkheadSaturated', firing: [] },
      { at: '11m', alert: 'BulkheadSaturated', firing: [{ bulkhead: 'db' }] },
    ],
  },
  {
    name: 'a store that degrades once fires for 10 minutes, whether its series was born at 0 or at 1',
    series: [
      ['ratelimit_store_degraded_total', { store: 'redis' }, `${times(0, 8)} ${times(1, 80)}`],
      ['ratelimit_store_degraded_total', { store: 'redis-eu' }, `${times('_', 8)} ${times(1, 80)}`],
    ],
    expect: [
      { at: '1m', alert: 'RateLimiterStoreDegraded', firing: [] },
      { at: '3m', alert: 'RateLimiterStoreDegraded', firing: [{ store: 'redis' }, { store: 'redis-eu' }] },
      { at: '11m', alert: 'RateLimiterStoreDegraded', firing: [{ store: 'redis' }, { store: 'redis-eu' }] },
      { at: '14m', alert: 'RateLimiterStoreDegraded', firing: [] },
    ],
  },
  {
    name: 'a failing critical check pages; a failing non-critical check only warns',
    series: [
      ['health_check_status', { checker: 'api', check: 'downstream' }, `${times(1, 4)} ${times(0, 60)}`],
      ['health_check_critical', { checker: 'api', check: 'downstream' }, times(1, 64)],
      ['health_check_status', { checker: 'api', check: 'error_budget' }, `${times(1, 4)} ${times(0, 60)}`],
      ['health_check_critical', { checker: 'api', check: 'error_budget' }, times(0, 64)],
      ['health_check_status', { checker: 'api', check: 'database' }, times(1, 64)],
      ['health_check_critical', { checker: 'api', check: 'database' }, times(1, 64)],
    ],
    expect: [
      { at: '3m', alert: 'HealthCheckFailing', firing: [] },
      { at: '7m', alert: 'HealthCheckFailing', firing: [{ checker: 'api', check: 'downstream' }] },
      { at: '7m', alert: 'HealthCheckWarning', firing: [] },
      { at: '12m', alert: 'HealthCheckWarning', firing: [{ checker: 'api', check: 'error_budget' }] },
    ],
  },
  {
    name: 'error budget nearly exhausted, exhausted now, and exhausted between two scrapes',
    series: [
      ['error_budget_remaining', { budget: 'api' }, `${times(0.5, 4)} ${times(0.05, 60)}`],
      ['error_budget_consumed', { budget: 'api' }, `${times(0.5, 4)} ${times(1.2, 4)} ${times(0.95, 56)}`],
      ['error_budget_exhausted_total', { budget: 'api' }, `${times(0, 4)} ${times(1, 60)}`],
      // Exhausted and recovered between two scrapes: only the counter shows it.
      ['error_budget_consumed', { budget: 'checkout' }, times(0.2, 64)],
      ['error_budget_exhausted_total', { budget: 'checkout' }, `${times(0, 10)} ${times(1, 54)}`],
    ],
    expect: [
      { at: '13m', alert: 'ErrorBudgetNearlyExhausted', firing: [{ budget: 'api' }], value: '5%' },
      { at: '1m30s', alert: 'ErrorBudgetExhausted', firing: [{ budget: 'api' }] },
      { at: '3m', alert: 'ErrorBudgetExhausted', firing: [{ budget: 'api' }, { budget: 'checkout' }] },
      { at: '12m', alert: 'ErrorBudgetExhausted', firing: [] },
    ],
  },
  {
    name: 'burn rate: a firing page window pages, a start seen only in the counter too; ticket windows open a ticket',
    series: [
      ['burn_rate_alert_firing', { budget: 'api', severity: 'page' }, `${times(0, 4)} ${times(1, 20)} ${times(0, 40)}`],
      ['burn_rate_alert_firing', { budget: 'api', severity: 'ticket' }, times(0, 64)],
      ['burn_rate_alerts_total', { budget: 'api', severity: 'page' }, `${times(0, 4)} ${times(1, 60)}`],
      ['burn_rate_alerts_total', { budget: 'api', severity: 'ticket' }, times(0, 64)],
      // Fired and stopped between two scrapes.
      ['burn_rate_alert_firing', { budget: 'checkout', severity: 'page' }, times(0, 64)],
      ['burn_rate_alert_firing', { budget: 'checkout', severity: 'ticket' }, `${times(0, 4)} ${times(1, 60)}`],
      ['burn_rate_alerts_total', { budget: 'checkout', severity: 'page' }, `${times(0, 30)} ${times(1, 34)}`],
      ['burn_rate_alerts_total', { budget: 'checkout', severity: 'ticket' }, `${times(0, 4)} ${times(1, 60)}`],
    ],
    expect: [
      { at: '2m', alert: 'ErrorBudgetFastBurn', firing: [{ budget: 'api' }] },
      { at: '8m', alert: 'ErrorBudgetFastBurn', firing: [{ budget: 'checkout' }] },
      { at: '14m', alert: 'ErrorBudgetFastBurn', firing: [] },
      { at: '2m', alert: 'ErrorBudgetSlowBurn', firing: [{ budget: 'checkout' }] },
    ],
  },
  {
    name: 'a lost lock lease opens a ticket',
    series: [
      ['lock_lost_total', { lock: 'ledger', reason: 'expired' }, `${times(0, 4)} ${times(1, 60)}`],
      ['lock_lost_total', { lock: 'ledger', reason: 'max_hold' }, times(0, 64)],
    ],
    expect: [
      { at: '30s', alert: 'LockLost', firing: [] },
      { at: '2m', alert: 'LockLost', firing: [{ lock: 'ledger', reason: 'expired' }] },
    ],
  },
  {
    name: 'an exporter error with no listener errors fires, and a listener error on a new series fires too',
    series: [
      ['metrics_errors_total', {}, `${times(0, 4)} ${times(1, 60)}`],
      ['event_listener_errors_total', { event_type: 'breaker.state_change' }, `${times('_', 30)} ${times(1, 34)}`],
    ],
    expect: [
      { at: '2m', alert: 'MetricsExporterErrors', firing: [{}] },
      { at: '2m', alert: 'ResilienceListenerErrors', firing: [] },
      { at: '9m', alert: 'ResilienceListenerErrors', firing: [{ event_type: 'breaker.state_change' }] },
      { at: '30m', alert: 'MetricsExporterErrors', firing: [] },
    ],
  },
];

/** The family a series name belongs to, and the suffix (`_bucket`…) it carries. */
function splitSeries(series: string): { family: string; suffix: string } {
  const match = /^(.*?)(_bucket|_sum|_count)?$/.exec(series) as RegExpExecArray;
  return { family: match[1] as string, suffix: match[2] ?? '' };
}

const quote = (value: string): string => JSON.stringify(value);

/**
 * `promtool test rules` unit tests for {@link alertRules}: every rule against the scenario it
 * exists for (an outage with half-open probes, flapping from the first open, a store that
 * degrades once, an exporter error with no listener error, critical and non-critical checks,
 * burn rate…), for any prefix and naming. The package ships them for the default naming as
 * `alerts/x-resilience.rules.test.yml`; `x-metrics rules-tests --prefix <p>` prints them for yours.
 *
 * @example
 * ```ts
 * writeFileSync('rules.yml', alertRulesYaml({ prefix: 'shop' }));
 * writeFileSync('rules.test.yml', alertRuleTestsYaml({ prefix: 'shop', ruleFile: 'rules.yml' }));
 * // promtool test rules rules.test.yml
 * ```
 */
export function alertRuleTestsYaml(options: AlertRuleTestsOptions = {}): string {
  const o = readOptions('alertRuleTestsYaml', options, ['prefix', 'naming', 'ruleFile']);
  const naming = namingScheme(o.naming ?? 'x', 'alertRuleTestsYaml');
  const prefix = checkPrefix('alertRuleTestsYaml', o.prefix ?? naming.defaultPrefix);
  const rules = new Map<string, AlertRule>(alertRules({ prefix, naming: naming.id }).flatMap((g) => g.rules.map((r) => [r.alert, r] as const)));
  const rename = (family: string, labels: Labels): Record<string, string> => {
    const out: Record<string, string> = {};
    for (const [label, value] of Object.entries(labels)) out[labelName(naming, family, label) ?? label] = value;
    return out;
  };
  /** Label renames are those of the family an alert's labels come from. */
  const alertFamily: Record<string, string> = {
    CircuitBreakerOpen: 'circuit_breaker_state',
    CircuitBreakerFlapping: 'circuit_breaker_state_changes_total',
    HighFailureRate: 'circuit_breaker_requests_total',
  };
  const lines = [
    '# promtool test rules unit tests for the alerting rules, generated by @x/metrics',
    `# (x-metrics rules-tests${o.prefix === undefined ? '' : ` --prefix ${prefix === '' ? "''" : prefix}`}${naming.id === 'x' ? '' : ` --naming ${naming.id}`}). Run: promtool test rules <this file>`,
    'rule_files:',
    `  - ${o.ruleFile ?? 'x-resilience.rules.yml'}`,
    'evaluation_interval: 15s',
    'tests:',
  ];
  for (const scenario of SCENARIOS) {
    lines.push(`  # ${scenario.name}`, '  - interval: 15s', '    input_series:');
    for (const [series, labels, values] of scenario.series) {
      const { family, suffix } = splitSeries(series);
      const renamed = rename(family, labels);
      const selector = Object.entries(renamed)
        .map(([k, v]) => `${k}=${quote(v)}`)
        .join(',');
      lines.push(`      - series: ${quote(`${prefixed(prefix, familyName(naming, family))}${suffix}${selector === '' ? '' : `{${selector}}`}`)}`);
      lines.push(`        values: ${quote(values)}`);
    }
    lines.push('    alert_rule_test:');
    for (const expect of scenario.expect) {
      const rule = rules.get(expect.alert);
      if (rule === undefined) throw new Error(`alertRuleTestsYaml: no rule ${expect.alert}`);
      lines.push(`      - eval_time: ${expect.at}`, `        alertname: ${expect.alert}`);
      if (expect.firing.length === 0) {
        lines.push('        exp_alerts: []');
        continue;
      }
      lines.push('        exp_alerts:');
      for (const firing of expect.firing) {
        const labels = rename(alertFamily[expect.alert] ?? '', firing);
        lines.push('          - exp_labels:', `              severity: ${rule.labels.severity}`);
        for (const [k, v] of Object.entries(labels)) lines.push(`              ${k}: ${quote(v)}`);
        lines.push('            exp_annotations:');
        for (const [k, template] of Object.entries(rule.annotations)) {
          const text = template
            .replace(/\{\{ \$labels\.([a-zA-Z_]+) \}\}/g, (_, label: string) => labels[label] ?? '')
            .replace(/\{\{ \$value \| humanizePercentage \}\}/g, expect.value ?? '');
          lines.push(`              ${k}: ${quote(text)}`);
        }
      }
    }
  }
  return `${lines.join('\n')}\n`;
}

/** Alerts that have a scenario in {@link alertRuleTestsYaml} (a test checks every rule has one). */
export const TESTED_ALERTS: readonly string[] = [...new Set(SCENARIOS.flatMap((s) => s.expect.map((e) => e.alert)))];
