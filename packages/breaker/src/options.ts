import { checkFunction, checkInteger, checkNumber, checkOneOf, checkString, defaultEventBus, InvalidOptionsError, readOptions, systemClock } from '@x/core';
import type { Clock, EventBus } from '@x/core';
import type { BreakerCounts, BreakerOpenInfo, BreakerSnapshot, BreakerState, BreakerWindowSnapshot } from './types.js';

/**
 * The window that failure-rate and slow-call-rate rules are judged over: the last `size` calls, or
 * the calls of the last `ms` milliseconds (kept in `buckets` slices, default 10).
 */
export type BreakerWindow =
  | { readonly kind: 'count'; readonly size: number }
  | { readonly kind: 'time'; readonly ms: number; readonly buckets?: number | undefined };

/**
 * Options of {@link createBreaker}. Every option is validated at construction; a bad value throws
 * `INVALID_OPTIONS` naming the option, the allowed range and the value.
 *
 * Trip rules (any that is configured can open the circuit): `failureThreshold` (failures in a
 * row), `failureRateThreshold` over `window`, `slowCallMs` + `slowCallRateThreshold` over
 * `window`, and `shouldTrip`. When none of `failureThreshold`, `failureRateThreshold` and
 * `shouldTrip` is given, `failureThreshold: 5` applies.
 */
export interface BreakerOptions {
  /** Instance name for events, errors and stats. Default `'breaker'`. */
  readonly name?: string | undefined;
  /** Time source. Default `systemClock`. */
  readonly clock?: Clock | undefined;
  /** Where events go. Default `defaultEventBus()`. */
  readonly events?: EventBus | undefined;
  /** Open after this many failures in a row. Integer >= 1. */
  readonly failureThreshold?: number | undefined;
  /** Window for rate rules and stats. Default `{ kind: 'count', size: 100 }` when a rate rule is set. */
  readonly window?: BreakerWindow | undefined;
  /** Open when failures ÷ calls in the window reach this. Number in (0, 1]. */
  readonly failureRateThreshold?: number | undefined;
  /** Rate rules wait for this many calls in the window. Default `min(10, size)` / 10. */
  readonly minimumCalls?: number | undefined;
  /** A call taking at least this many ms is slow. Finite number > 0. */
  readonly slowCallMs?: number | undefined;
  /** Open when slow calls ÷ calls in the window reach this. (0, 1]; default 1 when `slowCallMs` is set. */
  readonly slowCallRateThreshold?: number | undefined;
  /** Custom trip rule, asked after each failure and each slow call while closed. */
  readonly shouldTrip?: ((counts: BreakerCounts) => boolean) | undefined;
  /**
   * How long the circuit stays open, in ms: a number, or a function of how many times in a row it
   * has opened (1 for the first time) and of the counts when it opens (failures in a row, window
   * failures and failure rate, the reason). Default 60 000.
   */
  readonly openMs?: number | ((consecutiveOpens: number, info: BreakerOpenInfo) => number) | undefined;
  /** Probe permits in the half-open state. Integer >= 1, default 1. */
  readonly halfOpenMax?: number | undefined;
  /** Successful probes needed to close. Integer >= 1, default 2. */
  readonly successThreshold?: number | undefined;
  /** A probe not settled after this many ms counts as a failure and frees its permit. > 0 or `Infinity`; default 30 000. */
  readonly probeTimeoutMs?: number | undefined;
  /** Limit of running calls; more are rejected with `BREAKER_TOO_MANY_CALLS`. Integer >= 1 or `Infinity` (default). */
  readonly maxConcurrent?: number | undefined;
  /** Which errors count as failures. Default: every error; a caller's own abort never counts. */
  readonly isFailure?: ((error: unknown) => boolean) | undefined;
  /**
   * Which returned values count as failures (an HTTP response with status 503, a `{ ok: false }`
   * result), like Polly's `ShouldHandle` on results or cockatiel's `handleWhenResult`. The caller
   * still gets the value; the breaker counts a failure whose error is a core `FailureResultError`
   * carrying it. A throw from this function counts as a failure too. Default: no value fails.
   */
  readonly isFailureResult?: ((value: unknown) => boolean) | undefined;
  /** State from `toJSON()` of an earlier breaker (for example before a process restart). */
  readonly initialState?: BreakerSnapshot | undefined;
}

