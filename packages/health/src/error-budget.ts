import { checkClock, checkEvents, checkInteger, readOptions, checkString, defaultEventBus, InvalidOptionsError, systemClock, trackInstance } from '@x/core';
import type { Clock, EventBus } from '@x/core';
import type { ErrorBudgetFigures } from './events.js';
import { allowedErrors, CountRatio } from './exact.js';
import { checkDuration, checkSlo, or } from './options.js';
import { WindowCounter } from './window-counter.js';

/** The state of an {@link ErrorBudget} at one instant (one clock read, so the figures agree). */
export interface ErrorBudgetSnapshot extends ErrorBudgetFigures {
  /** When it was taken, epoch ms. */
  readonly time: number;
  /** `failures ÷ requests`; 0 with no requests. */
  readonly errorRate: number;
  /** `consumed >= 1`, decided exactly on the counts (see {@link ErrorBudget.exhausted}). */
  readonly exhausted: boolean;
}

/**
 * A request-based SLO error budget over a sliding window: with an SLO of 99.9 %, one request in a
 * thousand may fail, and `consumed` says how much of that allowance the window has spent.
 */
export interface ErrorBudget {
  /** Tells the instances this package tracks on the event bus apart (`bus.tracked('health')`). */
  readonly kind: 'error_budget';
  /** Instance name, used in events (`budget` label in metrics). */
  readonly name: string;
  /** The SLO target, e.g. 0.999. */
  readonly slo: number;
  /** Length of the window, ms. */
  readonly windowMs: number;
  /** Length of one bucket, ms: the step in which old requests leave the window. */
  readonly bucketMs: number;
  /** Counts one request. */
  record(success: boolean): void;
  /**
   * Counts many requests at once (from a batch, or a counter you scrape). Both must be
   * non-negative safe integers, else it throws `INVALID_OPTIONS` and counts nothing.
   */
  recordMany(successes: number, failures: number): void;
  /** Requests in the window. */
  readonly requests: number;
  /** Failed requests in the window. */
  readonly failures: number;
  /** `failures ÷ requests`; 0 with no requests. */
  readonly errorRate: number;
  /**
   * Share of the budget spent: `failures ÷ (requests × (1 − slo))`, which is also the burn rate
   * over the whole window. 0 with no requests; above 1 when overspent. `1 − slo` is the exact
   * decimal (`1 − 0.999` is 1/1 000), and the ratio is divided once, so it is exactly 1 at the
   * allowance and 0.5 at half of it.
   */
  readonly consumed: number;
  /** `1 − consumed`: 1 with no requests, 0 when just exhausted, negative when overspent (not clamped). */
  readonly remaining: number;
  /**
   * `consumed >= 1`, decided exactly on the counts (`failures × d >= requests × (d − s)` for an
   * SLO of `s / d`), so the failure that reaches the allowance exhausts the budget at any SLO.
   */
  readonly exhausted: boolean;
  /** All figures from one clock read. */
  snapshot(): ErrorBudgetSnapshot;
  /** Forgets every request (emits `health.error_budget_recovered` if it was exhausted). */
  reset(): void;
}

/** Options of {@link createErrorBudget}. */
export interface ErrorBudgetOptions {
  /** Instance name for events. Default `'error-budget'`. */
  readonly name?: string | undefined;
  /** The SLO target, strictly between 0 and 1 (0.999 = 99.9 %). Required. */
  readonly slo: number;
  /**
   * Length of the sliding window, ms. Default 30 days (2 592 000 000), the window the default
   * burn-rate thresholds are calibrated for. A positive integer.
   */
  readonly windowMs?: number | undefined;
  /**
   * Bucket length, ms: old requests leave the window one bucket at a time, so the window really
   * covers between `windowMs − bucketMs` and `windowMs`. Must divide `windowMs`, giving at most
   * 100 000 buckets. Default `windowMs / 100` (required when `windowMs` is not a multiple of 100).
   */
  readonly bucketMs?: number | undefined;
  /** Default `systemClock`. */
  readonly clock?: Clock | undefined;
  /** Default `defaultEventBus()`. */
  readonly events?: EventBus | undefined;
}

const OWNER = 'createErrorBudget';
const KNOWN = ['name', 'slo', 'windowMs', 'bucketMs', 'clock', 'events'] as const;
/** Default window: 30 days. */
const DEFAULT_WINDOW_MS = 30 * 24 * 60 * 60 * 1000;
/** Default number of buckets per window: the window slides in hundredths. */
const DEFAULT_BUCKETS = 100;
/**
 * Upper bound on buckets per window, so memory stays small (two Float64Arrays: 1.6 MB at most).
 *
 * @example
 * ```ts
 * createErrorBudget({ slo: 0.999, windowMs: 86_400_000, bucketMs: 1_000 }); // 86 400 buckets: allowed
 * ```
 */
export const MAX_BUCKETS = 100_000;

class ErrorBudgetImpl implements ErrorBudget {
  readonly kind = 'error_budget' as const;
  readonly name: string;
  readonly slo: number;
  readonly windowMs: number;
  readonly bucketMs: number;
  /** `failures ÷ (requests × (1 − slo))`, with `1 − slo` an exact fraction. */
  readonly #consumption: CountRatio;
  readonly #counter: WindowCounter;
  readonly #clock: Clock;
  readonly #events: EventBus;
  #exhausted = false;

  constructor(name: string, slo: number, windowMs: number, bucketMs: number, clock: Clock, events: EventBus) {
    this.name = name;
    this.slo = slo;
    this.windowMs = windowMs;
    this.bucketMs = bucketMs;
    const allowed = allowedErrors(slo);
    this.#consumption = new CountRatio(allowed.den, allowed.num);
    this.#counter = new WindowCounter(windowMs, bucketMs);
    this.#clock = clock;
    this.#events = events;
    trackInstance(events, 'health', name, this);
  }

