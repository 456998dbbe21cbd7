import { abortSignalOf, callError, checkClock, checkEvents, checkFunction, readOptions, checkString, deriveContext, earliestDeadline, InvalidOptionsError, isAbortedByCaller, isContextAborted, MAX_TIMER_MS, sleep, toContext, toPromise, trackInstance } from '@x/core';
import type { Clock, EventBus, ExecuteOptions, ExecutionContext, Outcome, Policy, PolicyFn } from '@x/core';
import { constantBackoff, neverWaits, sanitizeDelay } from './backoff.js';
import type { Backoff } from './backoff.js';
import type { RetryBudget } from './budget.js';
import { isBreakerOpen, isRetryableByDefault, matchesAny } from './classify.js';
import type { ErrorMatcher, RetryPredicate } from './classify.js';
import { RetryExhaustedError, UnacceptableResultError } from './errors.js';
import type { RetryGiveUpReason } from './events.js';
import { isMarkedRetryable } from './marks.js';
import { retryPresets } from './presets.js';
import { retryAfterMsOf, validRetryAfter } from './retry-after.js';
import { or } from './options.js';
import { recordStats } from './stats.js';
import type { RetryResult } from './stats.js';

/**
 * Options of {@link createRetry}. Every option is validated at construction.
 *
 * @example
 * ```ts
 * const options: RetryOptions = { maxAttempts: 4, backoff: exponentialBackoff({ maxMs: 2_000 }), retryOn: ['ECONNRESET'] };
 * ```
 */
export interface RetryOptions {
  /** Instance name for events and metric labels. Default `'retry'`. */
  readonly name?: string | undefined;
  /**
   * Calls in total, **the first call included**: 3 means one call and up to two retries; 1 turns
   * retrying off. Default 3. Integer >= 1, or `Infinity` when `maxElapsedMs` is finite.
   */
  readonly maxAttempts?: number | undefined;
  /**
   * Bound on the whole execution, measured from its start: the retry never waits past it (it
   * gives up at once when the next wait would), and attempts see it as their context `deadline`.
   * Default `Infinity`; range > 0.
   */
  readonly maxElapsedMs?: number | undefined;
  /**
   * Wait before each retry: a {@link Backoff} (built-ins: `constantBackoff`, `linearBackoff`,
   * `exponentialBackoff`), a `(attempt) => ms` function, or a number of milliseconds (constant).
   * Default: `retryPresets.default.backoff` (100 ms → 5 s, × 2, equal jitter).
   */
  readonly backoff?: Backoff | number | undefined;
  /** Random source in [0, 1) handed to the backoff for jitter. Default `Math.random`. */
  readonly random?: (() => number) | undefined;
  /**
   * Which failures to retry: a predicate `(error, attempt) => boolean`, or a list of error codes,
   * names and classes (matched on the error and its `cause` chain). Default: every failure except
   * `AbortError`s, `INVALID_OPTIONS` and an inner retry's `RETRY_EXHAUSTED` (see
   * `isRetryableByDefault`). `permanent()` / `retryable()` marks override it; a caller's abort is
   * never retried.
   */
  readonly retryOn?: RetryPredicate | readonly ErrorMatcher[] | undefined;
  /**
   * Retry when a successful value is unacceptable (`true` = retry). When the retry runs out, the
   * `RetryExhaustedError`'s `cause` is an `UnacceptableResultError` holding the last value.
   */
  readonly retryOnResult?: ((value: unknown, attempt: number) => boolean) | undefined;
  /**
   * Milliseconds the failure asks to wait before the next attempt (HTTP 429/503 `Retry-After`,
   * see `parseRetryAfter`), or undefined. Consulted first; when it returns undefined the error's
   * own `retryAfterMs` (rate-limit and breaker rejections) is used. The retry waits at least that
   * long, and gives up at once if that wait would pass the deadline.
   */
  readonly retryAfter?: ((error: unknown) => number | undefined) | undefined;
  /** A budget shared with other retries; see `createRetryBudget`. Default: none. */
  readonly budget?: RetryBudget | undefined;
  /** Default `systemClock`. */
  readonly clock?: Clock | undefined;
  /** Default `defaultEventBus()`. */
  readonly events?: EventBus | undefined;
}

