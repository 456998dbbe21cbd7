import { abortSignalOf, checkFunction, checkNumber, checkOneOf, callError, checkString, defaultEventBus, deriveContext, InvalidOptionsError, isContextAborted, readOptions, systemClock, toContext, toPromise } from '@x/core';
import type { Clock, EventBus, ExecuteOptions, ExecutionContext, Outcome, Policy, PolicyFn } from '@x/core';
import { AggressiveCall, CooperativeCall, emitTimedOut, timeoutError } from './call.js';
import type { TimeoutHost } from './call.js';
import { DeadlineQueue } from './deadline-queue.js';
import type { TimeoutStrategy } from './errors.js';

/**
 * Options of {@link createTimeout}.
 *
 * @example
 * ```ts
 * const options: TimeoutOptions = { name: 'payments', strategy: 'aggressive', events: bus };
 * const timeout = createTimeout(3_000, options);
 * ```
 */
export interface TimeoutOptions {
  /**
   * `'cooperative'` (default): at the deadline the function's `ctx.signal` aborts and the policy
   * waits for the function to settle. `'aggressive'`: the call rejects at the deadline even if
   * the function ignores its signal; the abandoned work is reported through events.
   */
  readonly strategy?: TimeoutStrategy;
  /** Instance name used in events and errors. Defaults to `'timeout'`. */
  readonly name?: string;
  /** Time source; defaults to `systemClock`. Tests pass `createVirtualClock()`. */
  readonly clock?: Clock;
  /** Where events go; defaults to `defaultEventBus()`. */
  readonly events?: EventBus;
}

/**
 * A timeout policy. `execute` adds a deadline to the context (`ctx.deadline`, so inner policies
 * see the remaining time) and enforces it per its strategy.
 *
 * @example
 * ```ts
 * const timeout: TimeoutPolicy = createTimeout(1_000, { strategy: 'aggressive' });
 * if (timeout.abandoned > 100) alert('work keeps running after its timeouts');
 * ```
 */
export interface TimeoutPolicy extends Policy {
  /** The `ms` it was created with (`Infinity`: it only enforces deadlines from outside). */
  readonly timeoutMs: number;
  readonly strategy: TimeoutStrategy;
  /**
   * Calls an aggressive timeout gave up on whose work has not settled yet: work still running in
   * the background. Always 0 for a cooperative timeout.
   */
  readonly abandoned: number;
  /** Counters since creation, like the other policies' `stats()`. */
  stats(): TimeoutStats;
}

/**
 * What {@link TimeoutPolicy.stats} reports.
 *
 * @example
 * ```ts
 * const { calls, timedOut } = timeout.stats();
 * console.log(`${((100 * timedOut) / Math.max(1, calls)).toFixed(1)} % of calls timed out`);
 * ```
 */
export interface TimeoutStats {
  readonly timeoutMs: number;
  readonly strategy: TimeoutStrategy;
  /** Calls started (`execute` and `executeOutcome`), whatever became of them. */
  readonly calls: number;
  /** Calls that ran out of time: their deadline passed, or had passed on entry. */
  readonly timedOut: number;
  /** Aggressive calls given up on whose work is still running (as {@link TimeoutPolicy.abandoned}). */
  readonly abandoned: number;
}

const PROMISE_THEN = Promise.prototype.then;
const OWNER = 'createTimeout';

class TimeoutPolicyImpl implements TimeoutPolicy, TimeoutHost {
  readonly name: string;
  readonly timeoutMs: number;
  readonly strategy: TimeoutStrategy;
  readonly clock: Clock;
  readonly events: EventBus;
  readonly queue: DeadlineQueue;
  abandonedCount = 0;
  timedOutCount = 0;
  #calls = 0;
  readonly #aggressive: boolean;
  /** Prototype for the contexts of calls that came without an enclosing policy's context. */
  #root: ExecutionContext | undefined = undefined;

  constructor(ms: number, strategy: TimeoutStrategy, name: string, clock: Clock, events: EventBus) {
    this.timeoutMs = ms;
    this.strategy = strategy;
    this.name = name;
    this.clock = clock;
    this.events = events;
    this.queue = new DeadlineQueue(clock);
    this.#aggressive = strategy === 'aggressive';
  }