/** Validated options with defaults applied. Disabled numeric rules are `Infinity`. */
export interface BreakerConfig {
  readonly name: string;
  readonly clock: Clock;
  readonly events: EventBus;
  readonly failureThreshold: number;
  readonly window: { readonly kind: 'count'; readonly size: number } | { readonly kind: 'time'; readonly ms: number; readonly buckets: number } | undefined;
  readonly failureRateThreshold: number;
  readonly minimumCalls: number;
  readonly slowCallMs: number;
  readonly slowCallRateThreshold: number;
  readonly shouldTrip: ((counts: BreakerCounts) => boolean) | undefined;
  readonly openMs: number | ((consecutiveOpens: number, info: BreakerOpenInfo) => number);
  readonly halfOpenMax: number;
  readonly successThreshold: number;
  readonly probeTimeoutMs: number;
  readonly maxConcurrent: number;
  readonly isFailure: ((error: unknown) => boolean) | undefined;
  readonly isFailureResult: ((value: unknown) => boolean) | undefined;
  readonly initialState: BreakerSnapshot | undefined;
}

const OWNER = 'createBreaker';
/**
 * Open duration when `openMs` is not given, and the fallback when an `openMs` function misbehaves.
 *
 * @example
 * ```ts
 * const ms = Number.isFinite(computed) && computed >= 0 ? computed : DEFAULT_OPEN_MS;
 * ```
 */
export const DEFAULT_OPEN_MS = 60_000;
const DEFAULT_FAILURE_THRESHOLD = 5;
const DEFAULT_WINDOW_SIZE = 100;
const DEFAULT_MINIMUM_CALLS = 10;
const DEFAULT_BUCKETS = 10;
const MAX_WINDOW_SIZE = 1_000_000;
const MAX_BUCKETS = 10_000;

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null;

function checkObject(owner: string, option: string, value: unknown, expected: string): Record<string, unknown> {
  if (!isObject(value) || Array.isArray(value)) throw new InvalidOptionsError(owner, option, value, expected);
  return value;
}

function checkClock(owner: string, value: unknown): Clock {
  const clock = checkObject(owner, 'clock', value, 'a Clock ({ now, setTimeout, clearTimeout })');
  for (const method of ['now', 'setTimeout', 'clearTimeout']) checkFunction(owner, `clock.${method}`, clock[method]);
  return value as Clock;
}

function checkEvents(owner: string, value: unknown): EventBus {
  const bus = checkObject(owner, 'events', value, 'an EventBus ({ on, emit, hasListeners })');
  for (const method of ['on', 'emit', 'hasListeners']) checkFunction(owner, `events.${method}`, bus[method]);
  return value as EventBus;
}

/**
 * Shared by {@link createBreaker} and groups: validates `clock` and `events`, applying defaults.
 *
 * @example
 * ```ts
 * const { clock, events } = resolveClockAndEvents('createBreakerGroup', options);
 * ```
 */
export function resolveClockAndEvents(owner: string, options: { clock?: unknown; events?: unknown }): { clock: Clock; events: EventBus } {
  return {
    clock: options.clock === undefined ? systemClock : checkClock(owner, options.clock),
    events: options.events === undefined ? defaultEventBus() : checkEvents(owner, options.events),
  };
}

/**
 * Validates every option of {@link createBreaker} and applies defaults.
 *
 * @example
 * ```ts
 * const config = resolveOptions({ failureThreshold: 3 }); // config.openMs === 60_000
 * ```
 */
// Every option `createBreaker` knows: a misspelt one (`failureTreshold`) fails instead of being ignored.
const BREAKER_OPTION_KEYS = [
  'name', 'clock', 'events', 'failureThreshold', 'window', 'failureRateThreshold', 'minimumCalls', 'slowCallMs',
  'slowCallRateThreshold', 'shouldTrip', 'openMs', 'halfOpenMax', 'successThreshold', 'probeTimeoutMs',
  'maxConcurrent', 'isFailure', 'isFailureResult', 'initialState',
];

