import { checkBoolean, checkClock, checkEvents, checkInteger, readOptions, checkString, defaultEventBus, InvalidOptionsError, MAX_TIMER_MS, systemClock, trackInstance, unrefTimer } from '@x/core';
import type { Clock, EventBus, TimerHandle } from '@x/core';
import { CheckEntry } from './checks.js';
import type { CheckDefaults, CheckOutcome, HealthCheckDefinition, HealthCheckStatus } from './checks.js';
import { HealthCheckTimeoutError } from './errors.js';
import type { HealthState } from './events.js';
import { checkDuration, or } from './options.js';
import { buildReport, countsAsHealthy } from './report.js';
import type { HealthReport, HealthReportOptions } from './report.js';

/** Options of {@link HealthMonitor.runOnce}. */
export interface RunOnceOptions {
  /**
   * Reuse results up to this old (ms) instead of running the checks again: when every check has
   * finished a run within `maxAgeMs`, `runOnce` resolves at once with the current report. Lets a
   * busy `/healthz` endpoint call `runOnce` per request without pinging the database per request.
   * Default 0 (always run); a non-negative integer.
   */
  readonly maxAgeMs?: number | undefined;
}

/**
 * Runs a set of health checks in parallel, each with its own timeout, on an interval or on demand,
 * and keeps each check's status.
 */
export interface HealthMonitor {
  /** Tells the instances this package tracks on the event bus apart (`bus.tracked('health')`). */
  readonly kind: 'health_monitor';
  /** The monitor's name (the `checker` label in metrics). */
  readonly name: string;
  /** True between `start()` and `stop()`. */
  readonly running: boolean;
  /**
   * Adds a check (validated at once: `INVALID_OPTIONS` for a bad definition or a name already in
   * use). It joins the next run (a `runOnce()` includes it); its state is `'unknown'` until then.
   * Returns a function that removes it again (aborting its run in flight, whose result is then
   * ignored).
   */
  register(definition: HealthCheckDefinition): () => void;
  /**
   * Runs every check at once, then every `intervalMs`, until `stop()`. A tick that comes while a
   * run is still in progress is skipped, so runs never overlap. The timer is unref'd: it does not
   * keep a Node process alive. Calling it again while running does nothing.
   */
  start(): void;
  /**
   * Stops the interval and aborts checks in flight (their signals abort with an `AbortError`;
   * their results are not recorded). Leaves no timer behind. Statuses are kept.
   */
  stop(): void;
  /**
   * Runs every check now and resolves with the report once all have passed, failed or timed out.
   * Never rejects. A call while a run is in progress joins that run instead of starting another
   * (runs never overlap); when checks were registered after that run started, it then waits for
   * one follow-up run of every check, which starts when the run in progress ends.
   */
  runOnce(options?: RunOnceOptions): Promise<HealthReport>;
  /** The status of one check; undefined when no check has that name. */
  status(name: string): HealthCheckStatus | undefined;
  /** The status of every check, in registration order. */
  statuses(): HealthCheckStatus[];
  /**
   * True when every critical check is healthy (a check that has not run yet counts as unhealthy,
   * unless `unknownIsHealthy`). True with no checks at all.
   */
  isHealthy(): boolean;
  /** A plain, JSON-ready object with the overall status and every check; see {@link HealthReport}. */
  report(options?: HealthReportOptions): HealthReport;
}