  /**
   * Always the injected clock: one time base with every other policy (a process-wide origin of
   * its own would drift from core's under fake timers, by the process uptime).
   */
  #now(): number {
    return this.clock.now();
  }

  stats(): TimeoutStats {
    return {
      timeoutMs: this.timeoutMs,
      strategy: this.strategy,
      calls: this.#calls,
      timedOut: this.timedOutCount,
      abandoned: this.abandonedCount,
    };
  }

  get abandoned(): number {
    return this.abandonedCount;
  }

  execute<T>(fn: PolicyFn<T>, options?: ExecuteOptions): Promise<T> {
    if (typeof fn !== 'function' || options !== undefined) {
      const bad = callError('timeout.execute', fn, options);
      if (bad !== undefined) return Promise.reject(bad);
    }
    this.#calls++;
    return this.#aggressive ? (this.#runAggressive(fn, options, false) as Promise<T>) : this.#runCooperative(fn, options);
  }

  executeOutcome<T>(fn: PolicyFn<T>, options?: ExecuteOptions): Promise<Outcome<T>> {
    if (typeof fn !== 'function' || options !== undefined) {
      const bad = callError('timeout.executeOutcome', fn, options);
      if (bad !== undefined) return Promise.resolve({ ok: false, error: bad });
    }
    this.#calls++;
    return this.#aggressive
      ? (this.#runAggressive(fn, options, true) as Promise<Outcome<T>>)
      : this.#runCooperativeOutcome(fn, options);
  }

  #runCooperative<T>(fn: PolicyFn<T>, options: ExecuteOptions | undefined): Promise<T> {
    const ctx = toContext(options);
    if (isContextAborted(ctx)) return Promise.reject(callerReason(ctx));
    const now = this.#now();
    const deadline = this.#deadline(ctx, now);
    if (deadline <= now) return Promise.reject(this.#expiredOnEntry(deadline, now));
    const call = new CooperativeCall(this, ctx, now, deadline);
    let promise: Promise<T>;
    try {
      const result = fn(this.#child(ctx, options, call, deadline));
      // The standard-`then` check inline: the common case pays one comparison, no call. Inside
      // the try: a `then` getter that throws fails the call like a throw from `fn`.
      promise = result instanceof Promise && result.then === PROMISE_THEN ? result : toPromise(result);
    } catch (error) {
      return Promise.reject(call.rejected(error));
    }
    if (call.linked === undefined) {
      // The function has not read its signal (yet), so there is nothing to clean up or translate:
      // hand its own promise back, which saves a promise and a microtask hop per call. A later
      // read of the signal hooks the cleanup onto this promise (CooperativeCall.createSignal);
      // with a timed_out subscriber, a side chain watches for an overrun instead.
      if (deadline !== Infinity && this.events.hasListeners('timeout.timed_out')) call.watch(promise);
      else call.unwrapped = promise;
      return promise;
    }
    return promise.then(
      (value) => call.fulfilled(value),
      (error: unknown) => {
        throw call.rejected(error);
      },
    );
  }

  #runCooperativeOutcome<T>(fn: PolicyFn<T>, options: ExecuteOptions | undefined): Promise<Outcome<T>> {
    const ctx = toContext(options);
    if (isContextAborted(ctx)) return Promise.resolve({ ok: false, error: callerReason(ctx) });
    const now = this.#now();
    const deadline = this.#deadline(ctx, now);
    if (deadline <= now) return Promise.resolve({ ok: false, error: this.#expiredOnEntry(deadline, now) });
    const call = new CooperativeCall(this, ctx, now, deadline);
    let result: T | PromiseLike<T>;
    try {
      result = fn(this.#child(ctx, options, call, deadline));
      // `toPromise`: a promise whose own `then` throws is a failure, never a throw.
      return toPromise(result).then(
        (value) => call.fulfilledOutcome(value),
        (error: unknown) => call.rejectedOutcome(error),
      );
    } catch (error) {
      return Promise.resolve(call.rejectedOutcome(error));
    }
  }

  #runAggressive<T>(fn: PolicyFn<T>, options: ExecuteOptions | undefined, outcome: boolean): Promise<unknown> {
    const ctx = toContext(options);
    if (isContextAborted(ctx)) return settled(outcome, callerReason(ctx));
    const now = this.#now();
    const deadline = this.#deadline(ctx, now);
    if (deadline <= now) return settled(outcome, this.#expiredOnEntry(deadline, now));
    const call = new AggressiveCall(this, ctx, now, deadline, outcome);
    const promise = new Promise<unknown>((resolve, reject) => {
      call.resolve = resolve;
      call.reject = reject;
    });
    const parentSignal = abortSignalOf(ctx);
    if (parentSignal !== undefined) call.listen(parentSignal);
    if (deadline !== Infinity) this.queue.add(call, now);
    let result: T | PromiseLike<T>;
    try {
      result = fn(this.#child(ctx, options, call, deadline));
      // Both handlers are attached, so abandoned work that rejects later is never unhandled.
      // `toPromise`: a promise whose own `then` throws settles the call (listener and timer released).
      toPromise(result).then(
        (value) => call.settle(true, value),
        (error: unknown) => call.settle(false, error),
      );
    } catch (error) {
      call.settle(false, error);
    }
    return promise;
  }

  /** The call's deadline: `now + ms`, or the enclosing deadline when that is earlier. */
  #deadline(ctx: ExecutionContext, now: number): number {
    const own = now + this.timeoutMs;
    const outer = ctx.deadline;
    return outer !== undefined && outer < own ? outer : own;
  }

  /** The enclosing deadline has already passed: fail without calling the function. */
  #expiredOnEntry(deadline: number, now: number): unknown {
    const timeoutMs = Math.max(0, deadline - now);
    this.timedOutCount++;
    emitTimedOut(this, timeoutMs, false);
    return timeoutError(this, timeoutMs, false, false);
  }

  /**
   * The context the function receives: the incoming one plus our deadline and lazy signal.
   *
   * When the caller passed plain options (not an enclosing policy's context), `toContext` made a
   * brand-new context that carries nothing but signal, deadline and attempt, all of which the
   * call already holds. Deriving from that fresh object would make it a prototype, which costs
   * V8 microseconds per call, so we derive from one long-lived root instead: same fields,
   * same behaviour, no per-call prototype.
   */
  #child(ctx: ExecutionContext, options: ExecuteOptions | undefined, call: CooperativeCall | AggressiveCall, deadline: number) {
    const childDeadline = deadline === Infinity ? undefined : deadline;
    if ((ctx as unknown) === options) return deriveContext(ctx, { deadline: childDeadline, signal: call });
    const root = (this.#root ??= toContext());
    const attempt = ctx.attempt;
    return attempt === 1
      ? deriveContext(root, { deadline: childDeadline, signal: call })
      : deriveContext(root, { attempt, deadline: childDeadline, signal: call });
  }
}

function callerReason(ctx: ExecutionContext): unknown {
  return (abortSignalOf(ctx) as AbortSignal).reason;
}

function settled(outcome: boolean, error: unknown): Promise<unknown> {
  return outcome ? Promise.resolve({ ok: false, error }) : Promise.reject(error);
}

/**
 * Creates a timeout policy that gives each call `ms` milliseconds (or less, when an enclosing
 * deadline is earlier) and rejects with a `TimeoutError` (`code: 'TIMEOUT'`) when it runs out.
 * A caller's own abort is passed through as the caller's reason, never as a timeout.
 *
 * No `AbortController` or timer is created for a call whose function never reads `ctx.signal`
 * (cooperative); the ones that do share one timer per policy, armed for the earliest deadline.
 *
 * @param ms - Milliseconds per call: a number > 0, or `Infinity` to only enforce enclosing deadlines.
 * @example
 * ```ts
 * const timeout = createTimeout(2_000, { name: 'users-api' });
 * const user = await timeout.execute(({ signal }) => fetch(`/users/${id}`, { signal }));
 *
 * // Work that ignores signals: stop waiting at the deadline and report what is left running.
 * const hard = createTimeout(500, { strategy: 'aggressive' });
 * ```
 */
export function createTimeout(ms: number, options: TimeoutOptions = {}): TimeoutPolicy {
  checkNumber(OWNER, 'ms', ms, { min: 0, minExclusive: true, allowInfinity: true });
  // Own properties only: a value on Object.prototype is never an option.
  const o = readOptions(OWNER, options, ['strategy', 'name', 'clock', 'events'], true);
  const strategy =
    o.strategy === undefined
      ? 'cooperative'
      : checkOneOf(OWNER, 'strategy', o.strategy, ['cooperative', 'aggressive'] as const);
  const name = o.name === undefined ? 'timeout' : checkString(OWNER, 'name', o.name);
  const clock = o.clock === undefined ? systemClock : checkClock(o.clock);
  const events = o.events === undefined ? defaultEventBus() : checkEvents(o.events);
  return new TimeoutPolicyImpl(ms, strategy, name, clock, events);
}

function checkClock(clock: unknown): Clock {
  if (typeof clock !== 'object' || clock === null) {
    throw new InvalidOptionsError(OWNER, 'clock', clock, 'a Clock ({ now, setTimeout, clearTimeout })');
  }
  const c = clock as Record<string, unknown>;
  checkFunction(OWNER, 'clock.now', c['now']);
  checkFunction(OWNER, 'clock.setTimeout', c['setTimeout']);
  checkFunction(OWNER, 'clock.clearTimeout', c['clearTimeout']);
  return clock as Clock;
}

function checkEvents(events: unknown): EventBus {
  if (typeof events !== 'object' || events === null) {
    throw new InvalidOptionsError(OWNER, 'events', events, 'an EventBus ({ on, emit, hasListeners })');
  }
  const e = events as Record<string, unknown>;
  checkFunction(OWNER, 'events.on', e['on']);
  checkFunction(OWNER, 'events.emit', e['emit']);
  checkFunction(OWNER, 'events.hasListeners', e['hasListeners']);
  return events as EventBus;
}
