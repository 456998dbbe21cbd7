import type { BaseEvent } from '@x/core';

/**
 * Where a check stands: `'unknown'` until its first run completes, then `'healthy'` or
 * `'unhealthy'` (after `failureThreshold` / `successThreshold` consecutive results, see
 * `HealthCheckDefinition`).
 */
export type HealthState = 'unknown' | 'healthy' | 'unhealthy';

/** How one run of a check ended: it passed, it threw (or its value was out of range), or it timed out. */
export type HealthCheckResult = 'success' | 'failure' | 'timeout';

/**
 * One run of one check finished (emitted for every run, whatever the result). `durationMs` is
 * the time until the check settled or timed out. A metrics exporter turns these into
 * `<p>_health_check_status{checker, check}` (from `healthy`),
 * `<p>_health_check_duration_seconds{checker, check}` and
 * `<p>_health_check_total{checker, check, result}`; `name` is the checker (the monitor's name).
 *
 * @example
 * ```ts
 * events.on('health.check', (e) => checks.inc({ checker: e.name, check: e.check, result: e.result }));
 * ```
 */
export interface HealthCheckEvent extends BaseEvent {
  readonly type: 'health.check';
  readonly source: 'health';
  /** Name of the check. */
  readonly check: string;
  readonly result: HealthCheckResult;
  /** Milliseconds from the start of the run until it settled (or timed out). */
  readonly durationMs: number;
  /** The check's status after this run (which may lag the result, see `failureThreshold`). */
  readonly healthy: boolean;
  /** Whether the check counts towards the monitor's overall health. */
  readonly critical: boolean;
  /** What the run failed with; undefined on success. */
  readonly error: unknown;
  /** The value a threshold check read; undefined for ping checks and when reading it failed. */
  readonly value: number | undefined;
}

/**
 * A check's state changed. Emitted once per change, including the first result (`from:
 * 'unknown'`); a check that keeps failing with different errors emits nothing more.
 *
 * @example
 * ```ts
 * events.on('health.status_change', (e) => {
 *   if (e.to === 'unhealthy') log.warn(`${e.name}/${e.check} is unhealthy`, e.error);
 * });
 * ```
 */
export interface HealthStatusChangeEvent extends BaseEvent {
  readonly type: 'health.status_change';
  readonly source: 'health';
  /** Name of the check. */
  readonly check: string;
  readonly from: HealthState;
  readonly to: 'healthy' | 'unhealthy';
  /** `to === 'healthy'`, for listeners that only need the flag. */
  readonly healthy: boolean;
  /** Whether the check counts towards the monitor's overall health. */
  readonly critical: boolean;
  /** The failure that made it unhealthy; undefined when it became healthy. */
  readonly error: unknown;
}

/** The figures an error-budget event carries, as of the moment it was emitted. */
export interface ErrorBudgetFigures {
  /** The SLO target, e.g. 0.999. */
  readonly slo: number;
  /** Length of the budget window, ms. */
  readonly windowMs: number;
  /** Requests in the window. */
  readonly requests: number;
  /** Failed requests in the window. */
  readonly failures: number;
  /** Share of the budget spent: `failures ÷ (requests × (1 − slo))`. */
  readonly consumed: number;
  /** `1 − consumed`; negative when the budget is overspent. */
  readonly remaining: number;
}

/**
 * An error budget became exhausted (`consumed` reached 1). A metrics exporter counts these as
 * `<p>_error_budget_exhausted_total{budget}`.
 *
 * @example
 * ```ts
 * events.on('health.error_budget_exhausted', (e) => freezeDeploys(`${e.name}: ${e.failures} failures`));
 * ```
 */
export interface ErrorBudgetExhaustedEvent extends BaseEvent, ErrorBudgetFigures {
  readonly type: 'health.error_budget_exhausted';
  readonly source: 'health';
}

/**
 * An exhausted error budget has budget left again, because old failures slid out of the window
 * or successes diluted them. Noticed on the next `record` or read, since nothing runs on a timer.
 *
 * @example
 * ```ts
 * events.on('health.error_budget_recovered', (e) => unfreezeDeploys(e.name));
 * ```
 */
export interface ErrorBudgetRecoveredEvent extends BaseEvent, ErrorBudgetFigures {
  readonly type: 'health.error_budget_recovered';
  readonly source: 'health';
}

/** How urgent a burn-rate alert is: `'page'` wakes someone, `'ticket'` waits for working hours. */
export type BurnRateSeverity = 'page' | 'ticket';

/**
 * A multi-window burn-rate alert started (`firing: true`) or stopped (`firing: false`) firing.
 * Checked on every `record` while someone listens, and on every `evaluate()`.
 *
 * @example
 * ```ts
 * events.on('health.burn_rate_alert', (e) => {
 *   if (e.firing && e.severity === 'page') pager.trigger(`${e.name} burning ${e.longBurnRate.toFixed(1)}×`);
 * });
 * ```
 */
export interface BurnRateAlertEvent extends BaseEvent {
  readonly type: 'health.burn_rate_alert';
  readonly source: 'health';
  readonly severity: BurnRateSeverity;
  /** The SLO target, e.g. 0.999. */
  readonly slo: number;
  readonly longWindowMs: number;
  readonly shortWindowMs: number;
  /** Burn rate both windows must exceed. */
  readonly threshold: number;
  readonly longBurnRate: number;
  readonly shortBurnRate: number;
  readonly firing: boolean;
}

/** Every event `@x/health` emits. */
export type HealthEvent =
  | HealthCheckEvent
  | HealthStatusChangeEvent
  | ErrorBudgetExhaustedEvent
  | ErrorBudgetRecoveredEvent
  | BurnRateAlertEvent;

declare module '@x/core' {
  interface XEventMap {
    'health.check': HealthCheckEvent;
    'health.status_change': HealthStatusChangeEvent;
    'health.error_budget_exhausted': ErrorBudgetExhaustedEvent;
    'health.error_budget_recovered': ErrorBudgetRecoveredEvent;
    'health.burn_rate_alert': BurnRateAlertEvent;
  }
}