/** Options of {@link createHealthMonitor}. */
export interface HealthMonitorOptions {
  /** Instance name (the `checker` label in metrics). Default `'health'`. */
  readonly name?: string | undefined;
  /** Time between the starts of two scheduled runs, ms. Default 10 000; range [1, 2^31 − 1]. */
  readonly intervalMs?: number | undefined;
  /** Default timeout of each check, ms (a check may set its own). Default 5 000; range [1, 2^31 − 1]. */
  readonly timeoutMs?: number | undefined;
  /** How many recent results each check keeps for `successRate`. Default 100; range [1, 10 000]. */
  readonly historySize?: number | undefined;
  /** Default `failureThreshold` of every check. Default 1; range [1, 1 000]. */
  readonly failureThreshold?: number | undefined;
  /** Default `successThreshold` of every check. Default 1; range [1, 1 000]. */
  readonly successThreshold?: number | undefined;
  /**
   * Whether a critical check that has not completed a run yet counts as healthy for
   * `isHealthy()` and the report. Default false: a readiness endpoint says "not ready" until the
   * first run has shown otherwise. Set it for liveness endpoints, where restarting a process that
   * is still starting up would be wrong.
   */
  readonly unknownIsHealthy?: boolean | undefined;
  /** Checks to register at once (the same as calling `register` for each). */
  readonly checks?: readonly HealthCheckDefinition[] | undefined;
  /** Default `systemClock`. */
  readonly clock?: Clock | undefined;
  /** Default `defaultEventBus()`. */
  readonly events?: EventBus | undefined;
}

/** One run of the checks. */
interface Run {
  /** Settles when every check of the run has passed, failed, timed out or been cancelled. */
  readonly done: Promise<void>;
  /** The checks the run started with (registered before it began). */
  readonly checks: ReadonlySet<CheckEntry>;
  /** A run that starts once this one has ended, for `runOnce` calls that need checks this run lacks. */
  followUp: Promise<void> | undefined;
}

const OWNER = 'createHealthMonitor';
const KNOWN = [
  'name',
  'intervalMs',
  'timeoutMs',
  'historySize',
  'failureThreshold',
  'successThreshold',
  'unknownIsHealthy',
  'checks',
  'clock',
  'events',
] as const;

class HealthMonitorImpl implements HealthMonitor {
  readonly kind = 'health_monitor' as const;
  readonly name: string;
  readonly #intervalMs: number;
  readonly #defaults: CheckDefaults;
  readonly #unknownIsHealthy: boolean;
  readonly #clock: Clock;
  readonly #events: EventBus;
  readonly #checks = new Map<string, CheckEntry>();
  #timer: TimerHandle | undefined = undefined;
  #running = false;
  /** The run in progress, if any. Set before its first check starts, so listeners see it. */
  #current: Run | undefined = undefined;
  /** Bumped by `stop()`, so a run that is starting when it is called starts no more checks. */
  #generation = 0;

  constructor(
    name: string,
    intervalMs: number,
    defaults: CheckDefaults,
    unknownIsHealthy: boolean,
    clock: Clock,
    events: EventBus,
  ) {
    this.name = name;
    this.#intervalMs = intervalMs;
    this.#defaults = defaults;
    this.#unknownIsHealthy = unknownIsHealthy;
    this.#clock = clock;
    this.#events = events;
    trackInstance(events, 'health', name, this);
  }

  get running(): boolean {
    return this.#running;
  }

