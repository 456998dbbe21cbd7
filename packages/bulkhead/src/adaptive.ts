import { callError, checkClock, checkEvents, checkFunction, checkInteger, checkNumber, checkOneOf, readOptions, checkString, defaultEventBus, InvalidOptionsError, invoke, isXError, systemClock, toContext } from '@x/core';
import type { Clock, EventBus, ExecuteOptions, ExecutionContext, Outcome, Policy, PolicyFn } from '@x/core';
import { AimdLimit } from './aimd.js';
import type { LimitAlgorithm } from './algorithm.js';
import type { AdaptiveAlgorithm, AdaptiveChangeCause } from './events.js';
import { GradientLimit } from './gradient.js';

/**
 * What an adaptive controller drives: anything with `setLimit`, such as a bulkhead. `limit` (the
 * starting limit when `initial` is not given) and `active` (calls in flight, for the
 * application-limited guard) are read when present.
 */
export interface AdaptiveTarget {
  setLimit(limit: number): void;
  readonly limit?: number;
  readonly active?: number;
}

/**
 * How a failed call feeds the algorithm: `'drop'` (a congestion signal: it timed out or the
 * downstream pushed back), `'sample'` (its latency counts like a success) or `'ignore'`.
 */
export type AdaptiveErrorKind = 'drop' | 'sample' | 'ignore';

/** What {@link AdaptiveConcurrency.record} accepts besides the latency. */
export interface AdaptiveSample {
  /** The call was dropped: it timed out or was rejected by an overloaded downstream. */
  readonly dropped?: boolean;
  /**
   * Calls in flight when it started. Defaults to the target's `active`, when it has one;
   * otherwise the application-limited guard is off.
   */
  readonly inflight?: number;
}

/** Options of {@link createAdaptiveConcurrency}. */
export interface AdaptiveConcurrencyOptions {
  /** Instance name for events. Defaults to `'adaptive'`. */
  readonly name?: string;
  /** What the computed limit is applied to, usually a bulkhead. Required. */
  readonly target: AdaptiveTarget;
  /** `'gradient'` (default; latency-based, needs no threshold) or `'aimd'` (loss-based). */
  readonly algorithm?: AdaptiveAlgorithm;
  /** Starting limit, an integer in [min, max]. Defaults to the target's `limit` (clamped), else 20. */
  readonly initial?: number;
  /** Lowest limit, an integer >= 1. Defaults to 1. */
  readonly min?: number;
  /** Highest limit, an integer >= min. Defaults to 200 (or the target's limit, if higher). */
  readonly max?: number;
  /** AIMD: factor applied on congestion, in (0, 1). Defaults to 0.9. */
  readonly backoffRatio?: number;
  /** AIMD: growth per round trip of good calls, > 0. Defaults to 1. */
  readonly increase?: number;
  /** AIMD: a call slower than this (ms) counts as congestion. Defaults to Infinity (only drops count). */
  readonly latencyThresholdMs?: number;
  /** Gradient: how much slower than the baseline a window may be before shrinking, >= 1. Defaults to 1.5. */
  readonly tolerance?: number;
  /** Gradient: weight of each window's decision, in (0, 1]. Defaults to 0.2. */
  readonly smoothing?: number;
  /** Gradient: headroom added while latency is within tolerance, >= 0 or a function of the limit. Defaults to 4. */
  readonly queueSize?: number | ((limit: number) => number);
  /** Gradient: minimum window length in ms, > 0. Defaults to 1000. */
  readonly windowMs?: number;
  /** Gradient: minimum samples per window, an integer >= 1. Defaults to 10. */
  readonly minWindowSamples?: number;
  /** Gradient: windows the baseline latency averages over, an integer >= 1. Defaults to 600. */
  readonly longWindow?: number;
  /**
   * How `execute` counts a failed call. Defaults to `'drop'` for `TIMEOUT` and `RATE_LIMITED`
   * errors and `'ignore'` for everything else (including the caller's own abort).
   */
  readonly classify?: (error: unknown, ctx: ExecutionContext) => AdaptiveErrorKind;
  /** Time source; defaults to `systemClock`. */
  readonly clock?: Clock;
  /** Where events go; defaults to `defaultEventBus()`. */
  readonly events?: EventBus;
}

