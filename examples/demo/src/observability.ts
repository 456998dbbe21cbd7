import type { Breaker } from '@x/breaker';
import type { EventBus } from '@x/core';
import { createErrorBudget, createHealthMonitor } from '@x/health';
import type { ErrorBudget, HealthMonitor } from '@x/health';
import { collectMetrics } from '@x/metrics';
import type { MetricsCollector } from '@x/metrics';
import { Registry } from 'prom-client';
import type { Downstream } from './downstream.js';

/** What `/metrics` and `/healthz` serve from. */
export interface Observability {
  readonly registry: Registry;
  readonly metrics: MetricsCollector;
  readonly health: HealthMonitor;
  /** SLO budget over the API's answers: fresh data is good, a fallback or a 5xx is bad. */
  readonly budget: ErrorBudget;
  /** How long `/healthz` may reuse the latest run of the checks. */
  readonly healthMaxAgeMs: number;
  close(): void;
}

export interface ObservabilityOptions {
  readonly events: EventBus;
  readonly breaker: Breaker;
  readonly downstream: Downstream;
  /** Time between health runs, ms. */
  readonly intervalMs: number;
  /** Window of the error budget, ms (a multiple of 20). */
  readonly budgetWindowMs: number;
}

/** The SLO: 90 % of answers carry fresh data. Loose on purpose: the demo's failing phase spends it. */
export const SLO = 0.9;

/**
 * Metrics on a registry of their own (so two demos in one process, as in the tests, never
 * collide), and a health monitor with three checks: the downstream answers its ping, the breaker
 * is not open, and the error budget is not exhausted (non-critical: it turns the report to
 * `warn`, not `fail`).
 */
export function createObservability(options: ObservabilityOptions): Observability {
  const { events, breaker, downstream } = options;
  const registry = new Registry();
  const metrics = collectMetrics({ registry, bus: events, durations: true });
  const budget = createErrorBudget({
    name: 'api',
    slo: SLO,
    windowMs: options.budgetWindowMs,
    bucketMs: options.budgetWindowMs / 20,
    events,
  });
  const health = createHealthMonitor({
    name: 'demo-api',
    intervalMs: options.intervalMs,
    timeoutMs: 200,
    events,
    checks: [
      { name: 'downstream', check: (signal) => downstream.ping(signal) },
      { name: 'breaker', check: () => breaker.state === 'closed' || breaker.state === 'half_open' },
      { name: 'error_budget', value: () => budget.remaining, min: 0, critical: false },
    ],
  });
  health.start();
  return {
    registry,
    metrics,
    health,
    budget,
    healthMaxAgeMs: options.intervalMs,
    close() {
      health.stop();
      metrics.stop();
    },
  };
}
