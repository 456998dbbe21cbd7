export { createHealthMonitor } from './monitor.js';
export type { HealthMonitor, HealthMonitorOptions, RunOnceOptions } from './monitor.js';
export type {
  CheckSettings,
  HealthCheckDefinition,
  HealthCheckStatus,
  PingCheckDefinition,
  ThresholdCheckDefinition,
} from './checks.js';
export type { HealthCheckReport, HealthReport, HealthReportOptions } from './report.js';
export { createErrorBudget } from './error-budget.js';
export type { ErrorBudget, ErrorBudgetOptions, ErrorBudgetSnapshot } from './error-budget.js';
export { createBurnRateMonitor, DEFAULT_BURN_RATE_WINDOWS } from './burn-rate.js';
export type { BurnRateMonitor, BurnRateMonitorOptions, BurnRateStatus, BurnRateWindow } from './burn-rate.js';
export { HealthCheckTimeoutError, HealthCheckFailedError, ThresholdError } from './errors.js';
export type { ThresholdViolation } from './errors.js';
export type {
  BurnRateAlertEvent,
  BurnRateSeverity,
  ErrorBudgetExhaustedEvent,
  ErrorBudgetFigures,
  ErrorBudgetRecoveredEvent,
  HealthCheckEvent,
  HealthCheckResult,
  HealthEvent,
  HealthState,
  HealthStatusChangeEvent,
} from './events.js';