/** A snapshot of an adaptive controller. */
export interface AdaptiveConcurrencyStats {
  readonly algorithm: AdaptiveAlgorithm;
  /** The limit last applied to the target. */
  readonly limit: number;
  /** The algorithm's fractional estimate (the limit is its floor). */
  readonly estimate: number;
  /** Calls `execute` is running now. */
  readonly inflight: number;
  /** Samples fed to the algorithm (drops included). */
  readonly samples: number;
  /** Samples that were drops. */
  readonly drops: number;
  /** Calls not fed to the algorithm: ignored errors and invalid latencies. */
  readonly ignored: number;
  /** The latency of the last decision (NaN before any). */
  readonly rttMs: number;
  /** Gradient's baseline latency; undefined for AIMD. */
  readonly baselineRttMs: number | undefined;
}

/**
 * Drives a target's concurrency limit from observed latency and drops. As a `Policy`, `execute`
 * runs the function, measures it and feeds the result to the algorithm (rejections pass through
 * unchanged); put it inside the bulkhead it drives so queue time is not measured. Or feed it
 * yourself with `record`.
 */
export interface AdaptiveConcurrency extends Policy {
  readonly algorithm: AdaptiveAlgorithm;
  /** The limit last applied to the target. */
  readonly currentLimit: number;
  /**
   * Feeds one finished call: its latency in ms (a finite number >= 0; anything else is counted
   * as ignored) and whether it was dropped.
   */
  record(latencyMs: number, sample?: AdaptiveSample): void;
  stats(): AdaptiveConcurrencyStats;
}

const OWNER = 'createAdaptiveConcurrency';
const ADAPTIVE_OPTION_KEYS = [
  'name',
  'target',
  'algorithm',
  'initial',
  'min',
  'max',
  'backoffRatio',
  'increase',
  'latencyThresholdMs',
  'tolerance',
  'smoothing',
  'queueSize',
  'windowMs',
  'minWindowSamples',
  'longWindow',
  'classify',
  'clock',
  'events',
];
const AIMD_ONLY = ['backoffRatio', 'increase', 'latencyThresholdMs'] as const;
const GRADIENT_ONLY = ['tolerance', 'smoothing', 'queueSize', 'windowMs', 'minWindowSamples', 'longWindow'] as const;

/** Default `classify`: timeouts and rate limiting are congestion; other failures say nothing. */
function classifyByCode(error: unknown): AdaptiveErrorKind {
  return isXError(error, 'TIMEOUT') || isXError(error, 'RATE_LIMITED') ? 'drop' : 'ignore';
}

function queueSizeOf(value: unknown): (limit: number) => number {
  if (typeof value === 'function') {
    const fn = value as (limit: number) => number;
    return (limit) => {
      const size = fn(limit);
      return Number.isFinite(size) && size > 0 ? size : 0;
    };
  }
  const size = checkNumber(OWNER, 'queueSize', value ?? 4, { min: 0 });
  return () => size;
}

// A factor in the open interval (0, 1): 1 would never back off.
function checkRatio(option: string, value: unknown): number {
  if (typeof value !== 'number' || !(value > 0 && value < 1)) {
    throw new InvalidOptionsError(OWNER, option, value, 'a number in (0, 1)');
  }
  return value;
}

