// Runs inside the browser page (bundled by esbuild for platform "browser"): only the main entries of
// the isomorphic packages, no Node globals. Each scenario drives real behaviour and reports what it
// saw; the Node-side test asserts on those reports.
import { createBreaker } from '@x/breaker';
import { createBulkhead } from '@x/bulkhead';
import { compose, createEventBus, defaultEventBus, fallback, isXError, sleep, systemClock } from '@x/core';
import type { XEvent } from '@x/core';
import { createVirtualClock } from '@x/core/testing';
import { createErrorBudget, createHealthMonitor } from '@x/health';
import { createRateLimiter } from '@x/ratelimit';
import { createRetry, exponentialBackoff } from '@x/retry';
import { createTimeout } from '@x/timeout';

/** What one scenario observed; `ok` is false when the scenario itself threw. */
export interface ScenarioReport {
  readonly name: string;
  readonly ok: boolean;
  readonly observed: Record<string, unknown>;
  readonly error?: string;
}

type Scenario = () => Promise<Record<string, unknown>>;

const codeOf = (error: unknown): unknown => (isXError(error) ? error.code : String(error));

const scenarios: Record<string, Scenario> = {
  async environment() {
    return {
      hasProcess: typeof (globalThis as { process?: unknown }).process !== 'undefined',
      hasWindow: typeof window !== 'undefined',
      defaultBusShared: defaultEventBus() === defaultEventBus(),
    };
  },

  async 'breaker trips, rejects, probes and closes'() {
    const clock = createVirtualClock();
    const events = createEventBus();
    const changes: string[] = [];
    events.on('breaker.state_change', (e) => changes.push(`${e.from}->${e.to}`));
    const breaker = createBreaker({ name: 'browser', failureThreshold: 2, successThreshold: 1, openMs: 1_000, clock, events });
    const fail = async () => {
      throw new Error('down');
    };
    await breaker.executeOutcome(fail);
    await breaker.executeOutcome(fail);
    const rejected = await breaker.executeOutcome(async () => 'never');
    const rejection = rejected.ok ? undefined : rejected.error;
    await clock.advance(1_000);
    const stateAfterOpenMs = breaker.state;
    const probe = await breaker.execute(async () => 'probe ok');
    return {
      rejectionCode: codeOf(rejection),
      retryAfterMs: isXError(rejection, 'BREAKER_OPEN') ? rejection.retryAfterMs : null,
      rejectionMessage: rejection instanceof Error ? rejection.message : null,
      stateAfterOpenMs,
      probe,
      finalState: breaker.state,
      changes,
      totals: breaker.stats().totals,
    };
  },

  async 'retry backs off on the virtual clock and succeeds'() {
    const clock = createVirtualClock();
    const retry = createRetry({ maxAttempts: 3, backoff: exponentialBackoff({ initialMs: 100, maxMs: 1_000, jitter: 'none' }), clock });
    let calls = 0;
    const pending = retry.executeWithStats(async ({ attempt }) => {
      calls++;
      if (attempt < 3) throw new Error(`attempt ${attempt} failed`);
      return 'third time';
    });
    await clock.runAll();
    const result = await pending;
    return { value: result.value, attempts: result.attempts, totalDelayMs: result.totalDelayMs, calls };
  },

  async 'timeout aborts the signal and is not a caller abort'() {
    const clock = createVirtualClock();
    const timeout = createTimeout(50, { clock });
    let sawAbort = false;
    const pending = timeout.executeOutcome(
      ({ signal }) =>
        new Promise<never>((_, reject) => {
          signal.addEventListener('abort', () => {
            sawAbort = true;
            reject(signal.reason);
          });
        }),
    );
    await clock.advance(50);
    const outcome = await pending;
    const caller = new AbortController();
    const callerPending = timeout.executeOutcome(({ signal }) => new Promise<never>((_, reject) => signal.addEventListener('abort', () => reject(signal.reason))), {
      signal: caller.signal,
    });
    caller.abort(new Error('user left'));
    const callerOutcome = await callerPending;
    return {
      sawAbort,
      code: outcome.ok ? null : codeOf(outcome.error),
      callerError: callerOutcome.ok ? null : (callerOutcome.error as Error).message,
    };
  },

  async 'bulkhead refuses beyond its limit'() {
    const bulkhead = createBulkhead({ name: 'browser', maxConcurrent: 1, maxQueue: 0 });
    let release!: () => void;
    const first = bulkhead.execute(() => new Promise<string>((resolve) => (release = () => resolve('first'))));
    const second = await bulkhead.executeOutcome(async () => 'second');
    release();
    return {
      first: await first,
      secondCode: second.ok ? null : codeOf(second.error),
      secondMessage: second.ok ? null : (second.error as Error).message,
    };
  },

  async 'rate limiter admits the limit, then refuses until time passes'() {
    const clock = createVirtualClock();
    const limiter = createRateLimiter({ name: 'browser', limit: 2, periodMs: 1_000, clock });
    const decisions = [limiter.limit('k'), limiter.limit('k'), limiter.limit('k')].map((d) => d.allowed);
    const refused = limiter.limit('k');
    await clock.advance(500);
    const afterHalfPeriod = limiter.limit('k').allowed;
    return { decisions, retryAfterMs: refused.retryAfterMs, afterHalfPeriod };
  },

  async 'health monitor and error budget'() {
    const clock = createVirtualClock();
    const budget = createErrorBudget({ name: 'browser', slo: 0.9, windowMs: 60_000, clock });
    for (let i = 0; i < 20; i++) budget.record(i % 4 !== 0);
    const health = createHealthMonitor({ name: 'browser', intervalMs: 1_000, timeoutMs: 100, clock });
    health.register({ name: 'ok', check: async () => undefined });
    health.register({ name: 'broken', check: async () => Promise.reject(new Error('no route')), critical: false });
    const report = await health.runOnce();
    return {
      budgetExhausted: budget.exhausted,
      healthy: report.healthy,
      checks: Object.fromEntries(Object.entries(report.checks).map(([name, check]) => [name, check.status])),
    };
  },

  async 'compose and fallback on the system clock'() {
    const seen: XEvent['type'][] = [];
    const events = createEventBus();
    events.on('*', (e) => seen.push(e.type));
    const policy = fallback(
      compose(createRetry({ maxAttempts: 2, backoff: 5, events }), createTimeout(20, { events })),
      () => 'fallback value',
    );
    const start = systemClock.now();
    const value = await policy.execute(({ signal }) => sleep(1_000, { signal }).then(() => 'too late'));
    const elapsedMs = systemClock.now() - start;
    return { value, elapsedAtLeast40: elapsedMs >= 40, elapsedUnder1000: elapsedMs < 1_000, seen: [...new Set(seen)].sort() };
  },
};

/** Runs every scenario in order; a throwing scenario is reported, never thrown. */
export async function runScenarios(): Promise<ScenarioReport[]> {
  const reports: ScenarioReport[] = [];
  for (const [name, run] of Object.entries(scenarios)) {
    try {
      reports.push({ name, ok: true, observed: await run() });
    } catch (error) {
      reports.push({ name, ok: false, observed: {}, error: error instanceof Error ? `${error.name}: ${error.message}\n${error.stack ?? ''}` : String(error) });
    }
  }
  return reports;
}
