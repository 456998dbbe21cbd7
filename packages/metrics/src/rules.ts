import { checkNumber, readOptions } from '@x/core';
import { checkPrefix, familyName, labelName, namingScheme, prefixed } from './naming.js';
import type { Naming, NamingId } from './naming.js';

/** Options of {@link alertRules} and {@link alertRulesYaml}. */
export interface AlertRulesOptions {
  /** Prefix the exporter was given (`collectMetrics({ prefix })`). Default: the naming's (`x`). */
  readonly prefix?: string;
  /** Naming the exporter was given (`collectMetrics({ naming })`). Default `'x'`. */
  readonly naming?: NamingId;
  /**
   * Multiplies every window and `for:` duration. Default 1. Tests that compress an outage into
   * seconds use e.g. `1 / 30` (a 5-minute `for:` becomes 10 s); production rules keep 1.
   */
  readonly timeScale?: number;
}

/** One Prometheus alerting rule. */
export interface AlertRule {
  readonly alert: string;
  readonly expr: string;
  readonly for?: string;
  readonly labels: { readonly severity: 'page' | 'ticket' };
  readonly annotations: { readonly summary: string; readonly description: string };
}

/** A rule group as Prometheus loads it. */
export interface AlertRuleGroup {
  readonly name: string;
  readonly rules: readonly AlertRule[];
}

/**
 * A Prometheus duration for `seconds` (`5m`, `90s`, `4500ms`).
 *
 * @example
 * ```ts
 * promDuration(300); // '5m'
 * promDuration(4.5); // '4500ms'
 * ```
 */
export function promDuration(seconds: number): string {
  const ms = Math.max(1, Math.round(seconds * 1000));
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1_000 === 0) return `${ms / 1_000}s`;
  return `${ms}ms`;
}

interface Context {
  /** Exported name of a family. */
  readonly m: (suffix: string) => string;
  /** Exported name of a family's label. */
  readonly l: (suffix: string, label: string) => string;
  /** A scaled duration. */
  readonly d: (seconds: number) => string;
}

/**
 * Growth of a counter over `window`, counting a series that appeared within the window from 0:
 * its whole value. Series born at 0 (the exporter creates them when an instance is tracked) are
 * covered by `increase()`; this also catches a series whose first sample already counts an event
 * (a store the exporter could not know before its first error, a listener error), which
 * `increase()` alone never sees.
 */
const grown = (selector: string, window: string): string => `((${selector} unless ${selector} offset ${window}) or increase(${selector}[${window}]))`;

