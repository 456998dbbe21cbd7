import type { HealthCheckStatus } from './checks.js';

/** One check in a {@link HealthReport}: JSON-ready (`null` where there is no value yet). */
export interface HealthCheckReport {
  /** `'unknown'` until the check's first run completes. */
  readonly status: 'pass' | 'fail' | 'unknown';
  readonly critical: boolean;
  /** When the latest run finished, epoch ms. */
  readonly lastCheckedAt: number | null;
  /** How long the latest run took, ms. */
  readonly durationMs: number | null;
  /** Share of passed runs among the recent ones (see `historySize`). */
  readonly successRate: number | null;
  readonly consecutiveFailures: number;
  /** The latest failure's message; `null` when it passed, or always with `{ errors: false }`. */
  readonly error: string | null;
  /** The `code` of the latest failure when it is an `XError` (e.g. `'HEALTH_CHECK_TIMEOUT'`). */
  readonly code: string | null;
  /** Threshold checks only: the latest value read. */
  readonly value?: number | null;
}

/**
 * A plain object for a health endpoint. `status` is `'fail'` when a critical check fails (or has
 * not run yet, unless `unknownIsHealthy`), `'warn'` when only non-critical checks fail, else
 * `'pass'`; `healthy` is `status !== 'fail'`, the usual 200-or-503 switch.
 */
export interface HealthReport {
  /** The monitor's name. */
  readonly name: string;
  readonly status: 'pass' | 'warn' | 'fail';
  readonly healthy: boolean;
  /** When the most recent check run finished, epoch ms; `null` before any. */
  readonly checkedAt: number | null;
  /** Every check by name, in registration order. */
  readonly checks: Readonly<Record<string, HealthCheckReport>>;
}

/** Options of {@link HealthMonitor.report}. */
export interface HealthReportOptions {
  /**
   * Include failure messages (`error`, `code`). Default true. Set it to false on an endpoint
   * the public can reach: driver messages can name hosts, users or queries.
   */
  readonly errors?: boolean | undefined;
}

/**
 * Whether a check with this status keeps the monitor healthy.
 *
 * @example
 * ```ts
 * const healthy = statuses.every((s) => !s.critical || countsAsHealthy(s, false));
 * ```
 */
export function countsAsHealthy(status: Pick<HealthCheckStatus, 'state'>, unknownIsHealthy: boolean): boolean {
  return status.state === 'healthy' || (status.state === 'unknown' && unknownIsHealthy);
}

/**
 * Builds the report for a monitor from its check statuses.
 *
 * @example
 * ```ts
 * const report = buildReport('api', monitor.statuses(), false, true);
 * ```
 */
export function buildReport(
  name: string,
  statuses: readonly HealthCheckStatus[],
  unknownIsHealthy: boolean,
  errors: boolean,
): HealthReport {
  let failed = false;
  let warned = false;
  let checkedAt: number | null = null;
  const entries: [string, HealthCheckReport][] = [];
  for (const s of statuses) {
    if (!countsAsHealthy(s, unknownIsHealthy)) {
      if (s.critical) failed = true;
      else warned = true;
    }
    if (s.lastCheckedAt !== undefined && (checkedAt === null || s.lastCheckedAt > checkedAt)) checkedAt = s.lastCheckedAt;
    const failure = s.error !== undefined && errors;
    const check: HealthCheckReport = {
      status: s.state === 'unknown' ? 'unknown' : s.healthy ? 'pass' : 'fail',
      critical: s.critical,
      lastCheckedAt: s.lastCheckedAt ?? null,
      durationMs: s.durationMs ?? null,
      successRate: s.successRate ?? null,
      consecutiveFailures: s.consecutiveFailures,
      error: failure ? messageOf(s.error) : null,
      code: failure ? codeOf(s.error) : null,
      ...(s.kind === 'threshold' ? { value: s.value ?? null } : {}),
    };
    entries.push([s.name, check]);
  }
  const status = failed ? 'fail' : warned ? 'warn' : 'pass';
  // fromEntries defines own properties, so a check named "__proto__" cannot change the prototype.
  return { name, status, healthy: !failed, checkedAt, checks: Object.fromEntries(entries) };
}

function messageOf(error: unknown): string {
  if (error instanceof Error) return error.message || error.name;
  if (typeof error === 'object' && error !== null && typeof (error as { message?: unknown }).message === 'string') {
    return (error as { message: string }).message;
  }
  try {
    return String(error);
  } catch {
    return 'unprintable error';
  }
}

function codeOf(error: unknown): string | null {
  const code = typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
  return typeof code === 'string' ? code : null;
}
