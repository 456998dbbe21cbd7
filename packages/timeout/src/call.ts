import { abortSignalOf, isContextAborted, linkSignal, unwatchAbort, watchAbort, withoutStack } from '@x/core';
import type { Clock, EventBus, ExecutionContext, LinkedSignal, Outcome, SignalSource } from '@x/core';
import type { DeadlineEntry, DeadlineQueue } from './deadline-queue.js';
import { TimeoutError } from './errors.js';
import type { TimeoutStrategy } from './errors.js';

/** What a call needs from the policy that runs it. */
export interface TimeoutHost {
  readonly name: string;
  readonly strategy: TimeoutStrategy;
  readonly clock: Clock;
  readonly events: EventBus;
  readonly queue: DeadlineQueue;
  /** Aggressive calls given up on whose work is still running. */
  abandonedCount: number;
  /** Calls that ran out of time (for `stats()`). */
  timedOutCount: number;
}

/** Why the policy stopped the call before the function settled. */
const NONE = 0;
const TIMEOUT = 1;
const ABORT = 2;
type Fired = typeof NONE | typeof TIMEOUT | typeof ABORT;

/** Whether `value` is a timeout's error (ours, another copy's, or anything with code `TIMEOUT`). */
function isTimeout(value: unknown): boolean {
  return typeof value === 'object' && value !== null && (value as { code?: unknown }).code === 'TIMEOUT';
}

/** Builds the timeout error of a call, stackless: the stack of a timer callback says nothing. */
export function timeoutError(host: TimeoutHost, timeoutMs: number, abandoned: boolean, started = true): TimeoutError {
  const policy = host.name;
  const strategy = host.strategy;
  return withoutStack(() => new TimeoutError({ policy, timeoutMs, strategy, abandoned, started }));
}

/** The error of a cooperative call that rejected with `cause` after its signal timed out. */
function timeoutErrorCausedBy(host: TimeoutHost, timeoutMs: number, cause: unknown): TimeoutError {
  const policy = host.name;
  const strategy = host.strategy;
  return withoutStack(() => new TimeoutError({ policy, timeoutMs, strategy, abandoned: false, cause }));
}

export function emitTimedOut(host: TimeoutHost, timeoutMs: number, signalled: boolean): void {
  const events = host.events;
  if (!events.hasListeners('timeout.timed_out')) return;
  events.emit({
    type: 'timeout.timed_out',
    source: 'timeout',
    name: host.name,
    time: host.clock.now(),
    timeoutMs,
    strategy: host.strategy,
    signalled,
  });
}

/**
 * One execution under a timeout. It is the context's {@link SignalSource}: the function's
 * `AbortController` (a {@link linkSignal} child of the caller's signal) is created only when
 * `ctx.signal` is first read. It is also the entry the policy's {@link DeadlineQueue} fires.
 */
abstract class Call implements SignalSource, DeadlineEntry {
  readonly host: TimeoutHost;
  /** The context the policy was called with: its signal is the caller's. */
  readonly parent: ExecutionContext;
  readonly start: number;
  /** Absolute deadline, `Infinity` for none (an `ms` of Infinity and no outer deadline). */
  readonly deadline: number;
  linked: LinkedSignal | undefined = undefined;
  /** Set when the function has settled. */
  done = false;
  fired: Fired = NONE;
  /** What the signal was aborted with when `fired` is set: our TimeoutError or the caller's reason. */
  reason: unknown = undefined;
  prev: DeadlineEntry | undefined = undefined;
  next: DeadlineEntry | undefined = undefined;
  queued = false;

  constructor(host: TimeoutHost, parent: ExecutionContext, start: number, deadline: number) {
    this.host = host;
    this.parent = parent;
    this.start = start;
    this.deadline = deadline;
  }

  /** The time the call was given (less than `ms` when an outer deadline was earlier). */
  get timeoutMs(): number {
    return this.deadline - this.start;
  }

  get signal(): AbortSignal {
    const linked = this.linked;
    return linked === undefined ? this.createSignal().signal : linked.signal;
  }

  abstract get aborted(): boolean;
  abstract createSignal(): LinkedSignal;
  abstract expire(): void;