function rules({ m, l, d }: Context): AlertRule[] {
  const breaker = l('circuit_breaker_state', 'name');
  const $b = `{{ $labels.${breaker} }}`;
  return [
    {
      // Not `state == 2` with `for:`: each half-open probe is a sample of 1 that restarts `for:`,
      // so an outage with probes never fired. Here any state but closed counts, for the whole
      // window plus `for:`; a probe that succeeds (closed) resets it, as a recovery should.
      alert: 'CircuitBreakerOpen',
      expr: `min_over_time(${m('circuit_breaker_state')}[${d(120)}]) > 0`,
      for: d(180),
      labels: { severity: 'page' },
      annotations: {
        summary: `Circuit breaker ${$b} has not closed for 5 minutes`,
        description: `The breaker has been open or half-open with failing probes: calls through ${$b} are rejected. Check the dependency it protects.`,
      },
    },
    {
      alert: 'CircuitBreakerFlapping',
      expr: `sum by (${breaker}) (${grown(`${m('circuit_breaker_state_changes_total')}{to_state="open"}`, d(900))}) >= 4`,
      labels: { severity: 'ticket' },
      annotations: {
        summary: `Circuit breaker ${$b} opened 4 times or more in 15 minutes`,
        description: 'Opens without a sustained recovery: the dependency fails again soon after each probe, or the thresholds are too tight.',
      },
    },
    {
      alert: 'HighFailureRate',
      expr: `sum by (${breaker}) (rate(${m('circuit_breaker_requests_total')}{result="failure"}[${d(300)}]))\n  / sum by (${breaker}) (rate(${m('circuit_breaker_requests_total')}{result=~"success|failure"}[${d(300)}])) > 0.1`,
      for: d(300),
      labels: { severity: 'page' },
      annotations: {
        summary: `More than 10% of calls through ${$b} fail`,
        description: 'Failures among the calls the breaker let through, over 5 minutes (rejections excluded).',
      },
    },
    {
      alert: 'RetriesExhausted',
      expr: `sum by (policy) (rate(${m('retry_calls_total')}{result="exhausted"}[${d(300)}])) > 0`,
      for: d(600),
      labels: { severity: 'ticket' },
      annotations: {
        summary: 'Retry policy {{ $labels.policy }} keeps giving up after its last attempt',
        description: 'Calls fail on every attempt: retries only add load. Check the dependency, or lower maxAttempts.',
      },
    },
    {
      alert: 'BulkheadRejecting',
      expr: `sum by (bulkhead) (rate(${m('bulkhead_rejected_total')}[${d(300)}])) > 1`,
      for: d(300),
      labels: { severity: 'ticket' },
      annotations: {
        summary: 'Bulkhead {{ $labels.bulkhead }} rejects more than 1 call per second',
        description: 'The bulkhead is full (or its queue wait runs out): callers get BULKHEAD_FULL.',
      },
    },
    {
      alert: 'BulkheadSaturated',
      expr: `${m('bulkhead_concurrent')} >= ${m('bulkhead_limit')} and ${m('bulkhead_queued')} > 0`,
      for: d(600),
      labels: { severity: 'ticket' },
      annotations: {
        summary: 'Bulkhead {{ $labels.bulkhead }} has been full with a queue for 10 minutes',
        description: 'Every slot is busy and calls wait: raise the limit or find what makes calls slow.',
      },
    },
    {
      alert: 'RateLimiterStoreDegraded',
      expr: `sum by (store) (${grown(m('ratelimit_store_degraded_total'), d(600))}) > 0`,
      labels: { severity: 'ticket' },
      annotations: {
        summary: 'Rate limiter store {{ $labels.store }} was bypassed (Redis failing) in the last 10 minutes',
        description: 'The limiter decided without its store (onStoreError: open, closed or local) after repeated store failures.',
      },
    },
    {
      // Pages only for critical checks: an informational check (critical: false) can only warn.
      alert: 'HealthCheckFailing',
      expr: `${m('health_check_status')} == 0 and on (checker, check) ${m('health_check_critical')} == 1`,
      for: d(300),
      labels: { severity: 'page' },
      annotations: {
        summary: 'Critical health check {{ $labels.check }} of {{ $labels.checker }} is failing',
        description: 'A check that decides the overall health has been failing for 5 minutes.',
      },
    },
    {
      alert: 'HealthCheckWarning',
      expr: `${m('health_check_status')} == 0 and on (checker, check) ${m('health_check_critical')} == 0`,
      for: d(600),
      labels: { severity: 'ticket' },
      annotations: {
        summary: 'Non-critical health check {{ $labels.check }} of {{ $labels.checker }} is failing',
        description: 'An informational check (critical: false) has been failing for 10 minutes; the service reports warn, not fail.',
      },
    },
    {
      alert: 'ErrorBudgetNearlyExhausted',
      expr: `${m('error_budget_remaining')} < 0.1`,
      for: d(600),
      labels: { severity: 'ticket' },
      annotations: {
        summary: 'Error budget {{ $labels.budget }} is nearly exhausted ({{ $value | humanizePercentage }} left)',
        description: 'Less than 10% of the budget is left in its window.',
      },
    },
    {
      alert: 'ErrorBudgetExhausted',
      expr: `${m('error_budget_consumed')} >= 1 or sum by (budget) (${grown(m('error_budget_exhausted_total'), d(300))}) > 0`,
      labels: { severity: 'page' },
      annotations: {
        summary: 'Error budget {{ $labels.budget }} is exhausted',
        description: 'The budget is spent now, or was spent within the last 5 minutes (even between two scrapes).',
      },
    },
    {
      alert: 'ErrorBudgetFastBurn',
      expr: `max by (budget) (${m('burn_rate_alert_firing')}{severity="page"}) > 0\n  or sum by (budget) (${grown(`${m('burn_rate_alerts_total')}{severity="page"}`, d(300))}) > 0`,
      labels: { severity: 'page' },
      annotations: {
        summary: 'Error budget {{ $labels.budget }} is burning fast (multi-window burn-rate alert)',
        description: 'A page-severity burn-rate window fires (or fired in the last 5 minutes): at this rate the budget is gone within days.',
      },
    },
    {
      alert: 'ErrorBudgetSlowBurn',
      expr: `max by (budget) (${m('burn_rate_alert_firing')}{severity="ticket"}) > 0\n  or sum by (budget) (${grown(`${m('burn_rate_alerts_total')}{severity="ticket"}`, d(1800))}) > 0`,
      labels: { severity: 'ticket' },
      annotations: {
        summary: 'Error budget {{ $labels.budget }} is burning faster than it refills',
        description: 'A ticket-severity burn-rate window fires (or fired in the last 30 minutes).',
      },
    },
    {
      alert: 'LockLost',
      expr: `sum by (lock, reason) (${grown(m('lock_lost_total'), d(900))}) > 0`,
      labels: { severity: 'ticket' },
      annotations: {
        summary: 'Lock {{ $labels.lock }} lost a lease while held ({{ $labels.reason }})',
        description: 'A holder kept working after its lease ended: check that the work checks its signal and that fencing tokens are enforced.',
      },
    },
    {
      // One alert per family: a sum over two families is empty (and blind) while either has no series.
      alert: 'ResilienceListenerErrors',
      expr: `sum by (event_type) (${grown(m('event_listener_errors_total'), d(900))}) > 0`,
      labels: { severity: 'ticket' },
      annotations: {
        summary: 'An event listener for {{ $labels.event_type }} events is throwing',
        description: 'A listener on the @x event bus threw; the calls went on unaffected, but what the listener does (logging, metrics) is incomplete.',
      },
    },
    {
      alert: 'MetricsExporterErrors',
      expr: `sum (${grown(m('metrics_errors_total'), d(900))}) > 0`,
      labels: { severity: 'ticket' },
      annotations: {
        summary: 'The @x metrics exporter failed to record events or read instances',
        description: 'Some samples are missing from the scrape (an incompatible package copy on the bus, or a metric name already taken).',
      },
    },
  ];
}

