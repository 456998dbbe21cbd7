import { MAX_TIMER_MS, checkInteger, checkNumber, checkOneOf, readOptions } from '@x/core';
import { or } from './options.js';

/**
 * Computes the wait before the next attempt.
 *
 * - `attempt`: the attempt that just failed (1 after the first call), so `backoff(1)` is the
 *   wait before the second call;
 * - `previousDelayMs`: what this backoff returned last time in the same execution (0 before the
 *   first retry); decorrelated jitter builds on it;
 * - `random`: the retry's random source, returning numbers in [0, 1).
 *
 * Return milliseconds. Negative values and NaN count as 0; `Infinity` means "never", so the retry
 * gives up instead of waiting. A plain `(attempt) => ms` function is a valid backoff.
 *
 * @example
 * ```ts
 * const backoff: Backoff = (attempt) => [100, 500, 2_000][attempt - 1] ?? 5_000;
 * ```
 */
export type Backoff = (attempt: number, previousDelayMs: number, random: () => number) => number;

/**
 * How randomness spreads the delay `d` that a backoff computed (after its `maxMs` cap):
 * - `'none'`: exactly `d`;
 * - `'full'`: uniform in `[0, d)`; spreads retries most (AWS's recommendation against contention);
 * - `'equal'`: uniform in `[d/2, d)`; keeps at least half the nominal spacing;
 * - `'decorrelated'` (exponential only): uniform in `[initialMs, 3 × previous delay)`, capped at
 *   `maxMs`; each delay builds on the last one instead of on the attempt number.
 *
 * @example
 * ```ts
 * exponentialBackoff({ jitter: 'decorrelated' });
 * ```
 */
export type Jitter = 'none' | 'full' | 'equal' | 'decorrelated';

/**
 * The jitters that need no memory of earlier delays (constant and linear backoffs take these).
 *
 * @example
 * ```ts
 * linearBackoff({ initialMs: 100, jitter: 'equal' });
 * ```
 */
export type SimpleJitter = 'none' | 'full' | 'equal';

/**
 * A built-in backoff: a {@link Backoff} that also describes its parameters.
 *
 * @example
 * ```ts
 * const backoff = exponentialBackoff();
 * console.log(backoff.kind, backoff.options.maxMs); // 'exponential' 30000
 * ```
 */
export interface DescribedBackoff<Kind extends string, Options> extends Backoff {
  readonly kind: Kind;
  /** The effective parameters, defaults filled in. */
  readonly options: Readonly<Options>;
}

/**
 * Options of {@link constantBackoff}.
 *
 * @example
 * ```ts
 * constantBackoff(500, { jitter: 'full' });
 * ```
 */
export interface ConstantBackoffOptions {
  /** Default `'none'`. */
  readonly jitter?: SimpleJitter | undefined;
}

/**
 * Options of {@link linearBackoff}.
 *
 * @example
 * ```ts
 * linearBackoff({ initialMs: 200, stepMs: 100, maxMs: 1_000 });
 * ```
 */
export interface LinearBackoffOptions {
  /** Wait before the first retry. Default 100, range [0, maxMs]. */
  readonly initialMs?: number | undefined;
  /** Added for every further retry. Default `initialMs`, range >= 0. */
  readonly stepMs?: number | undefined;
  /** Cap applied before jitter. Default `Infinity`. */
  readonly maxMs?: number | undefined;
  /** Default `'none'`. */
  readonly jitter?: SimpleJitter | undefined;
}

/**
 * Options of {@link exponentialBackoff}.
 *
 * @example
 * ```ts
 * exponentialBackoff({ initialMs: 50, maxMs: 10_000, multiplier: 1.5, jitter: 'equal' });
 * ```
 */
export interface ExponentialBackoffOptions {
  /** Wait before the first retry (before jitter). Default 100, range [0, maxMs]. */
  readonly initialMs?: number | undefined;
  /** Cap applied before jitter; must be finite. Default 30 000. */
  readonly maxMs?: number | undefined;
  /** Growth per retry. Default 2, range [1, 1000]. Decorrelated jitter uses 3 instead. */
  readonly multiplier?: number | undefined;
  /** Default `'full'`. */
  readonly jitter?: Jitter | undefined;
}

const SIMPLE_JITTERS = ['none', 'full', 'equal'] as const;
const JITTERS = ['none', 'full', 'equal', 'decorrelated'] as const;

/** A random number clamped into [0, 1], so a faulty source can never produce NaN or a negative delay. */
function unit(random: () => number): number {
  const r = random();
  return r >= 0 ? (r <= 1 ? r : 1) : 0;
}

function jittered(delay: number, jitter: SimpleJitter, random: () => number): number {
  // Jitter of an unbounded delay is still unbounded (Infinity × 0 would be NaN).
  if (jitter === 'none' || delay === 0 || delay === Infinity) return delay;
  if (jitter === 'full') return unit(random) * delay;
  const half = delay / 2;
  const value = half + unit(random) * half;
  // Two rounded halves can sum one ulp above `delay` (seen with subnormal delays): never exceed it.
  return value < delay ? value : delay;
}

function describe<Kind extends string, O>(fn: Backoff, kind: Kind, options: O): DescribedBackoff<Kind, O> {
  return Object.assign(fn, { kind, options: Object.freeze(options) });
}

/**
 * Waits the same time before every retry.
 *
 * @example
 * ```ts
 * createRetry({ backoff: constantBackoff(250, { jitter: 'equal' }) }); // 125–250 ms each time
 * ```
 */