  /**
   * A signal read after the policy stopped caring (the call settled, or an aggressive timeout
   * gave up): it is never linked to the caller's signal, so it cannot leave a listener behind.
   */
  detachedSignal(): LinkedSignal {
    const linked = linkSignal(undefined);
    this.linked = linked;
    if (this.fired !== NONE) linked.abort(this.reason);
    else if (isContextAborted(this.parent)) linked.abort((abortSignalOf(this.parent) as AbortSignal).reason);
    return linked;
  }
}

/**
 * Cooperative: at the deadline the function's signal aborts with a {@link TimeoutError} and the
 * policy keeps waiting for the function. No timer exists until the function reads its signal.
 */
export class CooperativeCall extends Call {
  /**
   * The function's promise, when the policy handed it to the caller as it is (the function had
   * not read its signal by the time it returned, and nobody watches for overruns). A late read
   * of the signal hooks the cleanup onto it.
   */
  unwrapped: Promise<unknown> | undefined = undefined;

  get aborted(): boolean {
    const linked = this.linked;
    if (linked !== undefined) return linked.signal.aborted;
    if (isContextAborted(this.parent)) return true;
    // No signal yet: report what it would be if created now.
    return !this.done && this.host.clock.now() >= this.deadline;
  }

  createSignal(): LinkedSignal {
    if (this.done) return this.detachedSignal();
    const linked = linkSignal(abortSignalOf(this.parent));
    this.linked = linked;
    if (!linked.signal.aborted && this.deadline !== Infinity) {
      const now = this.host.clock.now();
      // Read late: the timer gets only the remaining time, or the signal is born aborted.
      if (now >= this.deadline) this.expire();
      else this.host.queue.add(this, now);
    }
    const unwrapped = this.unwrapped;
    if (unwrapped !== undefined) {
      // Nothing else will see the function settle: release the timer and the link then.
      const release = () => this.#finish();
      unwrapped.then(release, release);
    }
    return linked;
  }

  expire(): void {
    const linked = this.linked as LinkedSignal;
    // The caller aborted first: that is their cancellation, not a timeout.
    if (linked.signal.aborted) return;
    const host = this.host;
    const timeoutMs = this.timeoutMs;
    const error = timeoutError(host, timeoutMs, false);
    this.fired = TIMEOUT;
    this.reason = error;
    host.timedOutCount++;
    linked.abort(error);
    emitTimedOut(host, timeoutMs, true);
  }

  /** Watches an unwrapped call to its end (for overrun reports), without joining the caller's chain. */
  watch(promise: Promise<unknown>): void {
    const settled = () => this.#finish();
    promise.then(settled, settled);
  }

  #finish(): void {
    if (this.done) return;
    this.done = true;
    const linked = this.linked;
    if (linked === undefined) {
      // Never read its signal, so nothing was scheduled; an overrun can only be reported now.
      if (this.deadline !== Infinity && this.host.events.hasListeners('timeout.timed_out')) this.#reportOverrun();
      return;
    }
    if (this.queued) this.host.queue.remove(this);
    linked.dispose();
  }

  #reportOverrun(): void {
    if (this.host.clock.now() >= this.deadline) emitTimedOut(this.host, this.timeoutMs, false);
  }

  fulfilled<T>(value: T): T {
    this.#finish();
    return value;
  }

  /**
   * The rejection the caller sees: once a timeout has aborted the function (ours, or an enclosing
   * one whose deadline this call inherited), a TIMEOUT. A TIMEOUT from inside is kept as it is: it
   * came first, and it may say that work was abandoned.
   */
  rejected(error: unknown): unknown {
    this.#finish();
    if (this.fired === NONE) {
      const linked = this.linked;
      if (linked === undefined || !isTimeout(linked.signal.reason)) return error;
    } else if (error === this.reason) {
      return error;
    }
    if (isTimeout(error)) return error;
    return timeoutErrorCausedBy(this.host, this.timeoutMs, error);
  }

  fulfilledOutcome<T>(value: T): Outcome<T> {
    this.#finish();
    return { ok: true, value };
  }

  rejectedOutcome(error: unknown): Outcome<never> {
    return { ok: false, error: this.rejected(error) };
  }
}

/**
 * Aggressive: at the deadline (or when the caller aborts) the call rejects at once, the function's
 * signal aborts, and the still-running work is reported and watched until it settles.
 */
