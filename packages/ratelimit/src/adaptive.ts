import {
  InvalidOptionsError,
  checkClock,
  checkEvents,
  checkFunction,
  checkInteger,
  checkNumber,
  readOptions,
  checkString,
  defaultEventBus,
  invoke,
  isXError,
  systemClock,
  toContext,
} from '@x/core';
import type { Clock, EventBus, ExecuteOptions, ExecutionContext, Outcome, Policy, PolicyFn } from '@x/core';
import type { RateLimitLimitChangedEvent } from './events.js';
import type { AnyRateLimiter } from './limiter.js';
import type { RateLimitPolicyOptions } from './policy.js';
import { MIN_INTERVAL_MS } from './rule.js';

const OWNER = 'createAdaptiveRateLimiter';
const ADAPTIVE_OPTION_KEYS = [
  'limiter',
  'minLimit',
  'maxLimit',
  'targetLatencyMs',
  'windowSize',
  'percentile',
  'decreaseFactor',
  'increaseRatio',
  'isDrop',
  'name',
  'clock',
  'events',
];

/** Options of {@link createAdaptiveRateLimiter}. */
export interface AdaptiveRateLimiterOptions {
  /** The limiter whose `limit` is adjusted (memory or store-backed); its period stays as it is. */
  readonly limiter: AnyRateLimiter;
  /** Lowest limit it may set (integer >= 1). */
  readonly minLimit: number;
  /**
   * Highest limit it may set (integer >= minLimit); at most one decision per microsecond of the
   * limiter's period (`periodMs × 1000`).
   */
  readonly maxLimit: number;
  /** Latency (ms, > 0) the measured percentile should stay under. */
  readonly targetLatencyMs: number;
  /** Samples per adjustment (integer in [1, 100 000]). Default 100. */
  readonly windowSize?: number | undefined;
  /** Which latency percentile of a window is compared to the target, in (0, 1]. Default 0.9. */
  readonly percentile?: number | undefined;
  /**
   * Multiplicative decrease when a window is over target or saw drops, in (0, 1): the limit
   * becomes `limit * min(decreaseFactor, target / observed)`, never below half. Default 0.9.
   */
  readonly decreaseFactor?: number | undefined;
  /** Additive increase per healthy window, as a fraction of the limit (at least 1), in (0, 1]. Default 0.05. */
  readonly increaseRatio?: number | undefined;
  /**
   * Which failures of a policy-run function are drops (overload signals that shrink the limit
   * like a slow window). Default: errors with code `TIMEOUT` (from `@x/timeout`).
   */
  readonly isDrop?: ((error: unknown) => boolean) | undefined;
  /** Name in events; default the limiter's name. */
  readonly name?: string | undefined;
  readonly clock?: Clock | undefined;
  readonly events?: EventBus | undefined;
}

/**
 * A rate limiter whose limit follows the latency of what it protects (the DWCP adaptive rate
 * limiter): AIMD on a windowed latency percentile. Every `windowSize` samples it compares the
 * percentile with `targetLatencyMs`; over target, or with drops in the window, it cuts the limit
 * multiplicatively (in proportion to the overshoot, at most by half); under target it raises it
 * by a small step. Bounded by `minLimit` and `maxLimit`.
 */
export interface AdaptiveRateLimiter {
  readonly name: string;
  /** The limiter being adjusted. */
  readonly limiter: AnyRateLimiter;
  /** Its current limit. */
  readonly limit: number;
  /** Records one call's latency (ms, finite, >= 0). */
  recordLatency(ms: number): void;
  /** Records an overload signal (a timeout, a 503): the current window counts as over target. */
  recordDrop(): void;
  /**
   * The limiter's policy for `key`, which also measures each admitted call (its own duration,
   * not the wait for admission) and records it: latency on success or ordinary failure, a drop
   * when `isDrop(error)`.
   */
  policy(key: string, options?: RateLimitPolicyOptions): Policy;
}

/** Why an adaptive limiter changed the limit. */
export type LimitChangeReason = RateLimitLimitChangedEvent['reason'];

