import { checkBoolean, checkFunction, checkInteger, checkNumber, readOptions, checkString, InvalidOptionsError, MAX_TIMER_MS } from '@x/core';
import { HealthCheckFailedError, ThresholdError } from './errors.js';
import type { HealthCheckResult, HealthState } from './events.js';
import { checkDuration, or } from './options.js';

/** Settings every check shares. */
export interface CheckSettings {
  /** Unique, non-empty name of the check (the `check` label in metrics). */
  readonly name: string;
  /**
   * Whether a failure makes the whole monitor unhealthy. Default true. A non-critical check that
   * fails turns the report's status to `'warn'` and leaves `isHealthy()` true: use it for
   * dependencies the service can run without (a cache, a recommendation service).
   */
  readonly critical?: boolean | undefined;
  /** This check's timeout, ms. Default the monitor's `timeoutMs`; range [1, 2^31 − 1]. */
  readonly timeoutMs?: number | undefined;
  /**
   * Consecutive failed runs before a healthy check turns unhealthy. Default the monitor's
   * (itself default 1); range [1, 1 000]. The first result of a check decides its state at once.
   */
  readonly failureThreshold?: number | undefined;
  /** Consecutive passed runs before an unhealthy check turns healthy. Default the monitor's (1); range [1, 1 000]. */
  readonly successThreshold?: number | undefined;
}

/**
 * A check that passes unless it throws, rejects or returns `false`. It receives a signal that
 * aborts at its timeout (with a `HealthCheckTimeoutError` as the reason): pass it on to
 * `fetch` or your driver so a hung dependency does not leave work behind.
 */
export interface PingCheckDefinition extends CheckSettings {
  readonly check: (signal: AbortSignal) => unknown;
  readonly value?: undefined;
  readonly min?: undefined;
  readonly max?: undefined;
}

/**
 * A check that reads a number and passes while `min <= value <= max` (bounds inclusive, at
 * least one given). A value that is not a finite number (NaN, a string) fails the check.
 */
export interface ThresholdCheckDefinition extends CheckSettings {
  readonly value: (signal: AbortSignal) => number | PromiseLike<number>;
  /** Lowest healthy value (inclusive). A finite number. */
  readonly min?: number | undefined;
  /** Highest healthy value (inclusive). A finite number, at least `min`. */
  readonly max?: number | undefined;
  readonly check?: undefined;
}

/** What {@link HealthMonitor.register} accepts: a ping check or a threshold check. */
export type HealthCheckDefinition = PingCheckDefinition | ThresholdCheckDefinition;

/** A check's current status, as {@link HealthMonitor.status} returns it. A snapshot: later runs do not change it. */
export interface HealthCheckStatus {
  readonly name: string;
  readonly kind: 'ping' | 'threshold';
  readonly critical: boolean;
  /** `'unknown'` until the first run completes. */
  readonly state: HealthState;
  /** `state === 'healthy'` (false while unknown). */
  readonly healthy: boolean;
  /** What the latest run failed with; undefined when it passed or nothing has run yet. */
  readonly error: unknown;
  /** The latest value a threshold check read; undefined for ping checks or when the read failed. */
  readonly value: number | undefined;
  /** When the latest run finished, epoch ms; undefined before the first run. */
  readonly lastCheckedAt: number | undefined;
  /** How long the latest run took, ms (the timeout, for a run that timed out). */
  readonly durationMs: number | undefined;
  /** Share of passed runs among the last `historySize` runs; undefined before the first run. */
  readonly successRate: number | undefined;
  readonly consecutiveFailures: number;
  readonly consecutiveSuccesses: number;
  /** Completed runs since registration. */
  readonly runs: number;
}

/** Where one run of a check ended. */
export interface CheckOutcome {
  readonly result: HealthCheckResult;
  readonly error: unknown;
  readonly value: number | undefined;
}

const PASSED: CheckOutcome = Object.freeze({ result: 'success', error: undefined, value: undefined });
const KNOWN = ['name', 'check', 'value', 'min', 'max', 'critical', 'timeoutMs', 'failureThreshold', 'successThreshold'] as const;

/** Defaults a check takes from its monitor. */
export interface CheckDefaults {
  readonly timeoutMs: number;
  readonly failureThreshold: number;
  readonly successThreshold: number;
  readonly historySize: number;
}

/**
 * A registered check with its running state. Internal to the monitor.
 *
 * @example
 * ```ts
 * const entry = new CheckEntry('api.register', { name: 'db', check: ping }, defaults);
 * entry.apply(entry.outcomeOf(undefined), clock.now(), 3);
 * ```
 */
export class CheckEntry {
  readonly name: string;
  readonly kind: 'ping' | 'threshold';
  readonly critical: boolean;
  readonly timeoutMs: number;
  readonly failureThreshold: number;
  readonly successThreshold: number;
  readonly run: (signal: AbortSignal) => unknown;
  readonly min: number | undefined;
  readonly max: number | undefined;

  state: HealthState = 'unknown';
  error: unknown = undefined;
  value: number | undefined = undefined;
  lastCheckedAt: number | undefined = undefined;
  durationMs: number | undefined = undefined;
  consecutiveFailures = 0;
  consecutiveSuccesses = 0;
  runs = 0;
  /** Set once unregistered: a run still in flight must not record. */
  removed = false;
  /** Cancels the run in flight, if any (stop, unregister). */
  cancel: ((reason: unknown) => void) | undefined = undefined;

