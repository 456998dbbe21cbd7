import { checkClock, checkEvents, checkInteger, checkNumber, checkOneOf, readOptions, checkString, defaultEventBus, InvalidOptionsError, systemClock, trackInstance } from '@x/core';
import type { Clock, EventBus } from '@x/core';
import type { BurnRateSeverity } from './events.js';
import { allowedErrors, CountRatio, decimalFraction } from './exact.js';
import { checkDuration, checkSlo, or } from './options.js';
import { WindowCounter } from './window-counter.js';

/** One multi-window alert: it fires while the burn rate over both windows exceeds `threshold`. */
export interface BurnRateWindow {
  readonly severity: BurnRateSeverity;
  /** The window that makes the alert significant (enough budget burnt), ms. */
  readonly longWindowMs: number;
  /** The window that makes the alert stop soon after the burning stops, ms. Shorter than the long one. */
  readonly shortWindowMs: number;
  /**
   * Burn rate both windows must exceed (strictly, compared exactly: a burn rate of exactly the
   * threshold does not fire). 1 spends the budget exactly over its window.
   */
  readonly threshold: number;
}

/** One alert as {@link BurnRateMonitor.evaluate} sees it. */
export interface BurnRateStatus extends BurnRateWindow {
  /** Error rate over the long window ÷ (1 − slo); 0 with no requests. */
  readonly longBurnRate: number;
  /** Error rate over the short window ÷ (1 − slo); 0 with no requests. */
  readonly shortBurnRate: number;
  /** Requests in the long window. */
  readonly longRequests: number;
  /** Requests in the short window. */
  readonly shortRequests: number;
  /** Both windows exceed `threshold`, each with at least `minRequests` requests. */
  readonly firing: boolean;
}

/**
 * The alerts of the Google SRE Workbook ("Alerting on SLOs", multiwindow, multi-burn-rate) for a
 * 30-day budget: page when 2 % of the budget burns in an hour (14.4×) or 5 % in six hours (6×),
 * open a ticket when 10 % burns in three days (1×). Each long window is paired with a short one a
 * twelfth of its length, so an alert stops soon after the burning does.
 *
 * @example
 * ```ts
 * const monitor = createBurnRateMonitor({
 *   slo: 0.999,
 *   windows: DEFAULT_BURN_RATE_WINDOWS.filter((w) => w.severity === 'page'),
 * });
 * ```
 */
export const DEFAULT_BURN_RATE_WINDOWS: readonly BurnRateWindow[] = Object.freeze([
  Object.freeze({ severity: 'page', longWindowMs: 3_600_000, shortWindowMs: 300_000, threshold: 14.4 } as const),
  Object.freeze({ severity: 'page', longWindowMs: 21_600_000, shortWindowMs: 1_800_000, threshold: 6 } as const),
  Object.freeze({ severity: 'ticket', longWindowMs: 259_200_000, shortWindowMs: 21_600_000, threshold: 1 } as const),
]);

/**
 * Tracks requests over the windows of a set of burn-rate alerts and says which would fire.
 * Burn rate = error rate ÷ (1 − slo): at 1 the budget lasts exactly its window, at 14.4 a 30-day
 * budget is gone in about two days.
 */
export interface BurnRateMonitor {
  /** Tells the instances this package tracks on the event bus apart (`bus.tracked('health')`). */
  readonly kind: 'burn_rate_monitor';
  /** Instance name, used in events. */
  readonly name: string;
  /** The SLO target, e.g. 0.999. */
  readonly slo: number;
  /** The alerts, in the order given. */
  readonly windows: readonly BurnRateWindow[];
  /** Counts one request. */
  record(success: boolean): void;
  /** Counts many requests at once; both must be non-negative safe integers (else `INVALID_OPTIONS`). */
  recordMany(successes: number, failures: number): void;
  /**
   * Every alert with its burn rates and whether it fires now, in the order of `windows`. Emits
   * `health.burn_rate_alert` for alerts whose firing changed since last noticed.
   */
  evaluate(): BurnRateStatus[];
  /** The burn rate over one of the configured window lengths (long or short); throws a RangeError for others. */
  burnRate(windowMs: number): number;
  /** Forgets every request (alerts that were firing stop, with an event). */
  reset(): void;
}

/** Options of {@link createBurnRateMonitor}. */
export interface BurnRateMonitorOptions {
  /** Instance name for events. Default `'burn-rate'`. */
  readonly name?: string | undefined;
  /** The SLO target, strictly between 0 and 1 (0.999 = 99.9 %). Required. */
  readonly slo: number;
  /** The alerts. Default {@link DEFAULT_BURN_RATE_WINDOWS}; 1 to 32 entries. */
  readonly windows?: readonly BurnRateWindow[] | undefined;
  /**
   * Buckets per window: each distinct window length keeps its own ring of this many buckets,
   * so a 5-minute window slides in 5-second steps and a 3-day one in 72-minute steps. Every window
   * length must be a multiple of it. Default 60; range [1, 10 000].
   */
  readonly bucketsPerWindow?: number | undefined;
  /**
   * A window with fewer requests than this never counts as exceeding its threshold (its burn
   * rate is still reported), so one failed request out of two does not page anyone. Default 1;
   * range [1, 2^53 − 1].
   */
  readonly minRequests?: number | undefined;
  /** Default `systemClock`. */
  readonly clock?: Clock | undefined;
  /** Default `defaultEventBus()`. */
  readonly events?: EventBus | undefined;
}

