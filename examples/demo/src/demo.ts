import { createEventBus, systemClock } from '@x/core';
import { Downstream } from './downstream.js';
import { ansi, plain } from './format.js';
import type { DemoOutput } from './format.js';
import { createDemoLimiter } from './limiter.js';
import type { DemoLimiter } from './limiter.js';
import { startLoad } from './load.js';
import { createObservability } from './observability.js';
import type { Observability } from './observability.js';
import { DEFAULT_FRACTIONS, Timeline } from './phases.js';
import type { PhaseFractions } from './phases.js';
import { ATTEMPT_TIMEOUT_MS, LAYERS, createPolicies } from './policies.js';
import { createDemoResilience } from './resilience.js';
import type { DemoResilience } from './resilience.js';
import { seededRandom } from './random.js';
import { startServer } from './server.js';
import type { ApiServer, DemoUrls } from './server.js';
import { RunStats } from './stats.js';
import { buildSummary, renderSummary } from './summary.js';
import type { DemoSummary } from './summary.js';
import { createView } from './view.js';
import type { ViewMode } from './view.js';

export type { DemoSummary, PhaseSummary } from './summary.js';
export type { DemoUrls } from './server.js';
export type { DemoOutput } from './format.js';
export type { PhaseFractions, PhaseName } from './phases.js';

/** Options of {@link runDemo}; every one has a default that tells the story in about 25 s. */
export interface DemoOptions {
  /** Length of the run in ms (≥ 1000). Default 25 000. */
  readonly durationMs?: number | undefined;
  /** Share of the run each phase takes. Default healthy 0.3, failing 0.35, recovering 0.35. */
  readonly phases?: Partial<PhaseFractions> | undefined;
  /** Requests per second offered by the load generator. Default 50. */
  readonly rate?: number | undefined;
  /** Concurrent virtual users. Default 10. */
  readonly users?: number | undefined;
  /** Requests per second the rate limiter admits. Default: resilience.yaml's (45, a little under the load), which edits change live. */
  readonly limitPerSecond?: number | undefined;
  /** Port of the API on 127.0.0.1. Default 0: a free one. */
  readonly port?: number | undefined;
  /** Keep the rate limit in this Redis (shared between processes). Default: in memory. */
  readonly redisUrl?: string | undefined;
  /** Key prefix in Redis. Default `'x-demo'`: two demos with the same prefix share one limit. */
  readonly redisPrefix?: string | undefined;
  /** Where to write. Default `process.stdout`. */
  readonly output?: DemoOutput | undefined;
  /** Write nothing at all. Default false. */
  readonly quiet?: boolean | undefined;
  /** Default: `live` when the output is a terminal, `lines` otherwise. */
  readonly view?: ViewMode | undefined;
  /** ANSI colours. Default: on for a terminal unless `NO_COLOR` is set. */
  readonly color?: boolean | undefined;
  /** Seed of the simulated downstream's randomness. Default 42. */
  readonly seed?: number | undefined;
  /** Aborting it stops the load early; the summary still covers what ran. */
  readonly signal?: AbortSignal | undefined;
  /** Called once the API listens, with its URLs. */
  readonly onRunning?: ((urls: DemoUrls) => void) | undefined;
  /** Awaited after the load ends and before anything closes: the last moment to scrape. */
  readonly beforeClose?: ((urls: DemoUrls) => void | Promise<void>) | undefined;
}

/**
 * Runs the scenario: an API on 127.0.0.1 calls a simulated downstream through
 * `compose(fallback, ratelimit, bulkhead, breaker, retry, timeout)` while a load generator
 * drives it through three phases (healthy → failing → recovering). Shows a live view, serves
 * `/metrics` and `/healthz` meanwhile, closes everything it opened and returns the summary.
 *
 * @example
 * ```ts
 * const summary = await runDemo({ durationMs: 5_000, quiet: true });
 * summary.phases[1].breakerChanges; // the breaker opening in the failing phase
 * ```
 */