/**
 * Totals of a retry policy since it was created.
 *
 * @example
 * ```ts
 * const { attempts, gaveUp } = retry.stats();
 * console.log(`${attempts[0]} calls, ${attempts[1] ?? 0} first retries, ${gaveUp.exhausted} exhausted`);
 * ```
 */
export interface RetryPolicyStats {
  /** `attempts[i]` counts (i+1)-th attempts made: `attempts[0]` is every call that ran, `attempts[1]` first retries. */
  readonly attempts: readonly number[];
  /** Executions that succeeded after at least one retry. */
  readonly succeededAfterRetry: number;
  /** Executions whose first attempt failed and that then ended in failure, by why the retry stopped. */
  readonly gaveUp: Readonly<Record<RetryGiveUpReason, number>>;
}

/**
 * A retry policy: a core `Policy` whose function receives `ctx.attempt` (1, 2, ...), plus
 * {@link RetryPolicy.executeWithStats}.
 *
 * @example
 * ```ts
 * const retry: RetryPolicy = createRetry({ name: 'search' });
 * const { value, attempts } = await retry.executeWithStats(() => search(query));
 * ```
 */
export interface RetryPolicy extends Policy {
  /**
   * Like `execute`, but resolves with `{ value, attempts, totalDelayMs }`. On failure it rejects
   * with the same error `execute` would; read that execution's stats with `retryStatsOf(error)`
   * (a `RetryExhaustedError` also carries them as fields).
   */
  executeWithStats<T>(fn: PolicyFn<T>, options?: ExecuteOptions): Promise<RetryResult<T>>;
  /**
   * Totals since the policy was created, for dashboards and exporters (`@x/metrics` reads them at
   * scrape time, so counting costs a call one increment and no event).
   */
  stats(): RetryPolicyStats;
}

const PROMISE_THEN = Promise.prototype.then;
const OWNER = 'createRetry';
const KNOWN = [
  'name',
  'maxAttempts',
  'maxElapsedMs',
  'backoff',
  'random',
  'retryOn',
  'retryOnResult',
  'retryAfter',
  'budget',
  'clock',
  'events',
] as const;

const THROW = 0;
const OUTCOME = 1;
const STATS = 2;
type Mode = typeof THROW | typeof OUTCOME | typeof STATS;

const NOT_TIMED = -1;

/** The context of every call made without options (core shares one root for them). */
const ROOT_CONTEXT: ExecutionContext = /* @__PURE__ */ toContext();

const ATTEMPT_FAILED = 'retry.attempt_failed';

function okOutcome<T>(value: T): Outcome<T> {
  return { ok: true, value };
}

function firstAttemptStats<T>(value: T): RetryResult<T> {
  return { value, attempts: 1, totalDelayMs: 0 };
}

/** How a first-attempt value becomes each mode's result (THROW returns it as it is). */
const SETTLE_FIRST: readonly (((value: unknown) => unknown) | undefined)[] = [undefined, okOutcome, firstAttemptStats];

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    ((typeof value === 'object' && value !== null) || typeof value === 'function') &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}

/** State of one execution; only created once its first attempt has failed. */
class Run {
  attempt = 1;
  totalDelayMs = 0;
  previousDelayMs = 0;
  error: unknown;
  value: unknown = undefined;
  reason: RetryGiveUpReason | undefined = undefined;

  constructor(
    readonly start: number,
    /** Where attempts must end: the caller's deadline or `start + maxElapsedMs`, whichever is first. */
    readonly deadline: number | undefined,
    /** Whether `maxElapsedMs` applies, so attempt contexts carry `deadline`. */
    readonly timed: boolean,
    error: unknown,
  ) {
    this.error = error;
  }

  /** Records why the retry stops; returns -1 so a decision can `return run.stop(...)`. */
  stop(reason: RetryGiveUpReason, error: unknown): -1 {
    this.reason = reason;
    this.error = error;
    return -1;
  }
}

/**
 * Ends a run whose context aborted. The caller giving up ends it with their reason; an enclosing
 * timeout that fired is the deadline passing, reported as such with the last failure as `cause`.
 */
function stopAborted(ctx: ExecutionContext, run: Run): -1 {
  if (isAbortedByCaller(ctx)) return run.stop('aborted', (abortSignalOf(ctx) as AbortSignal).reason);
  return run.stop('deadline', run.error);
}