function readNumber(target: AdaptiveTarget, key: 'limit' | 'active'): number | undefined {
  const value = target[key];
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

function buildAlgorithm(options: AdaptiveConcurrencyOptions, algorithm: AdaptiveAlgorithm, bounds: { initial: number; min: number; max: number }): LimitAlgorithm {
  const foreign = algorithm === 'aimd' ? GRADIENT_ONLY : AIMD_ONLY;
  for (const key of foreign) {
    if (options[key] != null) {
      throw new InvalidOptionsError(OWNER, key, options[key], `left unset: it only applies to algorithm '${algorithm === 'aimd' ? 'gradient' : 'aimd'}'`);
    }
  }
  if (algorithm === 'aimd') {
    return new AimdLimit({
      ...bounds,
      backoffRatio: checkRatio('backoffRatio', options.backoffRatio ?? 0.9),
      increase: checkNumber(OWNER, 'increase', options.increase ?? 1, { min: 0, minExclusive: true }),
      latencyThresholdMs: checkNumber(OWNER, 'latencyThresholdMs', options.latencyThresholdMs ?? Infinity, {
        min: 0,
        minExclusive: true,
        allowInfinity: true,
      }),
    });
  }
  return new GradientLimit({
    ...bounds,
    tolerance: checkNumber(OWNER, 'tolerance', options.tolerance ?? 1.5, { min: 1 }),
    smoothing: checkNumber(OWNER, 'smoothing', options.smoothing ?? 0.2, { min: 0, max: 1, minExclusive: true }),
    queueSize: queueSizeOf(options.queueSize),
    windowMs: checkNumber(OWNER, 'windowMs', options.windowMs ?? 1_000, { min: 0, minExclusive: true }),
    minWindowSamples: checkInteger(OWNER, 'minWindowSamples', options.minWindowSamples ?? 10, { min: 1 }),
    longWindow: checkInteger(OWNER, 'longWindow', options.longWindow ?? 600, { min: 1 }),
  });
}

class AdaptiveImpl implements AdaptiveConcurrency {
  readonly name: string;
  readonly algorithm: AdaptiveAlgorithm;
  readonly #target: AdaptiveTarget;
  readonly #limiter: LimitAlgorithm;
  readonly #min: number;
  readonly #max: number;
  readonly #classify: (error: unknown, ctx: ExecutionContext) => AdaptiveErrorKind;
  readonly #clock: Clock;
  readonly #events: EventBus;
  #limit: number;
  #inflight = 0;
  #samples = 0;
  #drops = 0;
  #ignored = 0;

  constructor(options: AdaptiveConcurrencyOptions) {
    if (typeof options !== 'object' || options === null) {
      throw new InvalidOptionsError(OWNER, 'options', options, 'an object with at least target');
    }
    options = readOptions(OWNER, options, ADAPTIVE_OPTION_KEYS);
    const target = options.target;
    if (typeof target !== 'object' || target === null) {
      throw new InvalidOptionsError(OWNER, 'target', target, 'an object with setLimit(limit), such as a bulkhead');
    }
    checkFunction(OWNER, 'target.setLimit', target.setLimit);
    this.name = checkString(OWNER, 'name', options.name ?? 'adaptive');
    this.algorithm = checkOneOf(OWNER, 'algorithm', options.algorithm ?? 'gradient', ['aimd', 'gradient'] as const);
    const targetLimit = readNumber(target, 'limit');
    const min = checkInteger(OWNER, 'min', options.min ?? 1, { min: 1, max: Number.MAX_SAFE_INTEGER });
    const max = checkInteger(OWNER, 'max', options.max ?? Math.max(200, min, Math.floor(targetLimit ?? 0)), {
      min,
      max: Number.MAX_SAFE_INTEGER,
    });
    const initial =
      options.initial == null
        ? Math.min(max, Math.max(min, Math.floor(targetLimit ?? 20)))
        : checkInteger(OWNER, 'initial', options.initial, { min, max });
    this.#limiter = buildAlgorithm(options, this.algorithm, { initial, min, max });
    this.#classify =
      options.classify == null ? classifyByCode : checkFunction(OWNER, 'classify', options.classify);
    this.#clock = checkClock(OWNER, options.clock);
    this.#events = checkEvents(OWNER, options.events);
    this.#target = target;
    this.#min = min;
    this.#max = max;
    this.#limit = initial;
    if (targetLimit !== initial) target.setLimit(initial);
  }

  get currentLimit(): number {
    return this.#limit;
  }

  record(latencyMs: number, sample?: AdaptiveSample): void {
    if (typeof latencyMs !== 'number' || !(latencyMs >= 0) || latencyMs === Infinity) {
      this.#ignored++;
      return;
    }
    const inflight = sample?.inflight ?? readNumber(this.#target, 'active') ?? Infinity;
    this.#feed(this.#clock.now(), latencyMs, sample?.dropped === true, inflight);
  }

  execute<T>(fn: PolicyFn<T>, options?: ExecuteOptions): Promise<T> {
    const bad = callError('adaptive.execute', fn, options);
    if (bad !== undefined) return Promise.reject(bad);
    const ctx = toContext(options);
    const inflight = ++this.#inflight;
    const clock = this.#clock;
    const started = clock.now();
    return invoke(fn, ctx).then(
      (value) => {
        this.#inflight--;
        const now = clock.now();
        this.#feed(now, now - started, false, inflight);
        return value;
      },
      (error: unknown) => {
        this.#inflight--;
        const kind = this.#classify(error, ctx);
        if (kind === 'ignore') this.#ignored++;
        else {
          const now = clock.now();
          this.#feed(now, now - started, kind === 'drop', inflight);
        }
        throw error;
      },
    );
  }

  executeOutcome<T>(fn: PolicyFn<T>, options?: ExecuteOptions): Promise<Outcome<T>> {
    return this.execute(fn, options).then(
      (value): Outcome<T> => ({ ok: true, value }),
      (error: unknown): Outcome<T> => ({ ok: false, error }),
    );
  }

  stats(): AdaptiveConcurrencyStats {
    const limiter = this.#limiter;
    return {
      algorithm: this.algorithm,
      limit: this.#limit,
      estimate: limiter.estimate,
      inflight: this.#inflight,
      samples: this.#samples,
      drops: this.#drops,
      ignored: this.#ignored,
      rttMs: limiter.rttMs,
      baselineRttMs: limiter.baselineRttMs,
    };
  }

  #feed(now: number, latencyMs: number, dropped: boolean, inflight: number): void {
    this.#samples++;
    if (dropped) this.#drops++;
    const limiter = this.#limiter;
    const cause = limiter.update({ now, latencyMs, dropped, inflight });
    if (cause === undefined) return;
    const next = Math.min(this.#max, Math.max(this.#min, Math.floor(limiter.estimate)));
    if (next !== this.#limit) this.#apply(next, cause);
  }

  #apply(to: number, cause: AdaptiveChangeCause): void {
    const from = this.#limit;
    this.#limit = to;
    this.#target.setLimit(to);
    if (this.#events.hasListeners('bulkhead.adaptive_limit_changed')) {
      const limiter = this.#limiter;
      this.#events.emit({
        type: 'bulkhead.adaptive_limit_changed',
        source: 'bulkhead',
        name: this.name,
        time: this.#clock.now(),
        algorithm: this.algorithm,
        from,
        to,
        cause,
        rttMs: limiter.rttMs,
        baselineRttMs: limiter.baselineRttMs,
      });
    }
  }
}

/**
 * Creates an adaptive concurrency controller that moves a target's limit (a bulkhead's
 * `setLimit`) within `[min, max]` from the latency and drops it observes: `'aimd'` backs off
 * multiplicatively on drops or slow calls and grows by about one per round trip; `'gradient'`
 * (Netflix Gradient2 style) compares each window's latency with a long-term baseline.
 *
 * @example
 * ```ts
 * const bulkhead = createBulkhead({ name: 'search', maxConcurrent: 20, maxQueue: 100, maxWaitMs: 1_000 });
 * const adaptive = createAdaptiveConcurrency({ target: bulkhead, algorithm: 'gradient', min: 4, max: 100 });
 * const search = compose(bulkhead, adaptive); // the adaptive layer measures the call, not the queue
 * await search.execute(({ signal }) => fetch(url, { signal }));
 * ```
 */
export function createAdaptiveConcurrency(options: AdaptiveConcurrencyOptions): AdaptiveConcurrency {
  return new AdaptiveImpl(options);
}