  record(success: boolean): void {
    const now = this.#clock.now();
    this.#counter.add(now, success ? 1 : 0, success ? 0 : 1);
    this.#update(now);
  }

  recordMany(successes: number, failures: number): void {
    checkCount(this.name, 'successes', successes);
    checkCount(this.name, 'failures', failures);
    const now = this.#clock.now();
    this.#counter.add(now, successes, failures);
    this.#update(now);
  }

  get requests(): number {
    this.#refresh();
    return this.#counter.requests;
  }

  get failures(): number {
    this.#refresh();
    return this.#counter.failures;
  }

  get errorRate(): number {
    this.#refresh();
    const { requests, failures } = this.#counter;
    return requests === 0 ? 0 : failures / requests;
  }

  get consumed(): number {
    this.#refresh();
    return this.#consumed();
  }

  get remaining(): number {
    this.#refresh();
    return 1 - this.#consumed();
  }

  get exhausted(): boolean {
    this.#refresh();
    return this.#exhausted;
  }

  snapshot(): ErrorBudgetSnapshot {
    const time = this.#refresh();
    const { requests, failures } = this.#counter;
    const consumed = this.#consumed();
    return {
      time,
      slo: this.slo,
      windowMs: this.windowMs,
      requests,
      failures,
      errorRate: requests === 0 ? 0 : failures / requests,
      consumed,
      remaining: 1 - consumed,
      exhausted: this.#exhausted,
    };
  }

  reset(): void {
    this.#counter.clear();
    this.#update(this.#clock.now());
  }

  #consumed(): number {
    const { requests, failures } = this.#counter;
    return requests === 0 ? 0 : this.#consumption.value(failures, requests);
  }

  #refresh(): number {
    const now = this.#clock.now();
    this.#counter.advance(now);
    this.#update(now);
    return now;
  }

  /** Notices a change of `exhausted` (both directions) and reports it. */
  #update(now: number): void {
    const { requests, failures } = this.#counter;
    // failures × den >= requests × num, on integers: exactly at the allowance counts as exhausted.
    const exhausted = requests > 0 && this.#consumption.compare(failures, requests) >= 0;
    if (exhausted === this.#exhausted) return;
    this.#exhausted = exhausted;
    const type = exhausted ? 'health.error_budget_exhausted' : 'health.error_budget_recovered';
    if (!this.#events.hasListeners(type)) return;
    const consumed = this.#consumed();
    this.#events.emit({
      type,
      source: 'health',
      name: this.name,
      time: now,
      slo: this.slo,
      windowMs: this.windowMs,
      requests,
      failures,
      consumed,
      remaining: 1 - consumed,
    });
  }
}

function checkCount(owner: string, option: string, value: number): void {
  checkInteger(`${owner}.recordMany`, option, value, { min: 0, max: Number.MAX_SAFE_INTEGER });
}

/**
 * Resolves `bucketMs` for a window: the given value when it divides `windowMs` into at most
 * {@link MAX_BUCKETS} buckets, else `windowMs / 100` when that is whole. Throws `INVALID_OPTIONS`
 * otherwise.
 *
 * @example
 * ```ts
 * resolveBucketMs('createErrorBudget', 3_600_000, undefined); // 36_000
 * ```
 */
export function resolveBucketMs(owner: string, windowMs: number, bucketMs: unknown): number {
  if (bucketMs === undefined) {
    if (windowMs % DEFAULT_BUCKETS === 0) return windowMs / DEFAULT_BUCKETS;
    throw new InvalidOptionsError(
      owner,
      'bucketMs',
      bucketMs,
      `given when windowMs (${windowMs}) is not a multiple of ${DEFAULT_BUCKETS}: an integer that divides windowMs`,
    );
  }
  const value = checkDuration(owner, 'bucketMs', bucketMs, windowMs);
  if (windowMs % value !== 0 || windowMs / value > MAX_BUCKETS) {
    throw new InvalidOptionsError(
      owner,
      'bucketMs',
      bucketMs,
      `an integer that divides windowMs (${windowMs}) into at most ${MAX_BUCKETS} buckets`,
    );
  }
  return value;
}

/**
 * Creates an SLO error budget over a sliding window.
 *
 * `consumed = failures ÷ (requests × (1 − slo))`: at 99.9 %, 2 000 requests allow 2 failures, so
 * one failure has consumed 0.5 of the budget and two exhaust it. Memory is a fixed ring of
 * buckets whatever the traffic; nothing runs on a timer, old requests leave the window as time
 * moves and are dropped on the next `record` or read.
 *
 * @example
 * ```ts
 * const budget = createErrorBudget({ name: 'checkout', slo: 0.999, windowMs: 24 * 3_600_000 });
 * budget.record(response.ok);
 * if (budget.exhausted) console.warn(`checkout budget spent: ${budget.consumed.toFixed(2)}`);
 * ```
 */
export function createErrorBudget(options: ErrorBudgetOptions): ErrorBudget {
  options = readOptions(OWNER, options, KNOWN, true);
  const name = checkString(OWNER, 'name', or(options.name, 'error-budget'));
  const slo = checkSlo(OWNER, options.slo);
  const windowMs = checkDuration(OWNER, 'windowMs', or(options.windowMs, DEFAULT_WINDOW_MS));
  const bucketMs = resolveBucketMs(OWNER, windowMs, options.bucketMs);
  const clock = checkClock(OWNER, options.clock);
  const events = checkEvents(OWNER, options.events);
  return new ErrorBudgetImpl(name, slo, windowMs, bucketMs, clock, events);
}