class Adaptive implements AdaptiveRateLimiter {
  readonly name: string;
  readonly limiter: AnyRateLimiter;
  readonly #min: number;
  readonly #max: number;
  readonly #target: number;
  readonly #percentile: number;
  readonly #decrease: number;
  readonly #increase: number;
  readonly #isDrop: (error: unknown) => boolean;
  readonly #clock: Clock;
  readonly #events: EventBus;
  readonly #samples: Float64Array;
  #count = 0;
  #drops = 0;

  constructor(options: AdaptiveRateLimiterOptions) {
    if (typeof options !== 'object' || options === null) throw new InvalidOptionsError(OWNER, 'options', options, 'an object');
    const limiter = options.limiter;
    checkFunction(OWNER, 'limiter.setLimit', (limiter as Partial<AnyRateLimiter> | undefined)?.setLimit);
    this.limiter = limiter;
    this.#min = checkInteger(OWNER, 'minLimit', options.minLimit, { min: 1, max: 1e9 });
    this.#max = checkInteger(OWNER, 'maxLimit', options.maxLimit, { min: this.#min, max: 1e9 });
    const periodMs = limiter.rule.periodMs;
    if (this.#max > maxLimitFor(periodMs)) {
      throw new InvalidOptionsError(
        OWNER,
        'maxLimit',
        this.#max,
        `at most ${maxLimitFor(periodMs)} for the limiter's periodMs ${periodMs} (one decision per microsecond at most)`,
      );
    }
    this.#target = checkNumber(OWNER, 'targetLatencyMs', options.targetLatencyMs, { min: 0, minExclusive: true });
    this.#samples = new Float64Array(checkInteger(OWNER, 'windowSize', options.windowSize ?? 100, { min: 1, max: 100_000 }));
    this.#percentile = checkNumber(OWNER, 'percentile', options.percentile ?? 0.9, { min: 0, max: 1, minExclusive: true });
    this.#decrease = checkNumber(OWNER, 'decreaseFactor', options.decreaseFactor ?? 0.9, { min: 0, max: 1, minExclusive: true });
    if (this.#decrease === 1) throw new InvalidOptionsError(OWNER, 'decreaseFactor', 1, 'a number in (0, 1)');
    this.#increase = checkNumber(OWNER, 'increaseRatio', options.increaseRatio ?? 0.05, { min: 0, max: 1, minExclusive: true });
    this.#isDrop = options.isDrop === undefined ? isTimeout : checkFunction(OWNER, 'isDrop', options.isDrop);
    this.name = checkString(OWNER, 'name', options.name ?? limiter.name);
    this.#clock = checkClock(OWNER, options.clock);
    this.#events = checkEvents(OWNER, options.events);
    const start = limiter.rule.limit;
    if (start < this.#min || start > this.#max) limiter.setLimit(Math.min(this.#max, Math.max(this.#min, start)));
  }

  get limit(): number {
    return this.limiter.rule.limit;
  }

  recordLatency(ms: number): void {
    if (!(ms >= 0) || ms === Infinity) throw new InvalidOptionsError('recordLatency', 'ms', ms, 'a finite number >= 0');
    this.#samples[this.#count++] = ms;
    if (this.#count === this.#samples.length) this.#adjust();
  }

  recordDrop(): void {
    this.#drops++;
  }

  #adjust(): void {
    const window = this.#samples.slice(0, this.#count).sort();
    this.#count = 0;
    const drops = this.#drops;
    this.#drops = 0;
    const index = Math.min(window.length - 1, Math.max(0, Math.ceil(this.#percentile * window.length) - 1));
    const observed = window[index] as number;
    const from = this.limit;
    let to: number;
    let reason: LimitChangeReason;
    if (drops > 0 || observed > this.#target) {
      const factor = observed > this.#target ? Math.min(this.#decrease, this.#target / observed) : this.#decrease;
      // Never more than half at once, whatever decreaseFactor, and half of an odd limit rounds up.
      to = Math.max(this.#min, Math.ceil(from / 2), Math.floor(from * factor));
      reason = drops > 0 ? 'drops' : 'latency';
    } else {
      // The limiter's period may have changed since construction (setLimit(limit, periodMs)):
      // never grow past what it accepts, so a sample never throws.
      const max = Math.min(this.#max, maxLimitFor(this.limiter.rule.periodMs));
      to = Math.min(max, from + Math.max(1, Math.ceil(from * this.#increase)));
      reason = 'headroom';
    }
    if (to === from) return;
    try {
      this.limiter.setLimit(to);
    } catch {
      // The rule refused it (changed behind our back): keep the limit; recording never throws.
      return;
    }
    const events = this.#events;
    if (events.hasListeners('ratelimit.limit_changed')) {
      events.emit({
        type: 'ratelimit.limit_changed',
        source: 'ratelimit',
        name: this.name,
        time: this.#clock.now(),
        from,
        to,
        reason,
        latencyMs: observed,
        drops,
      });
    }
  }

  policy(key: string, options?: RateLimitPolicyOptions): Policy {
    return new MeasuredPolicy(this, this.limiter.policy(key, options), this.#clock, this.#isDrop);
  }
}

/** Runs through the limiter's policy and feeds each admitted call's duration back. */
class MeasuredPolicy implements Policy {
  readonly name: string;

  constructor(
    readonly adaptive: Adaptive,
    readonly inner: Policy,
    readonly clock: Clock,
    readonly isDrop: (error: unknown) => boolean,
  ) {
    this.name = inner.name;
  }

  #measured<T>(fn: PolicyFn<T>): PolicyFn<T> {
    return (ctx: ExecutionContext) => {
      const start = this.clock.now();
      return invoke(fn, ctx).then(
        (value) => {
          this.adaptive.recordLatency(Math.max(0, this.clock.now() - start));
          return value;
        },
        (error: unknown) => {
          if (this.isDrop(error)) this.adaptive.recordDrop();
          else this.adaptive.recordLatency(Math.max(0, this.clock.now() - start));
          throw error;
        },
      );
    };
  }

  execute<T>(fn: PolicyFn<T>, options?: ExecuteOptions): Promise<T> {
    return this.inner.execute(this.#measured(fn), toContext(options)) as Promise<T>;
  }

  executeOutcome<T>(fn: PolicyFn<T>, options?: ExecuteOptions): Promise<Outcome<T>> {
    return this.inner.executeOutcome(this.#measured(fn), toContext(options)) as Promise<Outcome<T>>;
  }
}

/** The largest limit a limiter with this period accepts: one decision per microsecond. */
function maxLimitFor(periodMs: number): number {
  const max = Math.floor(periodMs / MIN_INTERVAL_MS);
  return periodMs / max < MIN_INTERVAL_MS ? max - 1 : max;
}

function isTimeout(error: unknown): boolean {
  return isXError(error) && error.code === 'TIMEOUT';
}

/**
 * Makes a limiter adaptive: its limit follows the measured latency of the calls it admits,
 * between `minLimit` and `maxLimit` (AIMD on a windowed percentile). Feed it with
 * `recordLatency` / `recordDrop`, or run calls through `adaptive.policy(key)`, which measures them.
 *
 * @example
 * ```ts
 * const limiter = createRateLimiter({ name: 'partner-api', limit: 1_000, periodMs: 1_000 });
 * const adaptive = createAdaptiveRateLimiter({ limiter, minLimit: 100, maxLimit: 5_000, targetLatencyMs: 100 });
 * const call = compose(adaptive.policy('partner', { maxWaitMs: 500 }), createTimeout(2_000));
 * await call.execute(({ signal }) => fetch(url, { signal }));
 * ```
 */
export function createAdaptiveRateLimiter(options: AdaptiveRateLimiterOptions): AdaptiveRateLimiter {
  options = readOptions(OWNER, options, ADAPTIVE_OPTION_KEYS, true);
  return new Adaptive(options);
}