export function resolveOptions(input: unknown): BreakerConfig {
  if (input !== undefined) checkObject(OWNER, 'options', input, 'an options object');
  // Own properties only: a value set on Object.prototype is never an option.
  const options = readOptions(OWNER, input as BreakerOptions | undefined, BREAKER_OPTION_KEYS);
  const { clock, events } = resolveClockAndEvents(OWNER, options);
  const name = options.name === undefined ? 'breaker' : checkString(OWNER, 'name', options.name);

  const failureRule = options.failureThreshold !== undefined || options.failureRateThreshold !== undefined || options.shouldTrip !== undefined;
  const failureThreshold =
    options.failureThreshold !== undefined
      ? checkInteger(OWNER, 'failureThreshold', options.failureThreshold, { min: 1 })
      : failureRule
        ? Infinity
        : DEFAULT_FAILURE_THRESHOLD;
  const failureRateThreshold =
    options.failureRateThreshold === undefined
      ? Infinity
      : checkNumber(OWNER, 'failureRateThreshold', options.failureRateThreshold, { min: 0, max: 1, minExclusive: true });
  const slowCallMs =
    options.slowCallMs === undefined ? Infinity : checkNumber(OWNER, 'slowCallMs', options.slowCallMs, { min: 0, minExclusive: true });
  let slowCallRateThreshold = Infinity;
  if (options.slowCallRateThreshold !== undefined) {
    slowCallRateThreshold = checkNumber(OWNER, 'slowCallRateThreshold', options.slowCallRateThreshold, {
      min: 0,
      max: 1,
      minExclusive: true,
    });
    if (slowCallMs === Infinity) {
      throw new InvalidOptionsError(OWNER, 'slowCallRateThreshold', options.slowCallRateThreshold, 'used together with slowCallMs');
    }
  } else if (slowCallMs !== Infinity) {
    slowCallRateThreshold = 1;
  }

  const needsWindow = failureRateThreshold !== Infinity || slowCallRateThreshold !== Infinity;
  let window: BreakerConfig['window'];
  if (options.window !== undefined) {
    checkObject(OWNER, 'window', options.window, "{ kind: 'count', size } or { kind: 'time', ms, buckets? }");
    const w = readOptions<Record<string, unknown>>(OWNER, options.window as Record<string, unknown>, ['kind', 'size', 'ms', 'buckets']);
    const kind = checkOneOf(OWNER, 'window.kind', w.kind, ['count', 'time'] as const);
    if (kind === 'count') {
      window = { kind, size: checkInteger(OWNER, 'window.size', w.size, { min: 1, max: MAX_WINDOW_SIZE }) };
    } else {
      const ms = checkNumber(OWNER, 'window.ms', w.ms, { min: 0, minExclusive: true });
      const buckets = w.buckets === undefined ? DEFAULT_BUCKETS : checkInteger(OWNER, 'window.buckets', w.buckets, { min: 1, max: MAX_BUCKETS });
      window = { kind, ms, buckets };
    }
  } else if (needsWindow) {
    window = { kind: 'count', size: DEFAULT_WINDOW_SIZE };
  }
  const maxMinimum = window?.kind === 'count' ? window.size : Infinity;
  const minimumCalls =
    options.minimumCalls === undefined
      ? Math.min(DEFAULT_MINIMUM_CALLS, maxMinimum)
      : checkInteger(OWNER, 'minimumCalls', options.minimumCalls, maxMinimum === Infinity ? { min: 1 } : { min: 1, max: maxMinimum });

  const shouldTrip = options.shouldTrip === undefined ? undefined : checkFunction<(c: BreakerCounts) => boolean>(OWNER, 'shouldTrip', options.shouldTrip);
  const openMs =
    options.openMs === undefined
      ? DEFAULT_OPEN_MS
      : typeof options.openMs === 'function'
        ? options.openMs
        : checkNumber(OWNER, 'openMs', options.openMs, { min: 0 });
  const halfOpenMax = options.halfOpenMax === undefined ? 1 : checkInteger(OWNER, 'halfOpenMax', options.halfOpenMax, { min: 1 });
  const successThreshold =
    options.successThreshold === undefined ? 2 : checkInteger(OWNER, 'successThreshold', options.successThreshold, { min: 1 });
  const probeTimeoutMs =
    options.probeTimeoutMs === undefined
      ? 30_000
      : checkNumber(OWNER, 'probeTimeoutMs', options.probeTimeoutMs, { min: 0, minExclusive: true, allowInfinity: true });
  const maxConcurrent =
    options.maxConcurrent === undefined
      ? Infinity
      : checkInteger(OWNER, 'maxConcurrent', options.maxConcurrent, { min: 1, allowInfinity: true });
  const isFailure = options.isFailure === undefined ? undefined : checkFunction<(e: unknown) => boolean>(OWNER, 'isFailure', options.isFailure);
  const isFailureResult =
    options.isFailureResult === undefined ? undefined : checkFunction<(v: unknown) => boolean>(OWNER, 'isFailureResult', options.isFailureResult);
  const initialState = options.initialState === undefined ? undefined : checkSnapshot(options.initialState);

  return {
    name,
    clock,
    events,
    failureThreshold,
    window,
    failureRateThreshold,
    minimumCalls,
    slowCallMs,
    slowCallRateThreshold,
    shouldTrip,
    openMs,
    halfOpenMax,
    successThreshold,
    probeTimeoutMs,
    maxConcurrent,
    isFailure,
    isFailureResult,
    initialState,
  };
}