class RetryPolicyImpl implements RetryPolicy {
  readonly name: string;
  readonly #maxAttempts: number;
  readonly #maxElapsedMs: number;
  readonly #backoff: Backoff;
  readonly #random: () => number;
  readonly #retryOn: RetryPredicate | undefined;
  readonly #matchers: readonly ErrorMatcher[] | undefined;
  readonly #retryOnResult: ((value: unknown, attempt: number) => boolean) | undefined;
  readonly #retryAfter: ((error: unknown) => number | undefined) | undefined;
  readonly #budget: RetryBudget | undefined;
  readonly #clock: Clock;
  readonly #events: EventBus;
  /** No `maxElapsedMs`, `retryOnResult` or budget: the first attempt needs no clock, judging or count. */
  readonly #plain: boolean;
  /** First attempts made (a field: the hot path's increment). */
  #firstAttempts = 0;
  /** `#laterAttempts[i]`: how many (i+2)-th attempts were made. */
  readonly #laterAttempts: number[] = [];
  /**
   * The bus version for which the hot path applies (no options that need more, nobody listening
   * for failed attempts); -1 until `#executeSlow` arms it. A listener change moves the version.
   */
  #fastVersion = -1;
  #succeededAfterRetry = 0;
  readonly #gaveUp: Record<RetryGiveUpReason, number> = { exhausted: 0, deadline: 0, budget: 0, not_retryable: 0, aborted: 0 };