export class AggressiveCall extends Call {
  /** Resolves/rejects the promise the caller holds. */
  resolve: (value: unknown) => void = noop;
  reject: (reason: unknown) => void = noop;
  /** The caller's signal while we listen to it (`handleEvent`). */
  parentSignal: AbortSignal | undefined = undefined;
  /** Deliver `{ ok, value | error }` objects (executeOutcome) instead of settling. */
  readonly outcome: boolean;

  constructor(host: TimeoutHost, parent: ExecutionContext, start: number, deadline: number, outcome: boolean) {
    super(host, parent, start, deadline);
    this.outcome = outcome;
  }

  get aborted(): boolean {
    const linked = this.linked;
    if (linked !== undefined) return linked.signal.aborted;
    return this.fired !== NONE || isContextAborted(this.parent);
  }

  createSignal(): LinkedSignal {
    if (this.done || this.fired !== NONE) return this.detachedSignal();
    const linked = linkSignal(this.parentSignal);
    this.linked = linked;
    return linked;
  }

  /** Starts listening to the caller's signal (which is not aborted). */
  listen(parentSignal: AbortSignal): void {
    this.parentSignal = parentSignal;
    watchAbort(parentSignal, this);
  }

  #unlisten(): void {
    const parentSignal = this.parentSignal;
    if (parentSignal === undefined) return;
    this.parentSignal = undefined;
    unwatchAbort(parentSignal, this);
  }

  #deliver(ok: boolean, value: unknown): void {
    if (this.outcome) this.resolve(ok ? { ok: true, value } : { ok: false, error: value });
    else if (ok) this.resolve(value);
    else this.reject(value);
  }

  /** The deadline passed: reject now, abort the function's signal, report the running work. */
  expire(): void {
    if (this.done || this.fired !== NONE) return;
    const host = this.host;
    const timeoutMs = this.timeoutMs;
    const error = timeoutError(host, timeoutMs, true);
    this.fired = TIMEOUT;
    this.reason = error;
    this.#unlisten();
    host.abandonedCount++;
    host.timedOutCount++;
    // Settle the caller's promise before any user abort listener can run.
    this.#deliver(false, error);
    const linked = this.linked;
    if (linked !== undefined) linked.abort(error);
    emitTimedOut(host, timeoutMs, linked !== undefined);
    this.#emitAbandoned('timeout');
  }

  /**
   * The caller's signal aborted: reject with its reason at once and abandon the work. An enclosing
   * timeout firing is a timeout here too (this call's deadline is never later than the enclosing one).
   */
  handleEvent(): void {
    const parentSignal = this.parentSignal;
    if (this.done || this.fired !== NONE || parentSignal === undefined) return;
    const reason: unknown = parentSignal.reason;
    if (isTimeout(reason)) {
      if (this.queued) this.host.queue.remove(this);
      this.expire();
      return;
    }
    this.#unlisten();
    this.fired = ABORT;
    this.reason = reason;
    if (this.queued) this.host.queue.remove(this);
    this.host.abandonedCount++;
    this.#deliver(false, reason);
    const linked = this.linked;
    if (linked !== undefined) linked.abort(reason);
    this.#emitAbandoned('abort');
  }

  /** The function settled (also for abandoned work, whose result nobody waits for any more). */
  settle(ok: boolean, value: unknown): void {
    if (this.done) return;
    this.done = true;
    if (this.fired === NONE) {
      if (this.queued) this.host.queue.remove(this);
      this.#unlisten();
      const linked = this.linked;
      if (linked !== undefined) linked.dispose();
      this.#deliver(ok, value);
      return;
    }
    const host = this.host;
    host.abandonedCount--;
    const events = host.events;
    if (!events.hasListeners('timeout.abandoned_settled')) return;
    const now = host.clock.now();
    events.emit({
      type: 'timeout.abandoned_settled',
      source: 'timeout',
      name: host.name,
      time: now,
      durationMs: now - this.start,
      ok,
      reason: this.fired === TIMEOUT ? 'timeout' : 'abort',
    });
  }

  #emitAbandoned(reason: 'timeout' | 'abort'): void {
    const host = this.host;
    const events = host.events;
    if (!events.hasListeners('timeout.abandoned')) return;
    events.emit({
      type: 'timeout.abandoned',
      source: 'timeout',
      name: host.name,
      time: host.clock.now(),
      reason,
      timeoutMs: this.timeoutMs,
    });
  }
}

function noop(): void {}