/**
 * What `breaker.reconfigure()` may change on a live breaker (its state, counts and window are
 * kept). The window, `slowCallMs`, `maxConcurrent` and the callbacks are fixed at creation.
 */
export type BreakerReconfigureOptions = Pick<
  BreakerOptions,
  'failureThreshold' | 'failureRateThreshold' | 'minimumCalls' | 'slowCallRateThreshold' | 'openMs' | 'halfOpenMax' | 'successThreshold' | 'probeTimeoutMs'
>;

const RECONFIGURE_KEYS = ['failureThreshold', 'failureRateThreshold', 'minimumCalls', 'slowCallRateThreshold', 'openMs', 'halfOpenMax', 'successThreshold', 'probeTimeoutMs'];

/**
 * Validates `changes` against a breaker's current config and returns the new config (nothing is
 * applied when an option is invalid: `INVALID_OPTIONS` naming it). Rate rules need the window
 * the breaker was created with; `failureThreshold: Infinity` turns the consecutive rule off.
 *
 * @example
 * ```ts
 * config = reconfigured(config, { failureThreshold: 3, openMs: 10_000 });
 * ```
 */
export function reconfigured(config: BreakerConfig, changes: BreakerReconfigureOptions): BreakerConfig {
  const owner = 'breaker.reconfigure';
  const o = readOptions(owner, changes, RECONFIGURE_KEYS, true);
  const next: { -readonly [K in keyof BreakerConfig]: BreakerConfig[K] } = { ...config };
  if (o.failureThreshold !== undefined) next.failureThreshold = checkInteger(owner, 'failureThreshold', o.failureThreshold, { min: 1, allowInfinity: true });
  const needsWindow = (option: string, value: unknown) => {
    if (config.window === undefined) throw new InvalidOptionsError(owner, option, value, 'left unset: this breaker was created without a window');
  };
  if (o.failureRateThreshold !== undefined) {
    needsWindow('failureRateThreshold', o.failureRateThreshold);
    next.failureRateThreshold = checkNumber(owner, 'failureRateThreshold', o.failureRateThreshold, { min: 0, max: 1, minExclusive: true });
  }
  if (o.minimumCalls !== undefined) {
    needsWindow('minimumCalls', o.minimumCalls);
    const max = config.window?.kind === 'count' ? config.window.size : undefined;
    next.minimumCalls = checkInteger(owner, 'minimumCalls', o.minimumCalls, max === undefined ? { min: 1 } : { min: 1, max });
  }
  if (o.slowCallRateThreshold !== undefined) {
    if (config.slowCallMs === Infinity) throw new InvalidOptionsError(owner, 'slowCallRateThreshold', o.slowCallRateThreshold, 'left unset: this breaker was created without slowCallMs');
    next.slowCallRateThreshold = checkNumber(owner, 'slowCallRateThreshold', o.slowCallRateThreshold, { min: 0, max: 1, minExclusive: true });
  }
  if (o.openMs !== undefined) next.openMs = typeof o.openMs === 'function' ? o.openMs : checkNumber(owner, 'openMs', o.openMs, { min: 0 });
  if (o.halfOpenMax !== undefined) next.halfOpenMax = checkInteger(owner, 'halfOpenMax', o.halfOpenMax, { min: 1 });
  if (o.successThreshold !== undefined) next.successThreshold = checkInteger(owner, 'successThreshold', o.successThreshold, { min: 1 });
  if (o.probeTimeoutMs !== undefined) {
    next.probeTimeoutMs = checkNumber(owner, 'probeTimeoutMs', o.probeTimeoutMs, { min: 0, minExclusive: true, allowInfinity: true });
  }
  return next;
}

