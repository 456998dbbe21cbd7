import type { TrackedInstance } from '@x/core';
import type { SetSample } from '../families.js';
import type { Source } from './types.js';
import { labelledCells, seconds, text } from './types.js';

interface MonitorLike {
  readonly kind: 'health_monitor';
  statuses(): ReadonlyArray<{
    readonly name: string;
    readonly healthy: boolean;
    readonly critical?: boolean;
    readonly lastCheckedAt?: number | undefined;
  }>;
}

/** Results of a check run, born at 0 together when a check first reports. */
const RESULTS = ['success', 'failure', 'timeout'] as const;
/** Burn-rate alert severities (`@x/health`'s `BurnRateSeverity`), born at 0 per burn-rate monitor. */
const SEVERITIES = ['page', 'ticket'] as const;
interface BurnRateLike {
  evaluate(): ReadonlyArray<{ readonly severity: unknown; readonly firing: boolean }>;
}
const kindOf = (instance: object): unknown => (instance as { kind?: unknown }).kind;
interface BudgetLike {
  readonly kind: 'error_budget';
  readonly remaining: number;
  readonly consumed: number;
}

export const healthSource: Source = {
  source: 'health',
  events: () => ['health.check', 'health.error_budget_exhausted', 'health.burn_rate_alert'],
  create(families) {
    // Live monitors or budgets sharing a name report the worst of them: unhealthy over healthy, the
    // least budget remaining and the most consumed.
    families.gauge<'checker' | 'check'>(
      'health_check_status',
      'Health check status: 1 healthy, 0 unhealthy (checks not yet run are omitted).',
      'health',
      'min',
      ({ name, instance }, set) => {
        if ((instance as Partial<MonitorLike>).kind !== 'health_monitor') return;
        for (const status of (instance as MonitorLike).statuses()) {
          if (status.lastCheckedAt === undefined) continue;
          set({ checker: name, check: status.name }, status.healthy ? 1 : 0);
        }
      },
    );
    // Whether each check counts towards the monitor's health: alert rules page only for critical
    // checks (`… == 0 and on (checker, check) …_health_check_critical == 1`).
    families.gauge<'checker' | 'check'>(
      'health_check_critical',
      'Whether the health check is critical (1: it decides the overall health) or informational (0: it can only warn).',
      'health',
      'max',
      ({ name, instance }, set) => {
        if ((instance as Partial<MonitorLike>).kind !== 'health_monitor') return;
        for (const status of (instance as MonitorLike).statuses()) set({ checker: name, check: status.name }, status.critical === false ? 0 : 1);
      },
    );
    const budgets =
      (field: 'remaining' | 'consumed') =>
      ({ name, instance }: TrackedInstance, set: SetSample<'budget'>): void => {
        if ((instance as Partial<BudgetLike>).kind !== 'error_budget') return;
        const value = (instance as BudgetLike)[field];
        if (Number.isFinite(value)) set({ budget: name }, value);
      };
    families.gauge('error_budget_remaining', 'Share of the error budget left in the window (1 − consumed).', 'health', 'min', budgets('remaining'));
    families.gauge(
      'error_budget_consumed',
      'Share of the error budget used in the window: failures ÷ (requests × (1 − SLO)).',
      'health',
      'max',
      budgets('consumed'),
    );
    // Burn-rate alerts firing now, per severity (1 while any window of that severity fires).
    // Reading evaluates the monitor, which also emits the start/stop events it would emit on a record.
    families.gauge<'budget' | 'severity'>(
      'burn_rate_alert_firing',
      'Whether a multi-window burn-rate alert of this severity is firing now (1) or not (0); read at scrape.',
      'health',
      'max',
      ({ name, instance }, set) => {
        if (kindOf(instance) !== 'burn_rate_monitor') return;
        const firing = new Map<string, number>();
        for (const status of (instance as BurnRateLike).evaluate()) {
          const severity = text(status.severity);
          firing.set(severity, Math.max(firing.get(severity) ?? 0, status.firing ? 1 : 0));
        }
        for (const [severity, value] of firing) set({ budget: name, severity }, value);
      },
    );
    const exhausted = labelledCells(families.counter('error_budget_exhausted_total', 'Times the error budget became exhausted.'), ['budget']);
    const duration = families.histogram('health_check_duration_seconds', 'Duration of health checks.', families.buckets.durationSeconds);
    const total = labelledCells(families.counter('health_check_total', 'Health check runs, by result.'), ['checker', 'check', 'result']);
    const burn = labelledCells(
      families.counter('burn_rate_alerts_total', 'Times a multi-window burn-rate alert started firing, by severity.'),
      ['budget', 'severity'],
    );
    const checkResults = (checker: string, check: string): void => {
      for (const result of RESULTS) total(checker, check, result);
    };
    return {
      // Born at 0: budgets, burn-rate monitors and the checks a monitor already has. A check
      // registered later gets its three result series on its first run (its first result counts
      // from 1; a later different result is then an increase).
      onTracked(name, instances) {
        for (const instance of instances()) {
          const kind = kindOf(instance);
          if (kind === 'error_budget') exhausted(name);
          else if (kind === 'burn_rate_monitor') for (const severity of SEVERITIES) burn(name, severity);
          else if (kind === 'health_monitor') for (const status of (instance as MonitorLike).statuses()) checkResults(name, status.name);
        }
      },
      onEvent(event) {
        switch (event.type) {
          case 'health.check': {
            const check = text(event.check);
            checkResults(event.name, check);
            total(event.name, check, text(event.result)).value++;
            duration.cell(`${event.name}\0${check}`, { checker: event.name, check }).observe(seconds(event.durationMs));
            break;
          }
          case 'health.error_budget_exhausted':
            exhausted(event.name).value++;
            break;
          case 'health.burn_rate_alert':
            if (event.firing === true) burn(event.name, text(event.severity)).value++;
            break;
        }
      },
    };
  },
};