  register(definition: HealthCheckDefinition): () => void {
    const owner = `${this.name}.register`;
    const entry = new CheckEntry(owner, definition, this.#defaults);
    if (this.#checks.has(entry.name)) {
      throw new InvalidOptionsError(owner, 'name', entry.name, 'a name no other check of this monitor uses');
    }
    this.#checks.set(entry.name, entry);
    return () => {
      if (entry.removed) return;
      entry.removed = true;
      this.#checks.delete(entry.name);
      entry.cancel?.(abortError(`${this.name}: health check "${entry.name}" was unregistered`));
    };
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#tick();
  }

  stop(): void {
    this.#running = false;
    if (this.#timer !== undefined) {
      this.#clock.clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    // A run being started right now (stop called from a listener) starts no further checks.
    this.#generation++;
    // The cancelled run settles on its own; a new run may start at once.
    this.#current = undefined;
    const reason = abortError(`${this.name}: health monitor stopped`);
    for (const entry of this.#checks.values()) entry.cancel?.(reason);
  }

  runOnce(options?: RunOnceOptions): Promise<HealthReport> {
    const maxAgeMs = options?.maxAgeMs === undefined ? 0 : checkInteger(`${this.name}.runOnce`, 'maxAgeMs', options.maxAgeMs, { min: 0 });
    if (maxAgeMs > 0 && this.#freshWithin(maxAgeMs)) return Promise.resolve(this.report());
    return this.#runAll().then(() => this.report());
  }

  status(name: string): HealthCheckStatus | undefined {
    return this.#checks.get(name)?.status();
  }

  statuses(): HealthCheckStatus[] {
    const result: HealthCheckStatus[] = [];
    for (const entry of this.#checks.values()) result.push(entry.status());
    return result;
  }

  isHealthy(): boolean {
    for (const entry of this.#checks.values()) {
      if (entry.critical && !countsAsHealthy(entry, this.#unknownIsHealthy)) return false;
    }
    return true;
  }

  report(options?: HealthReportOptions): HealthReport {
    const errors = options?.errors === undefined ? true : checkBoolean(`${this.name}.report`, 'errors', options.errors);
    return buildReport(this.name, this.statuses(), this.#unknownIsHealthy, errors);
  }

  /** Schedules the next tick first (so a listener that calls `stop()` during the run clears it), then runs unless a run is in progress. */
  #tick = (): void => {
    this.#timer = unrefTimer(this.#clock.setTimeout(this.#tick, this.#intervalMs));
    if (this.#current === undefined) this.#startRun();
  };

  /**
   * Resolves once a run that includes every check registered now has ended: the run in progress
   * when it has them all, else a follow-up run that starts when it ends (runs never overlap), else
   * a new run.
   */
  #runAll(): Promise<void> {
    const current = this.#current;
    if (current === undefined) return this.#startRun().done;
    for (const entry of this.#checks.values()) {
      if (!current.checks.has(entry)) {
        current.followUp ??= current.done.then(() => this.#runAll());
        return current.followUp;
      }
    }
    return current.done;
  }

  #freshWithin(maxAgeMs: number): boolean {
    const oldest = this.#clock.now() - maxAgeMs;
    for (const entry of this.#checks.values()) {
      if (entry.lastCheckedAt === undefined || entry.lastCheckedAt < oldest) return false;
    }
    return true;
  }

  #startRun(): Run {
    const generation = this.#generation;
    const checks = new Set(this.#checks.values());
    const runs: Promise<void>[] = [];
    let started!: () => void;
    const allStarted = new Promise<void>((resolve) => (started = resolve));
    const run: Run = {
      checks,
      followUp: undefined,
      done: allStarted
        .then(() => Promise.all(runs))
        .then(() => {
          if (this.#current === run) this.#current = undefined;
        }),
    };
    // The run is current before its first check starts: a check that settles synchronously emits
    // events, and a listener that calls runOnce() then joins this run instead of starting another.
    this.#current = run;
    for (const entry of checks) {
      if (this.#generation !== generation) break; // stop() from a listener: start no more checks
      if (!entry.removed) runs.push(this.#runCheck(entry));
    }
    started();
    return run;
  }

  /** Runs one check against its timeout; resolves (never rejects) when it settled, timed out or was cancelled. */
  #runCheck(entry: CheckEntry): Promise<void> {
    const clock = this.#clock;
    return new Promise<void>((resolve) => {
      const controller = new AbortController();
      const started = clock.now();
      let settled = false;
      const settle = (): boolean => {
        if (settled) return false;
        settled = true;
        clock.clearTimeout(timer);
        if (entry.cancel === cancel) entry.cancel = undefined;
        resolve();
        return true;
      };
      const finish = (outcome: CheckOutcome): void => {
        if (!settle()) return; // a late result after a timeout or a cancel is ignored
        if (!entry.removed) this.#record(entry, outcome, started);
      };
      const cancel = (reason: unknown): void => {
        if (settle()) controller.abort(reason);
      };
      const timer = clock.setTimeout(() => {
        const error = new HealthCheckTimeoutError(this.name, entry.name, entry.timeoutMs);
        finish({ result: 'timeout', error, value: undefined });
        controller.abort(error);
      }, entry.timeoutMs);
      entry.cancel = cancel;
      try {
        const returned = entry.run(controller.signal);
        if (isThenable(returned)) {
          Promise.resolve(returned).then(
            (value) => finish(entry.outcomeOf(value)),
            (error: unknown) => finish({ result: 'failure', error, value: undefined }),
          );
        } else {
          finish(entry.outcomeOf(returned));
        }
      } catch (error) {
        finish({ result: 'failure', error, value: undefined });
      }
    });
  }

  #record(entry: CheckEntry, outcome: CheckOutcome, started: number): void {
    const now = this.#clock.now();
    const durationMs = now - started;
    const before: HealthState = entry.apply(outcome, now, durationMs);
    const events = this.#events;
    if (events.hasListeners('health.check')) {
      events.emit({
        type: 'health.check',
        source: 'health',
        name: this.name,
        time: now,
        check: entry.name,
        result: outcome.result,
        durationMs,
        healthy: entry.state === 'healthy',
        critical: entry.critical,
        error: outcome.error,
        value: outcome.value,
      });
    }
    const after = entry.state;
    if (after !== before && after !== 'unknown' && events.hasListeners('health.status_change')) {
      events.emit({
        type: 'health.status_change',
        source: 'health',
        name: this.name,
        time: now,
        check: entry.name,
        from: before,
        to: after,
        healthy: after === 'healthy',
        critical: entry.critical,
        error: after === 'healthy' ? undefined : outcome.error,
      });
    }
  }
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    (typeof value === 'object' || typeof value === 'function') &&
    value !== null &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}

// The reason a stopped or unregistered check's signal aborts with: an AbortError, like fetch's.
function abortError(message: string): unknown {
  return new DOMException(message, 'AbortError');
}

/**
 * Creates a health monitor: ping checks (`check(signal)` passes unless it throws, rejects or
 * returns false) and threshold checks (`value()` within `[min, max]`), run in parallel with a
 * per-check timeout, on an interval (`start()`) or on demand (`runOnce()`). Each check keeps its
 * state (`'unknown'` until its first run), its last error, duration and recent success rate.
 *
 * @example
 * ```ts
 * const health = createHealthMonitor({ name: 'api', intervalMs: 10_000, timeoutMs: 2_000 });
 * health.register({ name: 'database', check: (signal) => db.ping({ signal }) });
 * health.register({ name: 'queue_depth', value: () => queue.size, max: 10_000, critical: false });
 * health.start();
 *
 * app.get('/readyz', (req, res) => {
 *   const report = health.report({ errors: false });
 *   res.status(report.healthy ? 200 : 503).json(report);
 * });
 * ```
 */
export function createHealthMonitor(options?: HealthMonitorOptions): HealthMonitor {
  options = readOptions(OWNER, options, KNOWN);
  const o = options ?? {};
  const name = checkString(OWNER, 'name', or(o.name, 'health'));
  const intervalMs = checkDuration(OWNER, 'intervalMs', or(o.intervalMs, 10_000), MAX_TIMER_MS);
  const defaults: CheckDefaults = {
    timeoutMs: checkDuration(OWNER, 'timeoutMs', or(o.timeoutMs, 5_000), MAX_TIMER_MS),
    historySize: checkInteger(OWNER, 'historySize', or(o.historySize, 100), { min: 1, max: 10_000 }),
    failureThreshold: checkInteger(OWNER, 'failureThreshold', or(o.failureThreshold, 1), { min: 1, max: 1000 }),
    successThreshold: checkInteger(OWNER, 'successThreshold', or(o.successThreshold, 1), { min: 1, max: 1000 }),
  };
  const unknownIsHealthy = checkBoolean(OWNER, 'unknownIsHealthy', or(o.unknownIsHealthy, false));
  const clock = checkClock(OWNER, o.clock);
  const events = checkEvents(OWNER, o.events);
  const monitor = new HealthMonitorImpl(name, intervalMs, defaults, unknownIsHealthy, clock, events);
  if (o.checks !== undefined) {
    if (!Array.isArray(o.checks)) throw new InvalidOptionsError(OWNER, 'checks', o.checks, 'an array of check definitions');
    for (const check of o.checks) monitor.register(check);
  }
  return monitor;
}