  constructor(options: RetryOptions) {
    this.name = checkString(OWNER, 'name', or(options.name, 'retry'));
    this.#maxElapsedMs = checkMaxElapsed(options.maxElapsedMs);
    this.#maxAttempts = checkMaxAttempts(options.maxAttempts, this.#maxElapsedMs);
    this.#backoff = checkBackoff(options.backoff, this.#maxAttempts);
    this.#random = options.random === undefined ? Math.random : checkFunction(OWNER, 'random', options.random);
    const retryOn = checkRetryOn(options.retryOn);
    this.#retryOn = typeof retryOn === 'function' ? retryOn : undefined;
    this.#matchers = typeof retryOn === 'function' ? undefined : retryOn;
    this.#retryOnResult =
      options.retryOnResult === undefined
        ? undefined
        : checkFunction<(value: unknown, attempt: number) => boolean>(OWNER, 'retryOnResult', options.retryOnResult);
    this.#retryAfter =
      options.retryAfter === undefined
        ? undefined
        : checkFunction<(error: unknown) => number | undefined>(OWNER, 'retryAfter', options.retryAfter);
    this.#budget = options.budget === undefined ? undefined : checkBudget(options.budget);
    this.#clock = checkClock(OWNER, options.clock);
    this.#events = checkEvents(OWNER, options.events);
    this.#plain = this.#maxElapsedMs === Infinity && this.#retryOnResult === undefined && this.#budget === undefined;
    // Exporters read `stats()` at scrape time.
    trackInstance(this.#events, 'retry', this.name, this);
  }

  stats(): RetryPolicyStats {
    return {
      attempts: [this.#firstAttempts, ...this.#laterAttempts],
      succeededAfterRetry: this.#succeededAfterRetry,
      gaveUp: { ...this.#gaveUp },
    };
  }

  // The common case: called without options, nothing to time, judge, count or report. It is one
  // comparison against `#fastVersion`, and the function gets the shared root context as it is.
  // A settled first attempt costs the promise `then` returns and one closure that remembers `fn`
  // in case it rejects (measured cheaper than a pool of reusable handler slots, whose stores into
  // long-lived objects cost more than a short-lived closure). Each entry point repeats these few
  // lines rather than sharing a helper that takes the mode, which measured slower.

  execute<T>(fn: PolicyFn<T>, options?: ExecuteOptions): Promise<T> {
    if (options === undefined && this.#fastVersion === this.#events.version) {
      let result: T | PromiseLike<T>;
      this.#firstAttempts++;
      try {
        result = fn(ROOT_CONTEXT);
        // Inside the try: a promise whose own `then` throws is a failed attempt, not a throw.
        if (result instanceof Promise) {
          return (result.then === PROMISE_THEN ? result : toPromise(result)).then(undefined, (error: unknown) => this.#recoverPlain(fn, ROOT_CONTEXT, THROW, error)) as Promise<T>;
        }
      } catch (error) {
        if (typeof fn !== 'function') return this.#badCall(fn, undefined, THROW, true) as never;
        return this.#recoverPlain(fn, ROOT_CONTEXT, THROW, error) as Promise<T>;
      }
      return this.#settleResult(fn, ROOT_CONTEXT, THROW, result, NOT_TIMED, undefined, false, false) as Promise<T>;
    }
    return this.#executeSlow(fn, options, THROW) as Promise<T>;
  }

  executeOutcome<T>(fn: PolicyFn<T>, options?: ExecuteOptions): Promise<Outcome<T>> {
    if (options === undefined && this.#fastVersion === this.#events.version) {
      let result: T | PromiseLike<T>;
      this.#firstAttempts++;
      try {
        result = fn(ROOT_CONTEXT);
        // Inside the try: a promise whose own `then` throws is a failed attempt, not a throw.
        if (result instanceof Promise) {
          return (result.then === PROMISE_THEN ? result : toPromise(result)).then(okOutcome, (error: unknown) => this.#recoverPlain(fn, ROOT_CONTEXT, OUTCOME, error)) as Promise<Outcome<T>>;
        }
      } catch (error) {
        if (typeof fn !== 'function') return this.#badCall(fn, undefined, OUTCOME, true) as never;
        return this.#recoverPlain(fn, ROOT_CONTEXT, OUTCOME, error) as Promise<Outcome<T>>;
      }
      return this.#settleResult(fn, ROOT_CONTEXT, OUTCOME, result, NOT_TIMED, undefined, false, false) as Promise<Outcome<T>>;
    }
    return this.#executeSlow(fn, options, OUTCOME) as Promise<Outcome<T>>;
  }

  executeWithStats<T>(fn: PolicyFn<T>, options?: ExecuteOptions): Promise<RetryResult<T>> {
    if (options === undefined && this.#fastVersion === this.#events.version) {
      let result: T | PromiseLike<T>;
      this.#firstAttempts++;
      try {
        result = fn(ROOT_CONTEXT);
        // Inside the try: a promise whose own `then` throws is a failed attempt, not a throw.
        if (result instanceof Promise) {
          return (result.then === PROMISE_THEN ? result : toPromise(result)).then(firstAttemptStats, (error: unknown) => this.#recoverPlain(fn, ROOT_CONTEXT, STATS, error)) as Promise<RetryResult<T>>;
        }
      } catch (error) {
        if (typeof fn !== 'function') return this.#badCall(fn, undefined, STATS, true) as never;
        return this.#recoverPlain(fn, ROOT_CONTEXT, STATS, error) as Promise<RetryResult<T>>;
      }
      return this.#settleResult(fn, ROOT_CONTEXT, STATS, result, NOT_TIMED, undefined, false, false) as Promise<RetryResult<T>>;
    }
    return this.#executeSlow(fn, options, STATS) as Promise<RetryResult<T>>;
  }

  /**
   * A call with a wrong argument (`fn` not a function, a bad signal or deadline): refused before
   * any attempt, never retried; the first attempt the hot path counted is taken back.
   */
  #badCall(fn: unknown, options: ExecuteOptions | undefined, mode: Mode, counted: boolean): Promise<unknown> | undefined {
    const bad = callError('retry.execute', fn, options);
    if (bad === undefined) return undefined;
    if (counted) this.#firstAttempts--;
    return mode === OUTCOME ? Promise.resolve({ ok: false, error: bad }) : Promise.reject(bad);
  }

  /**
   * Calls the hot path does not take: with options, before it is armed for the bus's current
   * listeners, or when an option or a listener needs more (then `#start`). Contexts that still say
   * attempt 1 and cannot have aborted yet run like the hot path, with their own context.
   */
  #executeSlow(fn: PolicyFn<unknown>, options: ExecuteOptions | undefined, mode: Mode): Promise<unknown> {
    if (typeof fn !== 'function' || options !== undefined) {
      const bad = this.#badCall(fn, options, mode, false);
      if (bad !== undefined) return bad;
    }
    const ctx = toContext(options);
    if (!this.#plain || ctx.attempt !== 1 || isContextAborted(ctx) || this.#attemptsWatched()) return this.#start(fn, ctx, mode);
    // Nothing needs more than the hot path until the bus's listeners change.
    const version = this.#events.version;
    if (options === undefined && version !== undefined) this.#fastVersion = version;
    let result: unknown;
    this.#firstAttempts++;
    try {
      result = fn(ctx);
      if (result instanceof Promise) {
        return (result.then === PROMISE_THEN ? result : toPromise(result)).then(SETTLE_FIRST[mode], (error: unknown) => this.#recoverPlain(fn, ctx, mode, error));
      }
    } catch (error) {
      return this.#recoverPlain(fn, ctx, mode, error);
    }
    return this.#settleResult(fn, ctx, mode, result, NOT_TIMED, ctx.deadline, false, false);
  }

  /**
   * Whether someone listens for failed attempts (then the first attempt is timed). Cached until
   * the bus's listeners change; a bus from an older core has no version and is asked every time.
   */
  #attemptsWatched(): boolean {
    const events = this.#events;
    const version = events.version;
    if (version === undefined || version !== this.#listenVersion) {
      this.#listenVersion = version;
      this.#watched = events.hasListeners(ATTEMPT_FAILED);
    }
    return this.#watched;
  }
  #listenVersion: number | undefined = -1;
  #watched = false;

  /** After a failed first attempt on the common path (no clock was read, no deadline added). */
  #recoverPlain(fn: PolicyFn<unknown>, ctx: ExecutionContext, mode: Mode, error: unknown): Promise<unknown> {
    return this.#recover(fn, ctx, mode, new Run(NOT_TIMED, ctx.deadline, false, error), NOT_TIMED);
  }

  /**
   * The first attempt when an option or a listener needs more than the common path: a budget to
   * count, `maxElapsedMs` to start, `retryOnResult` to judge, a duration to time, an enclosing
   * attempt number to reset, or an aborted caller. Still no async frame: retries happen in
   * `#recover`.
   */
  #start(fn: PolicyFn<unknown>, ctx: ExecutionContext, mode: Mode): Promise<unknown> {
    // A caller that already gave up gets its reason back; the function never starts.
    if (isContextAborted(ctx)) return this.#abortedBeforeStart(ctx, mode);
    const budget = this.#budget;
    if (budget !== undefined) budget.recordCall();
    const events = this.#events;
    const maxElapsedMs = this.#maxElapsedMs;
    const timed = maxElapsedMs !== Infinity;
    const watched = events.hasListeners('retry.attempt_failed');
    const start = timed || watched ? this.#clock.now() : NOT_TIMED;
    let first = ctx;
    let deadline = ctx.deadline;
    if (timed) {
      deadline = earliestDeadline(deadline, start + maxElapsedMs);
      first = deriveContext(ctx, { attempt: 1, deadline });
    } else if (ctx.attempt !== 1) {
      // An enclosing retry's attempt number is not ours.
      first = deriveContext(ctx, { attempt: 1 });
    }

    let result: unknown;
    this.#firstAttempts++;
    try {
      result = fn(first);
    } catch (error) {
      return this.#recover(fn, ctx, mode, new Run(start, deadline, timed, error), watched ? start : NOT_TIMED);
    }
    return this.#settleResult(fn, ctx, mode, result, start, deadline, timed, watched);
  }

  /** Waits for the first attempt's result (promise, thenable or plain value) and judges it. */
  #settleResult(
    fn: PolicyFn<unknown>,
    ctx: ExecutionContext,
    mode: Mode,
    result: unknown,
    start: number,
    deadline: number | undefined,
    timed: boolean,
    watched: boolean,
  ): Promise<unknown> {
    const onValue =
      this.#retryOnResult !== undefined
        ? (value: unknown): unknown => this.#firstValue(fn, ctx, mode, value, start, deadline, timed, watched)
        : SETTLE_FIRST[mode];
    const onFailure = (error: unknown): Promise<unknown> =>
      this.#recover(fn, ctx, mode, new Run(start, deadline, timed, error), watched ? start : NOT_TIMED);
    let thenable: boolean;
    try {
      thenable = isThenable(result);
    } catch (error) {
      // A `then` getter that throws: the attempt failed with that error, as `await` would say.
      return onFailure(error);
    }
    if (!thenable) return Promise.resolve(onValue === undefined ? result : onValue(result));
    // `toPromise` adopts foreign thenables and promises with a replaced `then`; others pass through.
    try {
      return toPromise(result).then(onValue, onFailure);
    } catch (error) {
      return onFailure(error);
    }
  }

  /** A first attempt's value when `retryOnResult` must judge it. */
  #firstValue(
    fn: PolicyFn<unknown>,
    ctx: ExecutionContext,
    mode: Mode,
    value: unknown,
    start: number,
    deadline: number | undefined,
    timed: boolean,
    watched: boolean,
  ): unknown {
    const retryOnResult = this.#retryOnResult;
    if (retryOnResult !== undefined) {
      const run = this.#judgeValue(value, 1, retryOnResult, start, deadline, timed);
      if (run !== undefined) return this.#recover(fn, ctx, mode, run, watched ? start : NOT_TIMED);
    }
    const settle = SETTLE_FIRST[mode];
    return settle === undefined ? value : settle(value);
  }

  #abortedBeforeStart(ctx: ExecutionContext, mode: Mode): Promise<unknown> {
    const reason: unknown = (abortSignalOf(ctx) as AbortSignal).reason;
    if (mode === OUTCOME) return Promise.resolve({ ok: false, error: reason });
    if (mode === STATS) recordStats(reason, { attempts: 0, totalDelayMs: 0 });
    return Promise.reject(reason);
  }

