import { abortSignalOf, callError, FailureResultError, invoke, isAbortError, isAbortedByCaller, isContextAborted, MAX_TIMER_MS, toContext, toOutcome, toPromise, trackInstance, watchAbort, unwatchAbort } from '@x/core';
import { InvalidOptionsError } from '@x/core';
import type { Clock, EventBus, ExecuteOptions, ExecutionContext, Outcome, PolicyFn, TimerHandle, XEvent } from '@x/core';
import { BreakerProbeTimeoutError, openRejection, tooManyRejection } from './errors.js';
import type { BreakerOpenError, BreakerTooManyCallsError } from './errors.js';
import type { BreakerIgnoreReason, BreakerTransitionReason } from './events.js';
import { DEFAULT_OPEN_MS, reconfigured, resolveOptions } from './options.js';
import type { BreakerConfig, BreakerOptions, BreakerReconfigureOptions } from './options.js';
import type {
  Breaker,
  BreakerCounts,
  BreakerIsolation,
  BreakerOpenInfo,
  BreakerPermit,
  BreakerSnapshot,
  BreakerState,
  BreakerStats,
  WaitUntilReadyOptions,
} from './types.js';
import { CountWindow, FAILURE_BIT, SLOW_BIT, TimeWindow } from './window.js';
import type { OutcomeWindow } from './window.js';

// The stored state. "isolated" is an overlay on top of it (see `#isolated`).
const CLOSED = 0;
const OPEN = 1;
const HALF_OPEN = 2;
type Base = typeof CLOSED | typeof OPEN | typeof HALF_OPEN;
const BASE_NAMES = ['closed', 'open', 'half_open'] as const;

// Outcome kinds.
const OK = 0;
const FAIL = 1;
const IGNORE = 2;
/** A failure while an enclosing timeout had aborted the call: counted as a timeout whatever the error says. */
const FAIL_TIMED_OUT = 3;
type Kind = typeof OK | typeof FAIL | typeof IGNORE | typeof FAIL_TIMED_OUT;

type Rejection = BreakerOpenError | BreakerTooManyCallsError;

// Manual modes layered on a closed circuit (see `#mode`).
const NORMAL = 0;
const DISABLED = 1;
const METRICS_ONLY = 2;
type Mode = typeof NORMAL | typeof DISABLED | typeof METRICS_ONLY;

/** Stands for the work of a `waitUntilReady` (which has no function) when its signal is checked. */
const WAIT_FN = (): void => {};

/** The permit of a disabled breaker: nothing is recorded. */
const NO_OP_PERMIT: BreakerPermit = { success() {}, failure() {}, ignore() {} };

const PROMISE_THEN = Promise.prototype.then;

/** The context of every call made without options (core shares one root for them). */
const ROOT_CONTEXT: ExecutionContext = /* @__PURE__ */ toContext();


/** A property of a thrown value; a getter that throws reads as undefined. */
function fieldOf(error: unknown, key: string): unknown {
  if (typeof error !== 'object' || error === null) return undefined;
  try {
    return (error as Record<string, unknown>)[key];
  } catch {
    return undefined;
  }
}

const isTimeoutError = (error: unknown): boolean => fieldOf(error, 'code') === 'TIMEOUT';

/**
 * The settlement of a call whose promise went back to the caller is recorded on a side branch:
 * nobody could see an error thrown there except as an unhandled rejection. Only a broken
 * dependency (a clock that throws) gets here; the call is left uncounted and the error reported.
 */
function reportSettleError(error: unknown): void {
  console.error('@x/breaker: recording a settled call failed; it is not counted', error);
}

/**
 * What `Permit` needs from its breaker. The breaker hands these out as closures made once per
 * breaker, so its state stays private without module-level side effects (which would defeat
 * tree-shaking).
 */
interface PermitOwner {
  settle(permit: Permit, kind: Kind, error: unknown, reason: BreakerIgnoreReason | undefined): void;
  classify(error: unknown): Kind;
}

/** Breaker internals a group needs for the breakers it creates. */
export interface BreakerInternals {
  /** Calls admitted and not settled. */
  running(): number;
  /** Stops reporting the breaker to exporters through `bus.tracked()`. */
  untrack(): void;
  /** When the state last changed (clock time), applying transitions that time alone caused. */
  lastStateChangeAt(): number;
}

/**
 * One admitted call that is settled from outside: a two-step permit, or the lease of a half-open
 * probe run by `execute`. Probe permits form a FIFO list; since every lease lasts `probeTimeoutMs`
 * and time only moves forward, the head always expires first.
 */
class Permit implements BreakerPermit {
  settled = false;
  prev: Permit | undefined = undefined;
  next: Permit | undefined = undefined;

  constructor(
    readonly owner: PermitOwner,
    readonly gen: number,
    /** Clock time at admission, or -1 when nobody needed the duration. */
    readonly start: number,
    readonly probe: boolean,
    readonly expiresAt: number,
    /**
     * Two-step permits hold a running slot until settled, or (probes) until their lease ends or
     * the state moves on; `execute` manages the slots of its own calls.
     */
    public holdsSlot: boolean,
  ) {}

  success(): void {
    this.owner.settle(this, OK, undefined, undefined);
  }

  failure(error: unknown): void {
    if (this.settled) return;
    const kind = this.owner.classify(error);
    this.owner.settle(this, kind, error, kind === IGNORE ? 'not_failure' : undefined);
  }

  ignore(): void {
    this.owner.settle(this, IGNORE, undefined, 'released');
  }
}

/** A pending `waitUntilReady`; it is its own abort listener, so waiting allocates no closure. */
class ReadyWaiter {
  declare resolve: () => void;
  declare reject: (reason: unknown) => void;

  constructor(
    readonly drop: (waiter: ReadyWaiter) => void,
    readonly signal: AbortSignal | undefined,
  ) {}

  handleEvent(): void {
    this.drop(this);
    this.reject((this.signal as AbortSignal).reason);
  }
}

class IsolationHandle implements BreakerIsolation {
  #release: (() => void) | undefined;
  constructor(release: () => void) {
    this.#release = release;
  }
  release(): void {
    const release = this.#release;
    this.#release = undefined;
    release?.();
  }
}

class BreakerImpl implements Breaker {
  readonly name: string;
  #config: BreakerConfig;
  readonly #clock: Clock;
  readonly #events: EventBus;
  readonly #maxConcurrent: number;
  readonly #slowCallMs: number;
  readonly #window: OutcomeWindow | undefined;
  /** Durations are needed whatever the listeners: slow-call detection or a time window. */
  readonly #alwaysTimed: boolean;
  /** Removes this breaker from the bus's tracked instances (scrape-time gauges). */
  readonly #untrack: () => void;