  /** Ring of recent results (1 = passed), for `successRate`. */
  readonly #history: Uint8Array;
  #historyCount = 0;
  #historyNext = 0;
  #historyPassed = 0;

  constructor(owner: string, definition: unknown, defaults: CheckDefaults) {
    definition = readOptions(owner, definition as object, KNOWN, true);
    const d = definition as Record<string, unknown>;
    this.name = checkString(owner, 'name', d.name);
    this.critical = checkBoolean(owner, 'critical', or(d.critical, true));
    this.timeoutMs = checkDuration(owner, 'timeoutMs', or(d.timeoutMs, defaults.timeoutMs), MAX_TIMER_MS);
    this.failureThreshold = checkInteger(owner, 'failureThreshold', or(d.failureThreshold, defaults.failureThreshold), { min: 1, max: 1000 });
    this.successThreshold = checkInteger(owner, 'successThreshold', or(d.successThreshold, defaults.successThreshold), { min: 1, max: 1000 });
    this.#history = new Uint8Array(defaults.historySize);
    if (d.check !== undefined) {
      if (d.value !== undefined || d.min !== undefined || d.max !== undefined) {
        const extra = d.value !== undefined ? 'value' : d.min !== undefined ? 'min' : 'max';
        throw new InvalidOptionsError(owner, extra, d[extra], 'absent on a ping check (one with `check`)');
      }
      this.kind = 'ping';
      this.run = checkFunction(owner, 'check', d.check);
      this.min = undefined;
      this.max = undefined;
      return;
    }
    if (d.value === undefined) {
      throw new InvalidOptionsError(owner, 'check', undefined, 'a function (or give `value` for a threshold check)');
    }
    this.kind = 'threshold';
    this.run = checkFunction(owner, 'value', d.value);
    this.min = d.min === undefined ? undefined : checkNumber(owner, 'min', d.min);
    this.max = d.max === undefined ? undefined : checkNumber(owner, 'max', d.max, this.min === undefined ? {} : { min: this.min });
    if (this.min === undefined && this.max === undefined) {
      throw new InvalidOptionsError(owner, 'max', undefined, 'a finite number (a threshold check needs `min`, `max` or both)');
    }
  }

  /** Turns what the check returned or resolved to into an outcome. */
  outcomeOf(returned: unknown): CheckOutcome {
    if (this.kind === 'ping') {
      return returned === false ? { result: 'failure', error: new HealthCheckFailedError(this.name), value: undefined } : PASSED;
    }
    const { min, max } = this;
    if (typeof returned !== 'number' || !Number.isFinite(returned)) {
      return { result: 'failure', error: new ThresholdError(this.name, returned, min, max, 'not_a_number'), value: undefined };
    }
    if (min !== undefined && returned < min) {
      return { result: 'failure', error: new ThresholdError(this.name, returned, min, max, 'below_min'), value: returned };
    }
    if (max !== undefined && returned > max) {
      return { result: 'failure', error: new ThresholdError(this.name, returned, min, max, 'above_max'), value: returned };
    }
    return { result: 'success', error: undefined, value: returned };
  }

  /** Records one run; returns the state before it. */
  apply(outcome: CheckOutcome, now: number, durationMs: number): HealthState {
    const passed = outcome.result === 'success';
    this.runs++;
    this.error = outcome.error;
    this.value = outcome.value;
    this.lastCheckedAt = now;
    this.durationMs = durationMs;
    this.#remember(passed);
    const before = this.state;
    if (passed) {
      this.consecutiveSuccesses++;
      this.consecutiveFailures = 0;
      if (before === 'unknown' || (before === 'unhealthy' && this.consecutiveSuccesses >= this.successThreshold)) {
        this.state = 'healthy';
      }
    } else {
      this.consecutiveFailures++;
      this.consecutiveSuccesses = 0;
      if (before === 'unknown' || (before === 'healthy' && this.consecutiveFailures >= this.failureThreshold)) {
        this.state = 'unhealthy';
      }
    }
    return before;
  }

  /** A snapshot of the current status. */
  status(): HealthCheckStatus {
    return {
      name: this.name,
      kind: this.kind,
      critical: this.critical,
      state: this.state,
      healthy: this.state === 'healthy',
      error: this.error,
      value: this.value,
      lastCheckedAt: this.lastCheckedAt,
      durationMs: this.durationMs,
      successRate: this.#historyCount === 0 ? undefined : this.#historyPassed / this.#historyCount,
      consecutiveFailures: this.consecutiveFailures,
      consecutiveSuccesses: this.consecutiveSuccesses,
      runs: this.runs,
    };
  }

  #remember(passed: boolean): void {
    const history = this.#history;
    const slot = this.#historyNext;
    if (this.#historyCount === history.length) this.#historyPassed -= history[slot] as number;
    else this.#historyCount++;
    history[slot] = passed ? 1 : 0;
    if (passed) this.#historyPassed++;
    this.#historyNext = slot + 1 === history.length ? 0 : slot + 1;
  }
}