  /** Undefined when the first attempt's value is accepted, else a Run holding the failure. */
  #judgeValue(
    value: unknown,
    attempt: number,
    retryOnResult: (value: unknown, attempt: number) => boolean,
    start: number,
    deadline: number | undefined,
    timed: boolean,
  ): Run | undefined {
    let rejected: boolean;
    try {
      rejected = retryOnResult(value, attempt) === true;
    } catch (thrown) {
      // A throwing predicate is a bug in the caller's code: report it, do not retry it.
      const run = new Run(start, deadline, timed, thrown);
      run.stop('not_retryable', thrown);
      return run;
    }
    return rejected ? new Run(start, deadline, timed, new UnacceptableResultError(value, attempt)) : undefined;
  }

  /** Runs retries after a failed first attempt, then settles the execution in the caller's mode. */
  async #recover(
    fn: PolicyFn<unknown>,
    ctx: ExecutionContext,
    mode: Mode,
    run: Run,
    firstStart: number,
  ): Promise<unknown> {
    const events = this.#events;
    const clock = this.#clock;
    const retryOnResult = this.#retryOnResult;
    this.#attemptFailed(run, firstStart);

    while (run.reason === undefined) {
      const wait = this.#decide(ctx, run);
      if (wait < 0) break;
      if (wait > 0) {
        try {
          await sleep(wait, { signal: abortSignalOf(ctx), clock });
        } catch (reason) {
          // An abort rejects the sleep after clearing its timer; anything else is a broken clock.
          if (isContextAborted(ctx)) stopAborted(ctx, run);
          else run.stop('not_retryable', reason);
          break;
        }
      }
      // An abort during the wait, or from a `retry.scheduled` listener when there was none.
      if (isContextAborted(ctx)) {
        stopAborted(ctx, run);
        break;
      }
      run.totalDelayMs += wait;
      const attempt = ++run.attempt;
      this.#laterAttempts[attempt - 2] = (this.#laterAttempts[attempt - 2] ?? 0) + 1;
      const attemptCtx = run.timed
        ? deriveContext(ctx, { attempt, deadline: run.deadline })
        : deriveContext(ctx, { attempt });
      const attemptStart = events.hasListeners('retry.attempt_failed') ? clock.now() : NOT_TIMED;
      let value: unknown;
      try {
        value = await fn(attemptCtx);
      } catch (error) {
        run.error = error;
        this.#attemptFailed(run, attemptStart);
        continue;
      }
      if (retryOnResult !== undefined) {
        let rejected: boolean;
        try {
          rejected = retryOnResult(value, attempt) === true;
        } catch (thrown) {
          run.stop('not_retryable', thrown);
          this.#attemptFailed(run, attemptStart);
          break;
        }
        if (rejected) {
          run.error = new UnacceptableResultError(value, attempt);
          this.#attemptFailed(run, attemptStart);
          continue;
        }
      }
      run.value = value;
      break;
    }

    if (run.reason === undefined) {
      this.#succeededAfterRetry++;
      if (events.hasListeners('retry.succeeded')) this.#emitSucceeded(run.attempt, run.totalDelayMs);
      if (mode === THROW) return run.value;
      if (mode === OUTCOME) return { ok: true, value: run.value };
      return { value: run.value, attempts: run.attempt, totalDelayMs: run.totalDelayMs };
    }

    const reason = run.reason;
    this.#gaveUp[reason]++;
    if (events.hasListeners('retry.gave_up')) {
      events.emit({
        type: 'retry.gave_up',
        source: 'retry',
        name: this.name,
        time: clock.now(),
        attempts: run.attempt,
        reason,
        error: run.error,
        totalDelayMs: run.totalDelayMs,
      });
    }
    const error =
      reason === 'not_retryable' || reason === 'aborted'
        ? run.error
        : new RetryExhaustedError(this.name, run.attempt, run.totalDelayMs, reason, run.error);
    if (mode === OUTCOME) return { ok: false, error };
    if (mode === STATS) recordStats(error, { attempts: run.attempt, totalDelayMs: run.totalDelayMs });
    throw error;
  }

  /**
   * After a failed attempt: the wait before the next one (>= 0), or -1 with `run.reason` set.
   * Never waits past the deadline: a wait that would reach it gives up now.
   */
  #decide(ctx: ExecutionContext, run: Run): number {
    if (isContextAborted(ctx)) return stopAborted(ctx, run);
    const error = run.error;
    let retryAfterMs: number | undefined;
    let delay: number;
    try {
      retryAfterMs = this.#retryAfterOf(error);
      if (!this.#shouldRetry(error, run.attempt, retryAfterMs)) return run.stop('not_retryable', error);
      if (run.attempt >= this.#maxAttempts) return run.stop('exhausted', error);
      delay = sanitizeDelay(this.#backoff(run.attempt, run.previousDelayMs, this.#random));
    } catch (thrown) {
      return run.stop('not_retryable', thrown);
    }
    run.previousDelayMs = delay;
    const wait = retryAfterMs !== undefined && retryAfterMs > delay ? retryAfterMs : delay;

    const deadline = run.deadline;
    if (deadline !== undefined && this.#clock.now() + wait >= deadline) return run.stop('deadline', error);
    // Timers cannot wait longer than MAX_TIMER_MS (they would fire at once): such a wait, or
    // Infinity ("never"), ends the retry.
    if (wait > MAX_TIMER_MS) return run.stop('exhausted', error);
    const budget = this.#budget;
    if (budget !== undefined && !budget.tryAcquireRetry(this.name)) return run.stop('budget', error);

    const events = this.#events;
    if (events.hasListeners('retry.scheduled')) {
      events.emit({
        type: 'retry.scheduled',
        source: 'retry',
        name: this.name,
        time: this.#clock.now(),
        attempt: run.attempt + 1,
        delayMs: wait,
        retryAfterMs,
        error,
      });
    }
    return wait;
  }

  #retryAfterOf(error: unknown): number | undefined {
    const map = this.#retryAfter;
    if (map !== undefined) {
      const mapped = validRetryAfter(map(error));
      if (mapped !== undefined) return mapped;
    }
    return retryAfterMsOf(error);
  }

  #shouldRetry(error: unknown, attempt: number, retryAfterMs: number | undefined): boolean {
    // `retryOnResult` already judged this value worth another attempt; `retryOn` is about errors.
    if (error instanceof UnacceptableResultError) return true;
    const mark = isMarkedRetryable(error);
    if (mark === false) return false;
    // An open circuit is only worth retrying once it may have closed; without a Retry-After the
    // retry would just burn attempts against it. Nothing overrides this.
    if (isBreakerOpen(error) && retryAfterMs === undefined) return false;
    if (mark === true) return true;
    const retryOn = this.#retryOn;
    if (retryOn !== undefined) return retryOn(error, attempt) === true;
    const matchers = this.#matchers;
    if (matchers !== undefined) return matchesAny(error, matchers);
    return isRetryableByDefault(error);
  }

  #attemptFailed(run: Run, attemptStart: number): void {
    const events = this.#events;
    if (!events.hasListeners('retry.attempt_failed')) return;
    const now = this.#clock.now();
    events.emit({
      type: 'retry.attempt_failed',
      source: 'retry',
      name: this.name,
      time: now,
      attempt: run.attempt,
      error: run.error,
      // A listener that subscribed while the attempt ran finds no start time: report 0.
      durationMs: attemptStart === NOT_TIMED ? 0 : Math.max(0, now - attemptStart),
    });
  }

  #emitSucceeded(attempts: number, totalDelayMs: number): void {
    this.#events.emit({
      type: 'retry.succeeded',
      source: 'retry',
      name: this.name,
      time: this.#clock.now(),
      attempts,
      totalDelayMs,
    });
  }
}

