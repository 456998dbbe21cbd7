import type { TrackedInstance } from '@x/core';
import type { SetSample } from '../families.js';
import type { Source } from './types.js';
import { seconds, text } from './types.js';

interface MonitorLike {
  readonly kind: 'health_monitor';
  statuses(): ReadonlyArray<{ readonly name: string; readonly healthy: boolean; readonly lastCheckedAt?: number | undefined }>;
}
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
    const exhausted = families.counter('error_budget_exhausted_total', 'Times the error budget became exhausted.');
    const duration = families.histogram('health_check_duration_seconds', 'Duration of health checks.', families.buckets.durationSeconds);
    const total = families.counter('health_check_total', 'Health check runs, by result.');
    const burn = families.counter('burn_rate_alerts_total', 'Times a multi-window burn-rate alert started firing, by severity.');
    return {
      onEvent(event) {
        switch (event.type) {
          case 'health.check': {
            const check = text(event.check);
            const result = text(event.result);
            total.cell(`${event.name}\0${check}\0${result}`, { checker: event.name, check, result }).value++;
            duration.cell(`${event.name}\0${check}`, { checker: event.name, check }).observe(seconds(event.durationMs));
            break;
          }
          case 'health.error_budget_exhausted':
            exhausted.cell(event.name, { budget: event.name }).value++;
            break;
          case 'health.burn_rate_alert':
            if (event.firing === true) {
              const severity = text(event.severity);
              burn.cell(`${event.name}\0${severity}`, { budget: event.name, severity }).value++;
            }
            break;
        }
      },
    };
  },
};