export async function runDemo(options: DemoOptions = {}): Promise<DemoSummary> {
  const durationMs = positive('durationMs', options.durationMs ?? 25_000, 1_000);
  const rate = positive('rate', options.rate ?? 50, 1);
  const users = Math.round(positive('users', options.users ?? 10, 1));
  const fixedLimit = options.limitPerSecond === undefined ? undefined : Math.round(positive('limitPerSecond', options.limitPerSecond, 1));
  const timeline = new Timeline(durationMs, { ...DEFAULT_FRACTIONS, ...options.phases });
  const random = seededRandom(options.seed ?? 42);
  const output: DemoOutput = options.quiet === true ? { write: () => true } : (options.output ?? process.stdout);
  const tty = output.isTTY === true;
  const paint = (options.color ?? (tty && process.env.NO_COLOR === undefined)) ? ansi : plain;
  const say = (line = ''): void => {
    output.write(`${line}\n`);
  };

  // The phases are compressed for short runs, so the breaker's open period and the health and
  // budget windows shrink with them (25 s: open 2 s, health every 1 s, budget over 5 s).
  const openMs = clamp(Math.round(durationMs * 0.08), 200, 2_000);
  const healthIntervalMs = clamp(Math.round(durationMs / 25), 100, 1_000);
  const budgetWindowMs = clamp(Math.round((durationMs * 0.2) / 100) * 100, 1_000, 5_000);

  // A bus of our own rather than the process-wide default: two demos in one process (the tests)
  // must not count each other's events.
  const events = createEventBus();
  const stats = new RunStats();
  let startedAt = systemClock.now();
  const elapsed = (): number => systemClock.now() - startedAt;

  let limiter: DemoLimiter | undefined;
  let config: DemoResilience | undefined;
  let observability: Observability | undefined;
  let server: ApiServer | undefined;
  try {
    // The policies come from resilience.yaml, watched: editing it changes the rate limit live.
    const redisPrefix = options.redisPrefix ?? 'x-demo';
    limiter = await createDemoLimiter({ redisUrl: options.redisUrl, redisPrefix });
    config = await createDemoResilience({ events, openMs, limitPerSecond: fixedLimit, redis: limiter.redis, redisPrefix, random });
    const downstream = new Downstream(() => timeline.at(elapsed()), random);
    const policies = createPolicies({ resilience: config.resilience });
    observability = createObservability({ events, breaker: policies.breaker, downstream, intervalMs: healthIntervalMs, budgetWindowMs });
    // The first health run, before anything is shown: the view never starts on "unknown".
    await observability.health.runOnce();
    server = await startServer({ policies, downstream, observability, port: options.port ?? 0 });
    const urls = server.urls;

    // Events carry `time` from the policies' clock (systemClock), so each lands in its phase.
    const phaseOf = (time: number) => stats.phases[timeline.at(time - startedAt).phase];
    events.on('retry.scheduled', (e) => void phaseOf(e.time).retries++);
    events.on('timeout.timed_out', (e) => void phaseOf(e.time).attemptTimeouts++);
    events.on('breaker.state_change', (e) => {
      const atMs = e.time - startedAt;
      phaseOf(e.time).breakerChanges.push({ atMs, phase: timeline.at(atMs).phase, from: e.from, to: e.to, reason: e.reason });
    });

    say(paint('bold', '@x demo: an API behind @x policies, calling a downstream that fails in phases'));
    say(`  API        ${urls.api}`);
    say(`  metrics    ${urls.metrics}`);
    say(`  health     ${urls.healthz}`);
    say(`  policies   ${LAYERS}`);
    say(paint('dim', '             the breaker sits outside the retry: a retried call counts once;'));
    say(paint('dim', `             the timeout (${ATTEMPT_TIMEOUT_MS} ms) applies to each attempt`));
    limiter.describe(config.limitPerSecond()).forEach((line, i) => say(`  ${i === 0 ? 'limiter    ' : '           '}${line}`));
    say(paint('dim', '             from resilience.yaml: edit it while the demo runs to change the limit'));
    say(`  load       ${users} users, ${rate} req/s, ${(durationMs / 1_000).toFixed(1)} s: healthy → failing → recovering`);
    say();
    options.onRunning?.(urls);

    startedAt = systemClock.now();
    const view = createView(options.view ?? (tty ? 'live' : 'lines'), output, {
      timeline,
      elapsed,
      stats,
      breaker: policies.breaker,
      health: observability.health,
      budget: observability.budget,
    }, paint);
    const load = startLoad({ url: urls.api, users, rate, timeline, elapsed, stats, random });
    const stop = (): void => load.stop();
    options.signal?.addEventListener('abort', stop, { once: true });
    if (options.signal?.aborted === true) stop();
    view.start();
    try {
      await load.done;
    } finally {
      options.signal?.removeEventListener('abort', stop);
      view.stop();
    }
    const ranMs = Math.min(elapsed(), durationMs);
    await options.beforeClose?.(urls);

    const summary = buildSummary({
      stats,
      timeline,
      durationMs: ranMs,
      stoppedEarly: options.signal?.aborted === true && ranMs < durationMs - 1,
      limiter: limiter.mode,
      rate,
      limitPerSecond: config.limitPerSecond(),
      finalState: policies.breaker.state,
      notes: [limiter.redisNote(storeHealthOf(config)), ...config.reloads].filter((n): n is string => n !== undefined),
    });
    output.write(renderSummary(summary, paint));
    return summary;
  } finally {
    // Close in reverse order of creation. Every step runs even if an earlier one threw, so a
    // failure never leaves a socket or timer holding the process open.
    await closeAll([() => config?.close(), () => server?.close(), () => observability?.close(), () => limiter?.close()]);
  }
}

/** The health of the rate limiter's Redis store, for the summary's Redis note. */
function storeHealthOf(config: DemoResilience): string | undefined {
  const limiter = config.resilience.get('rate_limiter', 'api');
  return limiter !== undefined && 'store' in limiter ? String((limiter.store as { health?: unknown }).health ?? 'unknown') : undefined;
}

async function closeAll(steps: readonly (() => unknown)[]): Promise<void> {
  const failures: unknown[] = [];
  for (const step of steps) {
    try {
      await step();
    } catch (error) {
      failures.push(error);
    }
  }
  if (failures.length > 0) throw new AggregateError(failures, 'runDemo: closing failed');
}

function positive(name: string, value: number, min: number): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min) {
    throw new RangeError(`runDemo: option "${name}" must be a finite number >= ${min}, got ${String(value)}`);
  }
  return value;
}

function clamp(value: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, value));
}