const STATES: readonly BreakerState[] = ['closed', 'open', 'half_open', 'isolated'];

function checkCount(option: string, value: unknown): number {
  return checkInteger(OWNER, `initialState.${option}`, value, { min: 0 });
}

function checkTimeOrNull(option: string, value: unknown): number | null {
  return value === null ? null : checkNumber(OWNER, `initialState.${option}`, value);
}

/** Validates a snapshot given as `initialState`. */
function checkSnapshot(value: unknown): BreakerSnapshot {
  const s = checkObject(OWNER, 'initialState', value, 'a snapshot from breaker.toJSON()');
  checkOneOf(OWNER, 'initialState.version', s.version, [1] as const);
  const state = checkOneOf(OWNER, 'initialState.state', s.state, STATES);
  const openUntil = checkTimeOrNull('openUntil', s.openUntil);
  if (state === 'open' && openUntil === null) {
    throw new InvalidOptionsError(OWNER, 'initialState.openUntil', s.openUntil, "a finite number when state is 'open'");
  }
  return {
    version: 1,
    state,
    openUntil,
    consecutiveOpens: checkCount('consecutiveOpens', s.consecutiveOpens),
    consecutiveFailures: checkCount('consecutiveFailures', s.consecutiveFailures),
    consecutiveSuccesses: checkCount('consecutiveSuccesses', s.consecutiveSuccesses),
    halfOpenSuccesses: checkCount('halfOpenSuccesses', s.halfOpenSuccesses),
    lastStateChangeAt: checkNumber(OWNER, 'initialState.lastStateChangeAt', s.lastStateChangeAt),
    lastFailureAt: checkTimeOrNull('lastFailureAt', s.lastFailureAt),
    window: s.window === null ? null : checkWindowSnapshot(s.window),
  };
}

function checkWindowSnapshot(value: unknown): BreakerWindowSnapshot {
  const w = checkObject(OWNER, 'initialState.window', value, 'a window snapshot or null');
  const kind = checkOneOf(OWNER, 'initialState.window.kind', w.kind, ['count', 'time'] as const);
  if (kind === 'count') {
    const outcomes = w.outcomes;
    if (!Array.isArray(outcomes)) throw new InvalidOptionsError(OWNER, 'initialState.window.outcomes', outcomes, 'an array of outcome codes');
    outcomes.forEach((code, i) => checkInteger(OWNER, `initialState.window.outcomes[${i}]`, code, { min: 0, max: 3 }));
    return { kind, outcomes: outcomes as number[] };
  }
  const bucketMs = checkNumber(OWNER, 'initialState.window.bucketMs', w.bucketMs, { min: 0, minExclusive: true });
  const buckets = w.buckets;
  if (!Array.isArray(buckets)) throw new InvalidOptionsError(OWNER, 'initialState.window.buckets', buckets, 'an array of buckets');
  const checked = buckets.map((bucket: unknown, i) => {
    const at = `initialState.window.buckets[${i}]`;
    if (!Array.isArray(bucket) || bucket.length !== 4) {
      throw new InvalidOptionsError(OWNER, at, bucket, '[bucketIndex, calls, failures, slowCalls]');
    }
    const index = checkInteger(OWNER, `${at}[0]`, bucket[0]);
    const calls = checkInteger(OWNER, `${at}[1]`, bucket[1], { min: 0 });
    const failures = checkInteger(OWNER, `${at}[2]`, bucket[2], { min: 0, max: calls });
    const slow = checkInteger(OWNER, `${at}[3]`, bucket[3], { min: 0, max: calls });
    return [index, calls, failures, slow] as const;
  });
  return { kind, bucketMs, buckets: checked };
}