export function constantBackoff(
  delayMs: number,
  options?: ConstantBackoffOptions,
): DescribedBackoff<'constant', { delayMs: number; jitter: SimpleJitter }> {
  const owner = 'constantBackoff';
  checkNumber(owner, 'delayMs', delayMs, { min: 0, max: MAX_TIMER_MS });
  options = readOptions(owner, options, ['jitter']);
  const jitter = checkOneOf(owner, 'jitter', or(options?.jitter, 'none'), SIMPLE_JITTERS);
  const fn: Backoff = (_attempt, _previous, random) => jittered(delayMs, jitter, random);
  return describe(fn, 'constant', { delayMs, jitter });
}

/**
 * Waits `initialMs`, then `stepMs` more for each further retry, up to `maxMs`.
 *
 * @example
 * ```ts
 * linearBackoff({ initialMs: 100, stepMs: 200, maxMs: 1_000 }); // 100, 300, 500, ... 1000
 * ```
 */
export function linearBackoff(
  options?: LinearBackoffOptions,
): DescribedBackoff<'linear', { initialMs: number; stepMs: number; maxMs: number; jitter: SimpleJitter }> {
  const owner = 'linearBackoff';
  options = readOptions(owner, options, ['initialMs', 'stepMs', 'maxMs', 'jitter']);
  const maxMs = checkNumber(owner, 'maxMs', or(options?.maxMs, Infinity), { min: 0, allowInfinity: true });
  const initialMs = checkNumber(owner, 'initialMs', or(options?.initialMs, Math.min(100, maxMs)), { min: 0, max: maxMs });
  const stepMs = checkNumber(owner, 'stepMs', or(options?.stepMs, initialMs), { min: 0 });
  const jitter = checkOneOf(owner, 'jitter', or(options?.jitter, 'none'), SIMPLE_JITTERS);
  const fn: Backoff = (attempt, _previous, random) => {
    const retries = attempt > 1 ? attempt - 1 : 0;
    const nominal = initialMs + stepMs * retries;
    return jittered(nominal < maxMs ? nominal : maxMs, jitter, random);
  };
  return describe(fn, 'linear', { initialMs, stepMs, maxMs, jitter });
}

/**
 * Waits `initialMs × multiplier^(attempt − 1)`, capped at `maxMs`, then applies `jitter`.
 *
 * @example
 * ```ts
 * exponentialBackoff({ initialMs: 100, maxMs: 5_000, multiplier: 2, jitter: 'none' }); // 100, 200, 400, ...
 * ```
 */
export function exponentialBackoff(
  options?: ExponentialBackoffOptions,
): DescribedBackoff<'exponential', { initialMs: number; maxMs: number; multiplier: number; jitter: Jitter }> {
  const owner = 'exponentialBackoff';
  options = readOptions(owner, options, ['initialMs', 'maxMs', 'multiplier', 'jitter']);
  const maxMs = checkNumber(owner, 'maxMs', or(options?.maxMs, 30_000), { min: 0, max: MAX_TIMER_MS });
  const initialMs = checkNumber(owner, 'initialMs', or(options?.initialMs, Math.min(100, maxMs)), { min: 0, max: maxMs });
  const multiplier = checkNumber(owner, 'multiplier', or(options?.multiplier, 2), { min: 1, max: 1000 });
  const jitter = checkOneOf(owner, 'jitter', or(options?.jitter, 'full'), JITTERS);
  let fn: Backoff;
  if (jitter === 'decorrelated') {
    fn = (_attempt, previousDelayMs, random) => {
      // AWS "decorrelated jitter": next = random between initialMs and 3 × the previous delay.
      const previous = previousDelayMs > initialMs ? previousDelayMs : initialMs;
      const next = initialMs + unit(random) * (previous * 3 - initialMs);
      return next < maxMs ? next : maxMs;
    };
  } else {
    fn = (attempt, _previous, random) => {
      if (initialMs === 0) return 0;
      const retries = attempt > 1 ? attempt - 1 : 0;
      // Overflows to Infinity for huge attempts, which the cap turns into maxMs.
      const nominal = initialMs * multiplier ** retries;
      return jittered(nominal < maxMs ? nominal : maxMs, jitter, random);
    };
  }
  return describe(fn, 'exponential', { initialMs, maxMs, multiplier, jitter });
}

/**
 * The first `count` delays a backoff produces, fed its own previous delay as a retry would. Handy
 * for checking a configuration or printing it in docs.
 *
 * @example
 * ```ts
 * backoffDelays(exponentialBackoff({ jitter: 'none' }), 4); // [100, 200, 400, 800]
 * ```
 */
export function backoffDelays(backoff: Backoff, count: number, random: () => number = Math.random): number[] {
  checkInteger('backoffDelays', 'count', count, { min: 0, max: 100_000 });
  const delays: number[] = [];
  let previous = 0;
  for (let attempt = 1; attempt <= count; attempt++) {
    previous = sanitizeDelay(backoff(attempt, previous, random));
    delays.push(previous);
  }
  return delays;
}

/**
 * Whether a backoff made by this module can only ever answer 0: unbounded attempts with it would
 * retry in a loop that never lets a timer (or an abort driven by one) run. @internal
 */
export function neverWaits(backoff: Backoff): boolean {
  const { kind, options } = backoff as Partial<DescribedBackoff<string, Record<string, number>>>;
  if (options === undefined) return false;
  if (kind === 'constant') return options['delayMs'] === 0;
  if (kind === 'linear' || kind === 'exponential') {
    return options['maxMs'] === 0 || (options['initialMs'] === 0 && (kind === 'exponential' || options['stepMs'] === 0));
  }
  return false;
}

/** What the retry does with a backoff's answer: NaN, negatives and non-numbers become 0; Infinity stays. @internal */
export function sanitizeDelay(delay: number): number {
  return typeof delay === 'number' && delay > 0 ? delay : 0;
}