const OWNER = 'createBurnRateMonitor';
const KNOWN = ['name', 'slo', 'windows', 'bucketsPerWindow', 'minRequests', 'clock', 'events'] as const;
const WINDOW_KEYS = ['severity', 'longWindowMs', 'shortWindowMs', 'threshold'] as const;
const SEVERITIES = ['page', 'ticket'] as const;
const MAX_WINDOWS = 32;

interface Alert {
  readonly window: BurnRateWindow;
  readonly long: WindowCounter;
  readonly short: WindowCounter;
  /** Compares `failures ÷ (requests × (1 − slo))` with the threshold, exactly. */
  readonly above: CountRatio;
  firing: boolean;
}

class BurnRateMonitorImpl implements BurnRateMonitor {
  readonly kind = 'burn_rate_monitor' as const;
  readonly name: string;
  readonly slo: number;
  readonly windows: readonly BurnRateWindow[];
  /** `failures ÷ (requests × (1 − slo))`, with `1 − slo` an exact fraction. */
  readonly #burn: CountRatio;
  readonly #minRequests: number;
  /** One counter per distinct window length, shared by the alerts that use it. */
  readonly #counters: WindowCounter[];
  readonly #byLength: Map<number, WindowCounter>;
  readonly #alerts: Alert[];
  readonly #clock: Clock;
  readonly #events: EventBus;

  constructor(
    name: string,
    slo: number,
    windows: readonly BurnRateWindow[],
    buckets: number,
    minRequests: number,
    clock: Clock,
    events: EventBus,
  ) {
    this.name = name;
    this.slo = slo;
    this.windows = windows;
    const allowed = allowedErrors(slo);
    this.#burn = new CountRatio(allowed.den, allowed.num);
    this.#minRequests = minRequests;
    this.#clock = clock;
    this.#events = events;
    this.#byLength = new Map();
    const counterFor = (windowMs: number): WindowCounter => {
      let counter = this.#byLength.get(windowMs);
      if (counter === undefined) {
        counter = new WindowCounter(windowMs, windowMs / buckets);
        this.#byLength.set(windowMs, counter);
      }
      return counter;
    };
    this.#alerts = windows.map((window) => {
      // burn rate > T/E  <=>  failures × den × E > requests × num × T, for 1 − slo = num/den.
      const threshold = decimalFraction(window.threshold);
      return {
        window,
        long: counterFor(window.longWindowMs),
        short: counterFor(window.shortWindowMs),
        above: new CountRatio(allowed.den * threshold.den, allowed.num * threshold.num),
        firing: false,
      };
    });
    this.#counters = [...this.#byLength.values()];
    trackInstance(events, 'health', name, this);
  }

  record(success: boolean): void {
    this.#add(success ? 1 : 0, success ? 0 : 1);
  }

  recordMany(successes: number, failures: number): void {
    checkInteger(`${this.name}.recordMany`, 'successes', successes, { min: 0, max: Number.MAX_SAFE_INTEGER });
    checkInteger(`${this.name}.recordMany`, 'failures', failures, { min: 0, max: Number.MAX_SAFE_INTEGER });
    this.#add(successes, failures);
  }

  evaluate(): BurnRateStatus[] {
    const now = this.#advance();
    const result: BurnRateStatus[] = [];
    for (const alert of this.#alerts) {
      const { long, short, window } = alert;
      const firing = this.#firing(alert);
      this.#notice(alert, firing, now);
      result.push({
        severity: window.severity,
        longWindowMs: window.longWindowMs,
        shortWindowMs: window.shortWindowMs,
        threshold: window.threshold,
        longBurnRate: this.#rate(long),
        shortBurnRate: this.#rate(short),
        longRequests: long.requests,
        shortRequests: short.requests,
        firing,
      });
    }
    return result;
  }

  burnRate(windowMs: number): number {
    const counter = this.#byLength.get(windowMs);
    if (counter === undefined) {
      throw new RangeError(`${this.name}: no window of ${String(windowMs)} ms (configured: ${[...this.#byLength.keys()].join(', ')})`);
    }
    counter.advance(this.#clock.now());
    return this.#rate(counter);
  }

  reset(): void {
    for (const counter of this.#counters) counter.clear();
    const now = this.#clock.now();
    for (const alert of this.#alerts) this.#notice(alert, false, now);
  }

  #add(successes: number, failures: number): void {
    const now = this.#clock.now();
    for (const counter of this.#counters) counter.add(now, successes, failures);
    // Alert transitions are only worth computing on the hot path when someone listens for them.
    if (!this.#events.hasListeners('health.burn_rate_alert')) return;
    for (const alert of this.#alerts) this.#notice(alert, this.#firing(alert), now);
  }

  #advance(): number {
    const now = this.#clock.now();
    for (const counter of this.#counters) counter.advance(now);
    return now;
  }

  #rate(counter: WindowCounter): number {
    const { requests, failures } = counter;
    return requests === 0 ? 0 : this.#burn.value(failures, requests);
  }

  /** Strictly above the threshold, decided exactly on the counts (a burn rate of exactly 10 does not exceed 10). */
  #exceeds(counter: WindowCounter, above: CountRatio): boolean {
    const { requests, failures } = counter;
    return requests >= this.#minRequests && above.compare(failures, requests) > 0;
  }

  #firing(alert: Alert): boolean {
    return this.#exceeds(alert.long, alert.above) && this.#exceeds(alert.short, alert.above);
  }

  #notice(alert: Alert, firing: boolean, now: number): void {
    if (alert.firing === firing) return;
    alert.firing = firing;
    if (!this.#events.hasListeners('health.burn_rate_alert')) return;
    const { window } = alert;
    this.#events.emit({
      type: 'health.burn_rate_alert',
      source: 'health',
      name: this.name,
      time: now,
      severity: window.severity,
      slo: this.slo,
      longWindowMs: window.longWindowMs,
      shortWindowMs: window.shortWindowMs,
      threshold: window.threshold,
      longBurnRate: this.#rate(alert.long),
      shortBurnRate: this.#rate(alert.short),
      firing,
    });
  }
}