function checkMaxElapsed(value: unknown): number {
  if (value === undefined) return Infinity;
  if (typeof value === 'number' && value > 0) return value; // NaN fails `> 0`
  throw new InvalidOptionsError(OWNER, 'maxElapsedMs', value, 'a number > 0 (Infinity for no bound)');
}

function checkMaxAttempts(value: unknown, maxElapsedMs: number): number {
  const expected = 'an integer >= 1 that counts the first call (3 = 1 call + 2 retries; 1 = no retries)';
  if (value === undefined) return retryPresets.default.maxAttempts;
  if (value === Infinity) {
    if (maxElapsedMs !== Infinity) return Infinity;
    throw new InvalidOptionsError(OWNER, 'maxAttempts', value, `${expected}; Infinity needs a finite maxElapsedMs`);
  }
  if (typeof value === 'number' && Number.isInteger(value) && value >= 1) return value;
  throw new InvalidOptionsError(OWNER, 'maxAttempts', value, `${expected}, or Infinity with a finite maxElapsedMs`);
}

function checkBackoff(value: unknown, maxAttempts: number): Backoff {
  if (value === undefined) return retryPresets.default.backoff;
  let backoff: Backoff | undefined;
  if (typeof value === 'function') backoff = value as Backoff;
  else if (typeof value === 'number' && value >= 0 && value <= MAX_TIMER_MS) backoff = constantBackoff(value);
  if (backoff === undefined) {
    const expected = `a backoff function ((attempt, previousDelayMs, random) => ms) or a number of milliseconds from 0 to ${MAX_TIMER_MS}`;
    throw new InvalidOptionsError(OWNER, 'backoff', value, expected);
  }
  // Unbounded attempts with no wait never yield to timers: aborts and timeouts could not stop them.
  if (maxAttempts === Infinity && neverWaits(backoff)) {
    throw new InvalidOptionsError(OWNER, 'backoff', value, 'a backoff that waits (> 0 ms) when maxAttempts is Infinity');
  }
  return backoff;
}