/**
 * The alerting rules for the metrics `collectMetrics` exports with the given prefix and naming,
 * as one Prometheus rule group. Each rule's scenario is covered by `promtool test rules` tests
 * shipped in `alerts/`.
 *
 * @example
 * ```ts
 * const [group] = alertRules({ prefix: 'dwcp' });
 * group.rules.find((r) => r.alert === 'CircuitBreakerOpen')?.expr;
 * // 'min_over_time(dwcp_circuit_breaker_state[2m]) > 0'
 * ```
 */
export function alertRules(options: AlertRulesOptions = {}): AlertRuleGroup[] {
  const { naming, prefix, scale } = readRuleOptions('alertRules', options);
  const context: Context = {
    m: (suffix) => prefixed(prefix, familyName(naming, suffix)),
    l: (suffix, label) => labelName(naming, suffix, label) ?? label,
    d: (seconds) => promDuration(seconds * scale),
  };
  return [{ name: `${prefix === '' ? naming.id.replace(/-/g, '_') : prefix}_resilience`, rules: rules(context) }];
}

/**
 * {@link alertRules} as the YAML file Prometheus loads (`rule_files:`); what
 * `x-metrics rules --prefix <p>` prints.
 *
 * @example
 * ```ts
 * writeFileSync('/etc/prometheus/rules/shop.yml', alertRulesYaml({ prefix: 'shop' }));
 * ```
 */
export function alertRulesYaml(options: AlertRulesOptions = {}): string {
  const { prefix, naming } = readRuleOptions('alertRulesYaml', options);
  const lines = [
    `# Prometheus alerting rules for the @x resilience packages, generated by @x/metrics`,
    `# (x-metrics rules --prefix ${prefix === '' ? "''" : prefix}${naming.id === 'x' ? '' : ` --naming ${naming.id}`}) for collectMetrics({ prefix: '${prefix}'${naming.id === 'x' ? '' : `, naming: '${naming.id}'`} }).`,
    '# Thresholds are starting points to tune per service. Unit tests: x-resilience.rules.test.yml (promtool test rules).',
    'groups:',
  ];
  for (const group of alertRules(options)) {
    lines.push(`  - name: ${group.name}`, '    rules:');
    for (const rule of group.rules) {
      lines.push(`      - alert: ${rule.alert}`, '        expr: |-');
      for (const line of rule.expr.split('\n')) lines.push(`          ${line}`);
      if (rule.for !== undefined) lines.push(`        for: ${rule.for}`);
      lines.push('        labels:', `          severity: ${rule.labels.severity}`, '        annotations:');
      lines.push(`          summary: ${JSON.stringify(rule.annotations.summary)}`);
      lines.push(`          description: ${JSON.stringify(rule.annotations.description)}`);
      lines.push('');
    }
  }
  return `${lines.join('\n').trimEnd()}\n`;
}

function readRuleOptions(owner: string, options: AlertRulesOptions): { naming: Naming; prefix: string; scale: number } {
  const o = readOptions(owner, options, ['prefix', 'naming', 'timeScale']);
  const naming = namingScheme(o.naming ?? 'x', owner);
  const prefix = checkPrefix(owner, o.prefix ?? naming.defaultPrefix);
  const scale = checkNumber(owner, 'timeScale', o.timeScale ?? 1, { min: 0, minExclusive: true, max: 1000 });
  return { naming, prefix, scale };
}