  // State. `#gen` changes on every transition; outcomes from another generation change nothing.
  #base: Base = CLOSED;
  /** `disable()` / `metricsOnly()`: overlays on a closed circuit, ended by any other manual control. */
  #mode: Mode = NORMAL;
  /** The failure that opened the circuit, the `cause` of its rejections (see `#open`). */
  #openCause: unknown = undefined;
  #isolated = false;
  #forced = false;
  #handles = 0;
  #isolationEpoch = 0;
  #gen = 0;
  /** Outcomes of generations before this one are not counted at all (set by `reset()`). */
  #countedSince = 0;
  /**
   * Set while user code runs in the middle of recording an outcome or a transition (`openMs`, an
   * event listener): a state read from there sees the state as it is and applies no lazy
   * transition of its own, which would interleave with the one under way.
   */
  #inUserCode = false;
  /** True exactly when the state is closed and not isolated: the one branch of the hot path. */
  #closedFast = true;
  #openUntil = 0;
  #lastOpenMs = 0;
  #consecutiveOpens = 0;
  #consecutiveFailures = 0;
  #consecutiveSuccesses = 0;
  #halfOpenSuccesses = 0;
  #activeProbes = 0;
  #probeHead: Permit | undefined = undefined;
  #probeTail: Permit | undefined = undefined;
  #running = 0;
  #lastStateChangeAt: number;

  // Totals.
  #requests = 0;
  #successes = 0;
  #failures = 0;
  #timeouts = 0;
  #rejected = 0;
  #ignored = 0;
  #slowCalls = 0;
  #lastError: unknown = undefined;
  #lastFailureAt: number | undefined = undefined;

  /**
   * The bus version for which the hot path applies (closed, not isolated, nothing to time, the
   * current generation's handlers made), or -1 when it does not: bus versions start at 0, and a
   * small integer keeps the field unboxed. Set by `#armFast`, cleared on every transition; a
   * listener change moves the bus version, so it stops matching by itself.
   */
  #fastVersion = -1;
  // Per-generation settlement handlers of the hot path, made by `#makeHandlers` (in the
  // constructor, then whenever the hot path is armed).
  #onValue!: (value: unknown) => void;
  #onError!: (error: unknown) => void;
  #onValueOutcome!: (value: unknown) => Outcome<unknown>;
  #onErrorOutcome!: (error: unknown) => Outcome<unknown>;

  // waitUntilReady.
  #waiters: Set<ReadyWaiter> | undefined = undefined;
  #wakeTimer: TimerHandle | undefined = undefined;
  #wakeAt = Infinity;
  #notifying = false;