function checkWindows(value: unknown, buckets: number): readonly BurnRateWindow[] {
  if (!Array.isArray(value) || value.length === 0 || value.length > MAX_WINDOWS) {
    throw new InvalidOptionsError(OWNER, 'windows', value, `an array of 1 to ${MAX_WINDOWS} burn-rate windows`);
  }
  return Object.freeze(
    value.map((entry: unknown, i): BurnRateWindow => {
      const path = `windows[${i}]`;
      entry = readOptions(OWNER, entry as object, WINDOW_KEYS, true);
      const w = entry as Record<string, unknown>;
      const severity = checkOneOf(OWNER, `${path}.severity`, w.severity, SEVERITIES);
      const longWindowMs = checkDuration(OWNER, `${path}.longWindowMs`, w.longWindowMs);
      const shortWindowMs = checkDuration(OWNER, `${path}.shortWindowMs`, w.shortWindowMs, longWindowMs - 1);
      const threshold = checkNumber(OWNER, `${path}.threshold`, w.threshold, { min: 0, minExclusive: true });
      for (const [key, ms] of [['longWindowMs', longWindowMs], ['shortWindowMs', shortWindowMs]] as const) {
        if (ms % buckets !== 0) {
          throw new InvalidOptionsError(OWNER, `${path}.${key}`, ms, `a multiple of bucketsPerWindow (${buckets})`);
        }
      }
      return Object.freeze({ severity, longWindowMs, shortWindowMs, threshold });
    }),
  );
}

/**
 * Creates a multi-window, multi-burn-rate alert evaluator (the Google SRE Workbook's recommended
 * SLO alerting). Feed it every request; `evaluate()` says which alerts fire, and
 * `health.burn_rate_alert` events report each start and stop. An alert fires only while both its
 * long window (enough budget burnt to matter) and its short window (still burning now) exceed the
 * threshold, so a short burst does not page and a page stops minutes after a fix.
 *
 * @example
 * ```ts
 * const burn = createBurnRateMonitor({ name: 'checkout', slo: 0.999 });
 * burn.record(response.ok);
 * const pages = burn.evaluate().filter((a) => a.firing && a.severity === 'page');
 * ```
 */
export function createBurnRateMonitor(options: BurnRateMonitorOptions): BurnRateMonitor {
  options = readOptions(OWNER, options, KNOWN, true);
  const name = checkString(OWNER, 'name', or(options.name, 'burn-rate'));
  const slo = checkSlo(OWNER, options.slo);
  const buckets = checkInteger(OWNER, 'bucketsPerWindow', or(options.bucketsPerWindow, 60), { min: 1, max: 10_000 });
  const windows = checkWindows(or(options.windows, DEFAULT_BURN_RATE_WINDOWS), buckets);
  const minRequests = checkInteger(OWNER, 'minRequests', or(options.minRequests, 1), { min: 1, max: Number.MAX_SAFE_INTEGER });
  const clock = checkClock(OWNER, options.clock);
  const events = checkEvents(OWNER, options.events);
  return new BurnRateMonitorImpl(name, slo, windows, buckets, minRequests, clock, events);
}
