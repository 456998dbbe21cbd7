import type { SourceFactory } from './types.js';
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

export const healthMetrics: SourceFactory = (families, bus) => {
  families.gauge(
    'health_check_status',
    'Health check status: 1 healthy, 0 unhealthy (checks not yet run are omitted).',
    ['checker', 'check'],
    (set) => {
      for (const { name, instance } of bus.tracked('health')) {
        if ((instance as Partial<MonitorLike>).kind !== 'health_monitor') continue;
        for (const status of (instance as MonitorLike).statuses()) {
          if (status.lastCheckedAt === undefined) continue;
          set({ checker: name, check: status.name }, status.healthy ? 1 : 0);
        }
      }
    },
  );
  const budgets = (field: 'remaining' | 'consumed') => (set: (l: { budget: string }, v: number) => void) => {
    for (const { name, instance } of bus.tracked('health')) {
      if ((instance as Partial<BudgetLike>).kind !== 'error_budget') continue;
      const value = (instance as BudgetLike)[field];
      if (Number.isFinite(value)) set({ budget: name }, value);
    }
  };
  families.gauge('error_budget_remaining', 'Share of the error budget left in the window (1 − consumed).', ['budget'], budgets('remaining'));
  families.gauge(
    'error_budget_consumed',
    'Share of the error budget used in the window: failures ÷ (requests × (1 − SLO)).',
    ['budget'],
    budgets('consumed'),
  );
  const exhausted = families.counter('error_budget_exhausted_total', 'Times the error budget became exhausted.', ['budget']);
  const duration = families.histogram(
    'health_check_duration_seconds',
    'Duration of health checks.',
    ['checker', 'check'],
    families.buckets.durationSeconds,
  );
  const total = families.counter('health_check_total', 'Health check runs, by result.', ['checker', 'check', 'result']);
  const burn = families.counter(
    'burn_rate_alerts_total',
    'Times a multi-window burn-rate alert started firing, by severity.',
    ['budget', 'severity'],
  );
  return {
    onEvent(event) {
      switch (event.type) {
        case 'health.check':
          total.inc({ checker: event.name, check: text(event.check), result: text(event.result) });
          duration.observe({ checker: event.name, check: text(event.check) }, seconds(event.durationMs));
          break;
        case 'health.error_budget_exhausted':
          exhausted.inc({ budget: event.name });
          break;
        case 'health.burn_rate_alert':
          if (event.firing === true) burn.inc({ budget: event.name, severity: text(event.severity) });
          break;
      }
    },
  };
};