function checkRetryOn(value: unknown): RetryPredicate | readonly ErrorMatcher[] | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'function') return value as RetryPredicate;
  const expected = 'a function (error, attempt) => boolean, or an array of error codes/names (strings) and classes';
  if (!Array.isArray(value)) throw new InvalidOptionsError(OWNER, 'retryOn', value, expected);
  value.forEach((entry: unknown, i) => {
    if ((typeof entry === 'string' && entry.length > 0) || typeof entry === 'function') return;
    throw new InvalidOptionsError(OWNER, `retryOn[${i}]`, entry, 'a non-empty error code/name or an error class');
  });
  return Object.freeze([...(value as ErrorMatcher[])]);
}

function checkBudget(value: unknown): RetryBudget {
  const budget = value as Partial<RetryBudget> | null;
  if (
    typeof budget !== 'object' ||
    budget === null ||
    typeof budget.recordCall !== 'function' ||
    typeof budget.tryAcquireRetry !== 'function'
  ) {
    throw new InvalidOptionsError(OWNER, 'budget', value, 'a RetryBudget (see createRetryBudget)');
  }
  return budget as RetryBudget;
}

/**
 * Creates a retry policy. `maxAttempts` counts the first call. Each attempt's context carries
 * `attempt` (1, 2, ...) and the deadline; waits are abortable and never pass the caller's
 * deadline or `maxElapsedMs` (the retry gives up at once instead). A caller's abort is never
 * retried and surfaces as the caller's own reason; failures that are not retryable are rethrown
 * as they are; running out of attempts, time or budget rejects with `RetryExhaustedError`
 * (`cause` = the last failure).
 *
 * @example
 * ```ts
 * const retry = createRetry({
 *   name: 'users-api',
 *   maxAttempts: 4,
 *   backoff: exponentialBackoff({ initialMs: 200, maxMs: 5_000, jitter: 'full' }),
 *   retryOn: ['ECONNRESET', 'ETIMEDOUT', 'TIMEOUT', HttpServerError],
 * });
 * const user = await retry.execute(({ signal, attempt }) => getUser(id, { signal }));
 * ```
 */
export function createRetry(options?: RetryOptions): RetryPolicy {
  options = readOptions(OWNER, options, KNOWN);
  return new RetryPolicyImpl(options ?? {});
}