  readonly #permitOwner: PermitOwner = {
    settle: (permit, kind, error, reason) => this.#settlePermit(permit, kind, error, reason),
    classify: (error) => this.#classify(error),
  };
  readonly #dropWaiterFn = (waiter: ReadyWaiter): void => this.#dropWaiter(waiter);

  constructor(config: BreakerConfig, expose?: (internals: BreakerInternals) => void) {
    this.#config = config;
    this.name = config.name;
    this.#clock = config.clock;
    this.#events = config.events;
    this.#maxConcurrent = config.maxConcurrent;
    this.#slowCallMs = config.slowCallMs;
    const w = config.window;
    this.#window = w === undefined ? undefined : w.kind === 'count' ? new CountWindow(w.size) : new TimeWindow(w.ms, w.buckets);
    this.#alwaysTimed = config.slowCallMs !== Infinity || w?.kind === 'time';
    this.#lastStateChangeAt = config.clock.now();
    if (config.initialState !== undefined) this.#restore(config.initialState);
    this.#makeHandlers();
    // Exporters read `state` at scrape time from the bus's tracked instances (held weakly).
    // A bus from an older copy of core may not track: then there is simply no gauge.
    const events = config.events;
    this.#untrack = trackInstance(events, 'breaker', this.name, this);
    expose?.({
      running: () => this.#running,
      untrack: () => this.#untrack(),
      lastStateChangeAt: () => {
        if (!this.#closedFast) this.#refresh(this.#clock.now());
        return this.#lastStateChangeAt;
      },
    });
  }

  // ---------------------------------------------------------------------------------------------
  // Policy

  // The hot path (closed, no options, nothing to time) is one comparison against `#fastVersion`
  // and small enough for the engine to inline into the caller; everything else goes through
  // `#executeSlow`, which re-arms the hot path when it applies again.
  execute<T>(fn: PolicyFn<T>, options?: ExecuteOptions): Promise<T> {
    if (options === undefined && this.#fastVersion === this.#events.version && this.#running < this.#maxConcurrent) {
      // Without options nothing can abort the context, so settling needs no per-call data: the
      // generation's preallocated handlers are attached instead of creating closures.
      this.#requests++;
      this.#running++;
      let promise: Promise<T>;
      try {
        const result = fn(ROOT_CONTEXT);
        // The standard-`then` check inline: the common case pays one comparison, no call.
        promise = result instanceof Promise && result.then === PROMISE_THEN ? result : toPromise(result);
        // The caller gets `fn`'s own promise; the settlement is recorded on a side branch whose
        // reaction was registered first, so it runs before the caller's and the state is current
        // when the caller resumes. Returning a second promise chained behind the first would cost
        // every caller about 0.07× of a bare call more (bench/README.md, "@x strict").
        promise.then(this.#onValue, this.#onError);
      } catch (error) {
        this.#running--;
        // Not a function: the caller's bug, not the dependency's failure (checked only here, off the hot path).
        if (typeof fn !== 'function') return this.#badCall('breaker.execute', fn, undefined, false) as Promise<T>;
        this.#settleError(error, undefined, this.#gen, -1, undefined);
        return Promise.reject(error);
      }
      return promise;
    }
    return this.#executeSlow(fn, options);
  }

  /** A call with a wrong argument: refused before anything is counted (the request counted on the hot path is taken back). */
  #badCall(owner: string, fn: unknown, options: ExecuteOptions | undefined, outcome: boolean, fromHotPath = true): Promise<unknown> | undefined {
    const bad = callError(owner, fn, options);
    if (bad === undefined) return undefined;
    if (fromHotPath) this.#requests--;
    return outcome ? Promise.resolve({ ok: false, error: bad }) : Promise.reject(bad);
  }

  executeOutcome<T>(fn: PolicyFn<T>, options?: ExecuteOptions): Promise<Outcome<T>> {
    if (options === undefined && this.#fastVersion === this.#events.version && this.#running < this.#maxConcurrent) {
      this.#requests++;
      this.#running++;
      try {
        const result = fn(ROOT_CONTEXT);
        return (result instanceof Promise && result.then === PROMISE_THEN ? result : toPromise(result)).then(
          this.#onValueOutcome,
          this.#onErrorOutcome,
        ) as Promise<Outcome<T>>;
      } catch (error) {
        this.#running--;
        if (typeof fn !== 'function') return this.#badCall('breaker.executeOutcome', fn, undefined, true) as Promise<Outcome<T>>;
        this.#settleError(error, undefined, this.#gen, -1, undefined);
        return Promise.resolve({ ok: false, error });
      }
    }
    if (!this.#closedFast && options === undefined && typeof fn === 'function' && this.#mode === NORMAL) {
      // Without options the caller cannot have aborted: refuse without building a context.
      if (this.#isolated) {
        // Isolation ends only by a manual control: no clock is needed to refuse.
        const rejection = openRejection(this.name, 'isolated', 'open', Infinity);
        this.#countRejection(rejection, -1);
        return Promise.resolve({ ok: false, error: rejection });
      }
      // The exact time: `retryAfterMs` is a duration, and a reading cached for the loop turn would
      // overstate it by the cache's age (up to tens of ms under load).
      const now = this.#clock.now();
      if (this.#base === OPEN && now < this.#openUntil) {
        // The open-circuit rejection: two small objects, no throw.
        const rejection = openRejection(this.name, 'open', 'open', this.#openUntil - now, this.#openCause);
        this.#countRejection(rejection, now);
        return Promise.resolve({ ok: false, error: rejection });
      }
      return this.#executeOutcomeSlow(fn, options, now);
    }
    return this.#executeOutcomeSlow(fn, options, -1);
  }

  #executeSlow<T>(fn: PolicyFn<T>, options: ExecuteOptions | undefined): Promise<T> {
    if (typeof fn !== 'function' || options !== undefined) {
      const bad = this.#badCall('breaker.execute', fn, options, false, false);
      if (bad !== undefined) return bad as Promise<T>;
    }
    if (this.#mode === DISABLED) return invoke(fn, toContext(options));
    if (options === undefined && this.#armFast()) return this.execute(fn);
    if (this.#closedFast) {
      const ctx = toContext(options);
      if (isContextAborted(ctx)) return Promise.reject(abortSignalOf(ctx)?.reason);
      if (this.#running >= this.#maxConcurrent) return Promise.reject(this.#rejectTooMany(-1));
      this.#requests++;
      return this.#track(fn, ctx, this.#gen, this.#startTime(), undefined);
    }
    // A caller that already gave up gets its own reason, whatever the state; nothing is counted.
    const ctx = toContext(options);
    if (isContextAborted(ctx)) return Promise.reject(abortSignalOf(ctx)?.reason);
    const now = this.#clock.now();
    const rejection = this.#rejection(now);
    if (rejection !== null) {
      this.#countRejection(rejection, now);
      return Promise.reject(rejection);
    }
    this.#requests++;
    const permit = this.#base === HALF_OPEN ? this.#grantProbe(now, false) : undefined;
    return this.#track(fn, ctx, this.#gen, now, permit);
  }

  /** `now` is -1 when the clock has not been read yet (closed state). */
  #executeOutcomeSlow<T>(fn: PolicyFn<T>, options: ExecuteOptions | undefined, now: number): Promise<Outcome<T>> {
    if (typeof fn !== 'function' || options !== undefined) {
      const bad = this.#badCall('breaker.executeOutcome', fn, options, true, false);
      if (bad !== undefined) return bad as Promise<Outcome<T>>;
    }
    if (this.#mode === DISABLED) return toOutcome(invoke(fn, toContext(options)));
    if (options === undefined && this.#armFast()) return this.executeOutcome(fn);
    if (this.#closedFast) {
      const ctx = toContext(options);
      if (isContextAborted(ctx)) return Promise.resolve({ ok: false, error: abortSignalOf(ctx)?.reason });
      if (this.#running >= this.#maxConcurrent) return Promise.resolve({ ok: false, error: this.#rejectTooMany(-1) });
      this.#requests++;
      return this.#trackOutcome(fn, ctx, this.#gen, this.#startTime(), undefined);
    }
    const ctx = toContext(options);
    if (isContextAborted(ctx)) return Promise.resolve({ ok: false, error: abortSignalOf(ctx)?.reason });
    if (now < 0) now = this.#clock.now();
    const rejection = this.#rejection(now);
    if (rejection !== null) {
      this.#countRejection(rejection, now);
      return Promise.resolve({ ok: false, error: rejection });
    }
    this.#requests++;
    const permit = this.#base === HALF_OPEN ? this.#grantProbe(now, false) : undefined;
    return this.#trackOutcome(fn, ctx, this.#gen, now, permit);
  }

  /**
   * Settlement handlers shared by every untimed closed call of one generation. They are rebuilt
   * only when the generation changes, so the hot path allocates nothing but the `then` promise.
   */
  #makeHandlers(): void {
    const gen = this.#gen;
    // Side-branch handlers for `execute`: they return nothing and never throw (user callbacks are
    // guarded inside, a broken clock here), so the branch's own promise never rejects.
    this.#onValue = () => {
      this.#running--;
      try {
        this.#closedSuccess(gen, -1);
      } catch (internal) {
        reportSettleError(internal);
      }
    };
    this.#onError = (error) => {
      this.#running--;
      try {
        this.#settleError(error, undefined, gen, -1, undefined);
      } catch (internal) {
        reportSettleError(internal);
      }
    };
    this.#onValueOutcome = (value) => {
      this.#running--;
      this.#closedSuccess(gen, -1);
      return { ok: true, value };
    };
    this.#onErrorOutcome = (error) => {
      this.#running--;
      this.#settleError(error, undefined, gen, -1, undefined);
      return { ok: false, error };
    };
  }

  // Calls that need per-call data (a start time, a probe permit, or a context that can abort)
  // capture it in two closures: cheaper than an async frame (measured on Node 20).
  #track<T>(fn: PolicyFn<T>, ctx: ExecutionContext, gen: number, start: number, permit: Permit | undefined): Promise<T> {
    this.#running++;
    let promise: Promise<T>;
    try {
      promise = toPromise(fn(ctx));
      // A side branch, as on the hot path: the caller gets `fn`'s promise.
      promise.then(
        (value) => {
          this.#running--;
          try {
            this.#settleValue(gen, start, permit, value);
          } catch (internal) {
            reportSettleError(internal);
          }
        },
        (error: unknown) => {
          this.#running--;
          try {
            this.#settleError(error, ctx, gen, start, permit);
          } catch (internal) {
            reportSettleError(internal);
          }
        },
      );
    } catch (error) {
      this.#running--;
      this.#settleError(error, ctx, gen, start, permit);
      return Promise.reject(error);
    }
    return promise;
  }

  #trackOutcome<T>(fn: PolicyFn<T>, ctx: ExecutionContext, gen: number, start: number, permit: Permit | undefined): Promise<Outcome<T>> {
    this.#running++;
    try {
      return toPromise(fn(ctx)).then(
        (value): Outcome<T> => {
          this.#running--;
          this.#settleValue(gen, start, permit, value);
          return { ok: true, value };
        },
        (error: unknown): Outcome<T> => {
          this.#running--;
          this.#settleError(error, ctx, gen, start, permit);
          return { ok: false, error };
        },
      );
    } catch (error) {
      this.#running--;
      this.#settleError(error, ctx, gen, start, permit);
      return Promise.resolve({ ok: false, error });
    }
  }

  #settleValue(gen: number, start: number, permit: Permit | undefined, value: unknown): void {
    const judge = this.#config.isFailureResult;
    if (judge !== undefined) {
      let error: unknown;
      try {
        if (judge(value)) error = new FailureResultError(this.name, value);
      } catch (thrown) {
        error = thrown; // a broken judge must not hide a failing dependency
      }
      if (error !== undefined) {
        // A failed result is a failure whatever `isFailure` says of errors.
        if (permit === undefined) this.#apply(FAIL, gen, start, -1, false, error, undefined);
        else this.#settlePermit(permit, FAIL, error, undefined);
        return;
      }
    }
    if (permit === undefined) this.#closedSuccess(gen, start);
    else this.#settlePermit(permit, OK, undefined, undefined);
  }

  /**
   * Arms the hot path when it applies and is not armed for the bus's current version; true when it
   * did (the caller then retries through the hot path, which it now passes unless `maxConcurrent`
   * is reached, and then the slow path does not re-arm). A bus from an older core has no version:
   * its calls always take the slow path.
   */
  #armFast(): boolean {
    const version = this.#events.version;
    if (!this.#closedFast || version === undefined || version === this.#fastVersion || this.#needsStart()) return false;
    // Returned values must be judged: the hot path's shared handlers do not look at them.
    if (this.#config.isFailureResult !== undefined) return false;
    this.#makeHandlers();
    this.#fastVersion = version;
    return true;
  }

  /**
   * Whether a closed call needs its start time: for `slowCallMs` or a time window, or because
   * someone listens to success or failure events (which carry the duration).
   */
  #needsStart(): boolean {
    if (this.#alwaysTimed) return true;
    const events = this.#events;
    const version = events.version;
    // The answer changes only when listeners do: re-ask the bus when its version moved (a bus from
    // an older core has no version and is asked every time).
    if (version === undefined || version !== this.#listenVersion) {
      this.#listenVersion = version;
      this.#outcomesWatched = events.hasListeners('breaker.success') || events.hasListeners('breaker.failure');
    }
    return this.#outcomesWatched;
  }
  #listenVersion: number | undefined = -1;
  #outcomesWatched = false;

  /** The clock time to measure a closed call from, or -1 when no duration is needed. */
  #startTime(): number {
    return this.#needsStart() ? this.#clock.now() : -1;
  }

  #closedSuccess(gen: number, start: number): void {
    if (start < 0 && gen === this.#gen && this.#window === undefined) {
      // The common case: nothing to time, no window, still the generation it started in.
      this.#successes++;
      this.#consecutiveFailures = 0;
      this.#consecutiveSuccesses++;
      return;
    }
    this.#apply(OK, gen, start, -1, false, undefined, undefined);
  }

  /** `ctx` is undefined when nothing could abort the call (it was made without options). */
  #settleError(error: unknown, ctx: ExecutionContext | undefined, gen: number, start: number, permit: Permit | undefined): void {
    let kind: Kind = IGNORE;
    let reason: BreakerIgnoreReason | undefined = 'caller_abort';
    if (isTimeoutError(error) && fieldOf(error, 'started') === false) {
      // A timeout inside found its deadline passed before calling the dependency.
      reason = 'not_started';
    } else if (ctx === undefined || !this.#isCallerAbort(error, ctx)) {
      kind = this.#classify(error);
      reason = kind === IGNORE ? 'not_failure' : undefined;
      if (kind === FAIL && ctx !== undefined && isContextAborted(ctx) && !isAbortedByCaller(ctx)) kind = FAIL_TIMED_OUT;
    }
    if (permit === undefined) this.#apply(kind, gen, start, -1, false, error, reason);
    else this.#settlePermit(permit, kind, error, reason);
  }

  #isCallerAbort(error: unknown, ctx: ExecutionContext): boolean {
    // A TIMEOUT is a slow dependency, even when an outer timeout delivered it through the signal,
    // or when the function turned that signal into an AbortError of its own.
    return !isTimeoutError(error) && isAbortedByCaller(ctx) && isAbortError(error, abortSignalOf(ctx));
  }

  /** What `isFailure` says (caller aborts are sorted out before). */
  #classify(error: unknown): Kind {
    const isFailure = this.#config.isFailure;
    if (isFailure === undefined) return FAIL;
    try {
      return isFailure(error) ? FAIL : IGNORE;
    } catch {
      // A broken predicate must not hide a failing dependency.
      return FAIL;
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Admission

  /** The rejection for a call arriving at `now`, or null when one may start. Applies lazy transitions. */
  #rejection(now: number): Rejection | null {
    this.#refresh(now);
    if (this.#isolated) return openRejection(this.name, 'isolated', 'open', Infinity);
    if (this.#mode === DISABLED) return null;
    const base = this.#base;
    // Not negative when a listener asks while a lazy transition is held back (`#inUserCode`).
    if (base === OPEN) return openRejection(this.name, 'open', 'open', Math.max(0, this.#openUntil - now), this.#openCause);
    if (base === HALF_OPEN && this.#activeProbes >= this.#config.halfOpenMax) {
      return openRejection(this.name, 'half_open', 'half_open_full', this.#halfOpenRetryAfter(now), this.#openCause);
    }
    if (this.#running >= this.#maxConcurrent) return tooManyRejection(this.name, this.#maxConcurrent);
    return null;
  }

  /**
   * When a half-open circuit with every permit taken may admit again. The oldest probe's lease
   * end is an upper bound (a permit frees at the latest then); with unbounded leases, the last
   * open duration is the best scale we have.
   */
  #halfOpenRetryAfter(now: number): number {
    const head = this.#probeHead;
    if (head !== undefined && head.expiresAt !== Infinity) return Math.max(0, head.expiresAt - now);
    return this.#lastOpenMs;
  }

  #rejectTooMany(now: number): BreakerTooManyCallsError {
    const rejection = tooManyRejection(this.name, this.#maxConcurrent);
    this.#countRejection(rejection, now);
    return rejection;
  }

  #countRejection(rejection: Rejection, now: number): void {
    this.#requests++;
    this.#rejected++;
    const events = this.#events;
    if (!events.hasListeners('breaker.rejected')) return;
    const open = rejection.code === 'BREAKER_OPEN';
    this.#emit({
      type: 'breaker.rejected',
      source: 'breaker',
      name: this.name,
      time: now < 0 ? this.#clock.now() : now,
      reason: open ? rejection.reason : 'too_many_calls',
      state: this.#publicState(),
      retryAfterMs: open ? rejection.retryAfterMs : undefined,
    });
  }

  #grantProbe(now: number, holdsSlot: boolean): Permit {
    const permit = new Permit(this.#permitOwner, this.#gen, now, true, now + this.#config.probeTimeoutMs, holdsSlot);
    const tail = this.#probeTail;
    if (tail === undefined) this.#probeHead = permit;
    else {
      tail.next = permit;
      permit.prev = tail;
    }
    this.#probeTail = permit;
    this.#activeProbes++;
    return permit;
  }

  #freeSlot(permit: Permit): void {
    if (!permit.holdsSlot) return;
    permit.holdsSlot = false;
    this.#running--;
  }

  #unlink(permit: Permit): void {
    const { prev, next } = permit;
    if (prev === undefined) this.#probeHead = next;
    else prev.next = next;
    if (next === undefined) this.#probeTail = prev;
    else next.prev = prev;
    permit.prev = permit.next = undefined;
    this.#activeProbes--;
  }

  tryAcquire(): BreakerPermit | null {
    if (this.#closedFast) {
      if (this.#running >= this.#maxConcurrent) {
        this.#rejectTooMany(-1);
        return null;
      }
      this.#requests++;
      this.#running++;
      return new Permit(this.#permitOwner, this.#gen, this.#startTime(), false, Infinity, true);
    }
    if (this.#mode === DISABLED) return NO_OP_PERMIT;
    const now = this.#clock.now();
    const rejection = this.#rejection(now);
    if (rejection !== null) {
      this.#countRejection(rejection, now);
      return null;
    }
    this.#requests++;
    this.#running++;
    if (this.#base === HALF_OPEN) return this.#grantProbe(now, true);
    return new Permit(this.#permitOwner, this.#gen, now, false, Infinity, true);
  }

  #settlePermit(permit: Permit, kind: Kind, error: unknown, reason: BreakerIgnoreReason | undefined): void {
    if (permit.settled) return;
    let now = -1;
    if (permit.probe) {
      now = this.#clock.now();
      // The lease may have run out before this outcome arrived; then it already counted as a failure.
      if (permit.gen === this.#gen) this.#refresh(now);
      if (permit.settled) return;
      permit.settled = true;
      if (permit.gen === this.#gen) this.#unlink(permit);
    } else {
      permit.settled = true;
    }
    this.#freeSlot(permit);
    this.#apply(kind, permit.gen, permit.start, now, permit.probe, error, reason);
  }

  // ---------------------------------------------------------------------------------------------
  // Recording outcomes

  /**
   * Counts one outcome, emits its event, then (only if the state is still the generation the call
   * started in) updates the state. `now` is -1 when the clock has not been read yet.
   */
  #apply(kind: Kind, gen: number, start: number, now: number, probe: boolean, error: unknown, reason: BreakerIgnoreReason | undefined): void {
    if (gen < this.#countedSince) return;
    const timed = start >= 0;
    if (kind === OK) {
      let slow = false;
      if (timed) {
        if (now < 0) now = this.#clock.now();
        slow = now - start >= this.#slowCallMs;
      }
      this.#successes++;
      if (slow) this.#slowCalls++;
      if (timed && this.#events.hasListeners('breaker.success')) {
        this.#emit({
          type: 'breaker.success',
          source: 'breaker',
          name: this.name,
          time: now,
          durationMs: now - start,
          state: probe ? 'half_open' : 'closed',
          slow,
        });
      }
      if (gen !== this.#gen) return;
      if (probe) {
        if (slow) this.#open('half_open_slow_call', now);
        else if (++this.#halfOpenSuccesses >= this.#config.successThreshold) this.#enter(CLOSED, 'half_open_success', now);
        else this.#notifyReady();
        return;
      }
      this.#consecutiveFailures = 0;
      this.#consecutiveSuccesses++;
      const w = this.#window;
      // Rate rules are judged after every recorded call (a success can complete minimumCalls);
      // the custom rule, like failures in a row, only after a failure or a slow call.
      if (w !== undefined) {
        w.record(now, slow ? SLOW_BIT : 0);
        this.#checkTrip(now, slow);
      }
      return;
    }

    if (now < 0) now = this.#clock.now();
    const slow = timed && now - start >= this.#slowCallMs;
    if (kind === IGNORE) {
      this.#ignored++;
      if (this.#events.hasListeners('breaker.ignored')) {
        this.#emit({
          type: 'breaker.ignored',
          source: 'breaker',
          name: this.name,
          time: now,
          reason: reason ?? 'not_failure',
          state: probe ? 'half_open' : 'closed',
          error,
        });
      }
      // An ignored probe gives its permit back to whoever waits for one.
      if (probe && gen === this.#gen) this.#notifyReady();
      return;
    }

    const timeout = kind === FAIL_TIMED_OUT || isTimeoutError(error);
    this.#failures++;
    if (timeout) this.#timeouts++;
    if (slow) this.#slowCalls++;
    this.#lastError = error;
    this.#lastFailureAt = now;
    if (timed && this.#events.hasListeners('breaker.failure')) {
      this.#emit({
        type: 'breaker.failure',
        source: 'breaker',
        name: this.name,
        time: now,
        durationMs: now - start,
        state: probe ? 'half_open' : 'closed',
        error,
        timeout,
        slow,
      });
    }
    if (gen !== this.#gen) return;
    if (probe) {
      this.#open('half_open_failure', now);
      return;
    }
    this.#consecutiveFailures++;
    this.#consecutiveSuccesses = 0;
    this.#window?.record(now, slow ? FAILURE_BIT | SLOW_BIT : FAILURE_BIT);
    this.#checkTrip(now, true);
  }

  /** Closed state: opens the circuit if a configured rule fires. `bad`: the outcome was a failure or slow. */
  #checkTrip(now: number, bad: boolean): void {
    if (this.#mode === METRICS_ONLY) return;
    const config = this.#config;
    let reason: BreakerTransitionReason | undefined;
    if (this.#consecutiveFailures >= config.failureThreshold) reason = 'consecutive_failures';
    else {
      const w = this.#window;
      if (w !== undefined && w.calls >= config.minimumCalls) {
        if (w.failures / w.calls >= config.failureRateThreshold) reason = 'failure_rate';
        else if (w.slowCalls / w.calls >= config.slowCallRateThreshold) reason = 'slow_call_rate';
      }
      if (reason === undefined && bad && config.shouldTrip !== undefined) {
        try {
          if (config.shouldTrip(this.#counts()) === true) reason = 'custom';
        } catch {
          // A throwing rule is a "no": it must not break the call that asked it.
        }
      }
    }
    if (reason !== undefined) this.#open(reason, now < 0 ? this.#clock.now() : now);
  }

  #counts(): BreakerCounts {
    const w = this.#window;
    const calls = w?.calls ?? 0;
    return {
      consecutiveFailures: this.#consecutiveFailures,
      consecutiveSuccesses: this.#consecutiveSuccesses,
      windowCalls: calls,
      windowFailures: w?.failures ?? 0,
      windowSlowCalls: w?.slowCalls ?? 0,
      failureRate: calls === 0 ? 0 : (w as OutcomeWindow).failures / calls,
      slowCallRate: calls === 0 ? 0 : (w as OutcomeWindow).slowCalls / calls,
    };
  }

  // ---------------------------------------------------------------------------------------------
  // Transitions

  /**
   * Applies every transition that time alone has caused by `now`: open → half-open when `openMs`
   * passed, and half-open → open when a probe's lease ran out. Each happens at its own timestamp.
   */
  #refresh(now: number): void {
    if (this.#inUserCode) return;
    for (;;) {
      if (this.#isolated) return;
      const base = this.#base;
      if (base === OPEN) {
        if (now < this.#openUntil) return;
        this.#enter(HALF_OPEN, 'open_elapsed', this.#openUntil);
      } else if (base === HALF_OPEN) {
        const head = this.#probeHead;
        if (head === undefined || head.expiresAt > now) return;
        this.#expire(head);
      } else {
        return;
      }
    }
  }

  /** A probe outlived its lease: it counts as a failure and reopens the circuit. */
  #expire(permit: Permit): void {
    permit.settled = true;
    this.#unlink(permit);
    this.#freeSlot(permit);
    const at = permit.expiresAt;
    const error = new BreakerProbeTimeoutError(this.name, this.#config.probeTimeoutMs);
    const slow = at - permit.start >= this.#slowCallMs;
    this.#failures++;
    this.#timeouts++;
    if (slow) this.#slowCalls++;
    this.#lastError = error;
    this.#lastFailureAt = at;
    const gen = this.#gen;
    if (this.#events.hasListeners('breaker.failure')) {
      this.#emit({
        type: 'breaker.failure',
        source: 'breaker',
        name: this.name,
        time: at,
        durationMs: at - permit.start,
        state: 'half_open',
        error,
        timeout: true,
        slow,
      });
    }
    if (gen === this.#gen) this.#open('probe_timeout', at);
  }

  #open(reason: BreakerTransitionReason, at: number): void {
    // Slow calls may have succeeded: only a failure-driven open has a failure to give as `cause`.
    this.#openCause = reason === 'slow_call_rate' || reason === 'half_open_slow_call' ? undefined : this.#lastError;
    // `openMs` is user code running mid-transition: a state read from it must not apply another.
    const outer = this.#inUserCode;
    this.#inUserCode = true;
    const ms = this.#openDuration(++this.#consecutiveOpens, reason);
    this.#inUserCode = outer;
    this.#openUntil = at + ms;
    this.#lastOpenMs = ms;
    this.#enter(OPEN, reason, at);
  }

  #openDuration(consecutiveOpens: number, reason: string): number {
    const openMs = this.#config.openMs;
    if (typeof openMs === 'number') return openMs;
    let ms: unknown;
    try {
      const info: BreakerOpenInfo = { ...this.#counts(), consecutiveOpens, reason };
      ms = openMs(consecutiveOpens, info);
    } catch {
      return DEFAULT_OPEN_MS;
    }
    return typeof ms === 'number' && ms >= 0 && Number.isFinite(ms) ? ms : DEFAULT_OPEN_MS;
  }

  /** Moves to a stored state (ending any isolation), starting a new generation. */
  #enter(to: Base, reason: BreakerTransitionReason, at: number, from: BreakerState = this.#publicState()): void {
    this.#isolated = false;
    this.#mode = NORMAL;
    this.#base = to;
    this.#newGeneration();
    this.#lastStateChangeAt = at;
    this.#clearProbes();
    if (to === CLOSED) this.#clearTripCounts();
    this.#closedFast = to === CLOSED;
    this.#emitStateChange(from, BASE_NAMES[to], reason, at, to === OPEN ? this.#lastOpenMs : undefined);
    this.#notifyReady();
  }

  /** Every transition: outcomes of older generations change nothing, and the hot path re-arms. */
  #newGeneration(): void {
    this.#gen++;
    this.#fastVersion = -1;
  }

  #clearProbes(): void {
    // Unsettled permits keep their generation, which is now stale: their outcomes change nothing.
    // Their leases no longer run, so two-step probes give back their running slots now.
    for (let permit = this.#probeHead; permit !== undefined; permit = permit.next) this.#freeSlot(permit);
    this.#probeHead = this.#probeTail = undefined;
    this.#activeProbes = 0;
    this.#halfOpenSuccesses = 0;
  }

  #clearTripCounts(): void {
    this.#consecutiveFailures = 0;
    this.#consecutiveSuccesses = 0;
    this.#consecutiveOpens = 0;
    this.#window?.clear();
  }

  #publicState(): BreakerState {
    if (this.#isolated) return 'isolated';
    const mode = this.#mode;
    return mode === NORMAL ? BASE_NAMES[this.#base] : mode === DISABLED ? 'disabled' : 'metrics_only';
  }

  #emitStateChange(from: BreakerState, to: BreakerState, reason: BreakerTransitionReason, at: number, openMs: number | undefined): void {
    if (!this.#events.hasListeners('breaker.state_change')) return;
    this.#emit({ type: 'breaker.state_change', source: 'breaker', name: this.name, time: at, from, to, reason, openMs });
  }

  #emit(event: XEvent): void {
    try {
      const outer = this.#inUserCode;
      this.#inUserCode = true;
      try {
        this.#events.emit(event);
      } finally {
        this.#inUserCode = outer;
      }
    } catch {
      // The core bus never throws; a custom one must not turn an outcome into a failure either.
    }
  }

  get state(): BreakerState {
    if (this.#closedFast) return this.#mode === NORMAL ? 'closed' : 'metrics_only';
    if (this.#isolated) return 'isolated';
    this.#refresh(this.#clock.now());
    return this.#publicState();
  }

  // ---------------------------------------------------------------------------------------------
  // Manual control

  forceOpen(): void {
    if (this.#forced) return;
    this.#forced = true;
    this.#beginIsolation('force_open');
  }

  isolate(): BreakerIsolation {
    this.#handles++;
    const epoch = this.#isolationEpoch;
    this.#beginIsolation('isolate');
    return new IsolationHandle(() => {
      if (epoch !== this.#isolationEpoch) return; // forceClose/reset already ended this isolation
      if (--this.#handles === 0 && !this.#forced) this.#enter(CLOSED, 'isolation_released', this.#clock.now());
    });
  }

  #beginIsolation(reason: BreakerTransitionReason): void {
    if (this.#isolated) return;
    const now = this.#clock.now();
    this.#refresh(now);
    const from = this.#publicState();
    this.#isolated = true;
    this.#mode = NORMAL;
    this.#closedFast = false;
    this.#newGeneration();
    this.#lastStateChangeAt = now;
    this.#clearProbes();
    this.#emitStateChange(from, 'isolated', reason, now, undefined);
    this.#notifyReady();
  }

  forceClose(): void {
    this.#close('force_close');
  }

  open(ms?: number): void {
    if (ms !== undefined && (typeof ms !== 'number' || !(ms >= 0) || ms === Infinity)) {
      throw new InvalidOptionsError('breaker.open', 'ms', ms, 'a finite number >= 0 (use forceOpen() to stay open)');
    }
    this.#endManual();
    const now = this.#clock.now();
    this.#refresh(now);
    const from = this.#publicState();
    this.#openCause = undefined;
    const duration = ms ?? this.#openDuration(this.#consecutiveOpens + 1, 'manual_open');
    this.#openUntil = now + duration;
    this.#lastOpenMs = duration;
    this.#enter(OPEN, 'manual_open', now, from);
  }

  halfOpen(): void {
    this.#endManual();
    const now = this.#clock.now();
    this.#refresh(now);
    const from = this.#publicState();
    if (from === 'half_open') return;
    if (this.#lastOpenMs === 0) this.#lastOpenMs = this.#openDuration(Math.max(1, this.#consecutiveOpens), 'manual_half_open');
    this.#enter(HALF_OPEN, 'manual_half_open', now, from);
  }

  disable(): void {
    this.#enterMode(DISABLED, 'disable');
  }

  metricsOnly(): void {
    this.#enterMode(METRICS_ONLY, 'metrics_only');
  }

  /** Manual controls end isolation: forced or by handles (whose later release then does nothing). */
  #endManual(): void {
    this.#forced = false;
    this.#handles = 0;
    this.#isolationEpoch++;
  }

  /** `disable()` / `metricsOnly()`: a closed circuit with fresh trip counts, then the overlay. */
  #enterMode(mode: Mode, reason: 'disable' | 'metrics_only'): void {
    if (this.#mode === mode && !this.#isolated) return;
    this.#endManual();
    const now = this.#clock.now();
    this.#refresh(now);
    const from = this.#publicState();
    this.#isolated = false;
    this.#base = CLOSED;
    this.#newGeneration();
    this.#lastStateChangeAt = now;
    this.#clearProbes();
    this.#clearTripCounts();
    this.#mode = mode;
    // Metrics-only records like a closed circuit (the hot path included); disabled takes the slow path, which passes calls straight through.
    this.#closedFast = mode === METRICS_ONLY;
    this.#emitStateChange(from, mode === DISABLED ? 'disabled' : 'metrics_only', reason, now, undefined);
    this.#notifyReady();
  }

  reset(): void {
    this.#close('reset');
    // Calls made before count nowhere, not even in the totals: the breaker is as new.
    this.#countedSince = this.#gen;
    this.#requests = this.#successes = this.#failures = this.#timeouts = 0;
    this.#rejected = this.#ignored = this.#slowCalls = 0;
    this.#lastError = undefined;
    this.#lastFailureAt = undefined;
  }

  #close(reason: 'force_close' | 'reset'): void {
    this.#endManual();
    const now = this.#clock.now();
    this.#refresh(now);
    if (this.#publicState() === 'closed') {
      // Results of calls made before the counts were cleared must not add to the fresh ones.
      this.#newGeneration();
      this.#clearTripCounts();
    } else {
      this.#enter(CLOSED, reason, now);
    }
  }

  // ---------------------------------------------------------------------------------------------
  // waitUntilReady

  waitUntilReady(options?: WaitUntilReadyOptions): Promise<void> {
    if (options !== undefined && options !== null) {
      const bad = callError('breaker.waitUntilReady', WAIT_FN, { signal: options.signal });
      if (bad !== undefined) return Promise.reject(bad);
    }
    const signal = options?.signal;
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.#isReady(this.#clock.now())) return Promise.resolve();
    const waiter = new ReadyWaiter(this.#dropWaiterFn, signal);
    const promise = new Promise<void>((resolve, reject) => {
      waiter.resolve = resolve;
      waiter.reject = reject;
    });
    (this.#waiters ??= new Set()).add(waiter);
    if (signal !== undefined) watchAbort(signal, waiter);
    this.#scheduleWake(this.#clock.now());
    return promise;
  }

  #isReady(now: number): boolean {
    if (this.#closedFast) return true;
    if (this.#isolated) return false;
    this.#refresh(now);
    if (this.#isolated) return false;
    return this.#base === CLOSED || (this.#base === HALF_OPEN && this.#activeProbes < this.#config.halfOpenMax);
  }

  #notifyReady(): void {
    const waiters = this.#waiters;
    if (waiters === undefined || waiters.size === 0 || this.#notifying) return;
    this.#notifying = true;
    try {
      const now = this.#clock.now();
      if (!this.#isReady(now)) {
        this.#scheduleWake(now);
        return;
      }
      for (const waiter of waiters) {
        if (waiter.signal !== undefined) unwatchAbort(waiter.signal, waiter);
        waiter.resolve();
      }
      waiters.clear();
      this.#scheduleWake(now);
    } finally {
      this.#notifying = false;
    }
  }

  #dropWaiter(waiter: ReadyWaiter): void {
    if (waiter.signal !== undefined) unwatchAbort(waiter.signal, waiter);
    this.#waiters?.delete(waiter);
    this.#scheduleWake(this.#clock.now());
  }

  /** Keeps one timer, only while someone waits, at the next instant time alone changes the state. */
  #scheduleWake(now: number): void {
    let at = Infinity;
    if (this.#waiters !== undefined && this.#waiters.size > 0 && !this.#isolated) {
      if (this.#base === OPEN) at = this.#openUntil;
      else if (this.#base === HALF_OPEN && this.#probeHead !== undefined) at = this.#probeHead.expiresAt;
    }
    if (at === this.#wakeAt) return;
    const clock = this.#clock;
    if (this.#wakeTimer !== undefined) clock.clearTimeout(this.#wakeTimer);
    this.#wakeTimer = undefined;
    this.#wakeAt = at;
    // A longer delay would fire at once: wake at the limit and schedule again from there.
    if (at !== Infinity) this.#wakeTimer = clock.setTimeout(this.#wake, Math.min(MAX_TIMER_MS, Math.max(0, at - now)));
  }

  readonly #wake = (): void => {
    this.#wakeTimer = undefined;
    this.#wakeAt = Infinity;
    this.#notifyReady();
  };

  // ---------------------------------------------------------------------------------------------
  // Stats and persistence

  stats(): BreakerStats {
    const now = this.#clock.now();
    this.#refresh(now);
    const w = this.#window;
    w?.evict(now);
    const decided = w === undefined ? this.#successes + this.#failures : w.calls;
    const failed = w === undefined ? this.#failures : w.failures;
    const failureRate = decided === 0 ? 0 : failed / decided;
    const state = this.#publicState();
    return {
      name: this.name,
      state,
      totals: {
        requests: this.#requests,
        successes: this.#successes,
        failures: this.#failures,
        timeouts: this.#timeouts,
        rejected: this.#rejected,
        ignored: this.#ignored,
        slowCalls: this.#slowCalls,
      },
      consecutiveFailures: this.#consecutiveFailures,
      consecutiveSuccesses: this.#consecutiveSuccesses,
      consecutiveOpens: this.#consecutiveOpens,
      window: { calls: w?.calls ?? 0, failures: w?.failures ?? 0, slowCalls: w?.slowCalls ?? 0 },
      failureRate,
      successRate: decided === 0 ? 1 : (decided - failed) / decided,
      slowCallRate: w === undefined || w.calls === 0 ? 0 : w.slowCalls / w.calls,
      isHealthy: state === 'closed' || state === 'metrics_only' || state === 'disabled',
      runningCalls: this.#running,
      halfOpenProbes: this.#activeProbes,
      timeUntilHalfOpenMs: state === 'isolated' ? Infinity : state === 'open' ? this.#openUntil - now : 0,
      lastError: this.#lastError,
      lastFailureAt: this.#lastFailureAt,
      lastStateChangeAt: this.#lastStateChangeAt,
    };
  }

  reconfigure(changes: BreakerReconfigureOptions): void {
    this.#config = reconfigured(this.#config, changes);
  }

  toJSON(): BreakerSnapshot {
    const now = this.#clock.now();
    this.#refresh(now);
    const w = this.#window;
    w?.evict(now);
    // Isolation by handles belongs to this process: releasing them closes the circuit, so that is what persists.
    // `disable()` and `metricsOnly()` are this process's operating choice: they persist as closed.
    const state: BreakerState = this.#forced ? 'isolated' : this.#isolated ? 'closed' : BASE_NAMES[this.#base];
    // ... and closes it with fresh counts, as releasing them here would.
    const fresh = this.#isolated && !this.#forced;
    return {
      version: 1,
      state,
      openUntil: state === 'open' ? this.#openUntil : null,
      consecutiveOpens: fresh ? 0 : this.#consecutiveOpens,
      consecutiveFailures: fresh ? 0 : this.#consecutiveFailures,
      consecutiveSuccesses: fresh ? 0 : this.#consecutiveSuccesses,
      halfOpenSuccesses: state === 'half_open' ? this.#halfOpenSuccesses : 0,
      lastStateChangeAt: this.#lastStateChangeAt,
      lastFailureAt: this.#lastFailureAt ?? null,
      window: w === undefined || fresh ? null : w.snapshot(),
    };
  }

  #restore(snapshot: BreakerSnapshot): void {
    this.#consecutiveOpens = snapshot.consecutiveOpens;
    this.#consecutiveFailures = snapshot.consecutiveFailures;
    this.#consecutiveSuccesses = snapshot.consecutiveSuccesses;
    this.#lastStateChangeAt = snapshot.lastStateChangeAt;
    this.#lastFailureAt = snapshot.lastFailureAt ?? undefined;
    switch (snapshot.state) {
      case 'open':
        this.#base = OPEN;
        this.#openUntil = snapshot.openUntil as number;
        this.#lastOpenMs = Math.max(0, this.#openUntil - snapshot.lastStateChangeAt);
        break;
      case 'half_open':
        this.#base = HALF_OPEN;
        this.#halfOpenSuccesses = Math.min(snapshot.halfOpenSuccesses, this.#config.successThreshold - 1);
        // The snapshot does not say how long the last open period was: take what this one would be.
        this.#lastOpenMs = this.#openDuration(Math.max(1, snapshot.consecutiveOpens), 'restored');
        break;
      case 'isolated':
        this.#forced = true;
        this.#isolated = true;
        break;
      default:
        break;
    }
    this.#closedFast = this.#base === CLOSED && !this.#isolated;
    if (snapshot.window !== null) this.#window?.restore(snapshot.window);
  }
}

/**
 * Creates a circuit breaker: a {@link Breaker} (a core `Policy`) that counts failures of the
 * calls it runs, opens when a trip rule fires (refusing calls at once with `BREAKER_OPEN`),
 * half-opens after `openMs` to let `halfOpenMax` probes through, and closes after
 * `successThreshold` successful probes. No timer runs while idle: the state is computed from
 * timestamps whenever it is read.
 *
 * @example
 * ```ts
 * const breaker = createBreaker({ name: 'payments', failureThreshold: 5, openMs: 30_000 });
 * const receipt = await breaker.execute(({ signal }) => payments.charge(order, { signal }));
 *
 * // Rate-based, over the last 20 seconds, with slow-call detection:
 * const api = createBreaker({
 *   name: 'api',
 *   window: { kind: 'time', ms: 20_000 },
 *   failureRateThreshold: 0.5,
 *   minimumCalls: 20,
 *   slowCallMs: 2_000,
 *   slowCallRateThreshold: 0.8,
 *   openMs: (n) => Math.min(5_000 * 2 ** (n - 1), 120_000),
 * });
 * ```
 */
export function createBreaker(options?: BreakerOptions): Breaker {
  return new BreakerImpl(resolveOptions(options));
}

/**
 * Creates a breaker and hands its internals to `expose` (for groups, which need the running count
 * and to stop tracking breakers they evict).
 *
 * @example
 * ```ts
 * let internals!: BreakerInternals;
 * const breaker = createBreakerWithInternals({ name: 'host-a' }, (i) => (internals = i));
 * ```
 */
export function createBreakerWithInternals(options: BreakerOptions, expose: (internals: BreakerInternals) => void): Breaker {
  return new BreakerImpl(resolveOptions(options), expose);
}
