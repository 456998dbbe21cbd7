import { createEventBus, isXError } from '@x/core';
import { describe, expectTypeOf, it } from 'vitest';
import {
  createBurnRateMonitor,
  createErrorBudget,
  createHealthMonitor,
  HealthCheckTimeoutError,
  ThresholdError,
} from './index.js';
import type {
  BurnRateStatus,
  HealthCheckResult,
  HealthCheckStatus,
  HealthReport,
  HealthState,
} from './index.js';

describe('types', () => {
  it('accepts ping checks and threshold checks, not a mix', () => {
    const monitor = createHealthMonitor();
    expectTypeOf(monitor.register({ name: 'db', check: async (signal) => void signal.aborted })).toEqualTypeOf<() => void>();
    monitor.register({ name: 'redis', check: () => true });
    monitor.register({ name: 'depth', value: () => 3, max: 10 });
    monitor.register({ name: 'lag', value: async () => 3, min: 0, max: 10, critical: false, timeoutMs: 100 });
    // @ts-expect-error a check is either a ping or a threshold check
    monitor.register({ name: 'both', check: () => undefined, value: () => 1 });
    // @ts-expect-error bounds belong to threshold checks
    monitor.register({ name: 'bounded-ping', check: () => undefined, max: 1 });
    // @ts-expect-error a threshold value is a number
    monitor.register({ name: 'text', value: () => 'high', max: 1 });
    // @ts-expect-error a check needs a name
    monitor.register({ check: () => undefined });
  });

  it('types statuses, reports and runOnce', () => {
    const monitor = createHealthMonitor();
    expectTypeOf(monitor.status('db')).toEqualTypeOf<HealthCheckStatus | undefined>();
    expectTypeOf(monitor.statuses()).toEqualTypeOf<HealthCheckStatus[]>();
    expectTypeOf<HealthCheckStatus['state']>().toEqualTypeOf<HealthState>();
    expectTypeOf(monitor.runOnce()).toEqualTypeOf<Promise<HealthReport>>();
    expectTypeOf(monitor.report().status).toEqualTypeOf<'pass' | 'warn' | 'fail'>();
  });

  it('registers the events, so listeners are fully typed', () => {
    const bus = createEventBus();
    bus.on('health.check', (e) => {
      expectTypeOf(e.result).toEqualTypeOf<HealthCheckResult>();
      expectTypeOf(e.durationMs).toEqualTypeOf<number>();
      expectTypeOf(e.check).toEqualTypeOf<string>();
    });
    bus.on('health.status_change', (e) => {
      expectTypeOf(e.from).toEqualTypeOf<HealthState>();
      expectTypeOf(e.to).toEqualTypeOf<'healthy' | 'unhealthy'>();
    });
    bus.on('health.error_budget_exhausted', (e) => expectTypeOf(e.remaining).toEqualTypeOf<number>());
    bus.on('health.error_budget_recovered', (e) => expectTypeOf(e.consumed).toEqualTypeOf<number>());
    bus.on('health.burn_rate_alert', (e) => expectTypeOf(e.severity).toEqualTypeOf<'page' | 'ticket'>());
  });

  it('registers the error codes, so isXError narrows', () => {
    const error: unknown = undefined;
    if (isXError(error, 'HEALTH_CHECK_TIMEOUT')) expectTypeOf(error).toEqualTypeOf<HealthCheckTimeoutError>();
    if (isXError(error, 'HEALTH_THRESHOLD')) expectTypeOf(error).toEqualTypeOf<ThresholdError>();
  });

  it('types budgets and burn-rate monitors', () => {
    const budget = createErrorBudget({ slo: 0.999 });
    expectTypeOf(budget.consumed).toEqualTypeOf<number>();
    expectTypeOf(budget.kind).toEqualTypeOf<'error_budget'>();
    // @ts-expect-error slo is required
    createErrorBudget({ windowMs: 1_000 });
    const burn = createBurnRateMonitor({ slo: 0.999 });
    expectTypeOf(burn.evaluate()).toEqualTypeOf<BurnRateStatus[]>();
    // @ts-expect-error severities are page or ticket
    createBurnRateMonitor({ slo: 0.999, windows: [{ severity: 'sms', longWindowMs: 60_000, shortWindowMs: 6_000, threshold: 2 }] });
  });
});
