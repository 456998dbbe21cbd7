import type { Clock } from './clock.js';
import { systemClock } from './clock.js';
import { MAX_TIMER_MS } from './options.js';

/** What reacts to an abort: the object form `addEventListener` also takes. */
export interface AbortWatcher {
  handleEvent(): void;
}

/**
 * The one real `abort` listener on a signal, fanning out to every watcher. Node's
 * `addEventListener` checks for duplicates in a list (O(n) per add, O(n²) for n pending calls)
 * and warns past 10 listeners, while many concurrent calls on one request signal are normal.
 */
class AbortFanout {
  readonly watchers = new Set<AbortWatcher>();
  constructor(readonly signal: AbortSignal) {}

  handleEvent(): void {
    // Live iteration (the fanout stays registered meanwhile, so unwatchAbort still finds it): a
    // watcher removed by an earlier one is skipped, as a removed listener is.
    for (const watcher of this.watchers) {
      this.watchers.delete(watcher);
      try {
        watcher.handleEvent();
      } catch (error) {
        // As with event listeners: report it, and let the other watchers run.
        queueMicrotask(() => {
          throw error;
        });
      }
    }
    if (FANOUTS.get(this.signal) === this) FANOUTS.delete(this.signal);
  }
}

const FANOUTS = new WeakMap<AbortSignal, AbortFanout>();

/**
 * Calls `watcher.handleEvent()` once when `signal` aborts, through a single listener per signal
 * however many watchers it has. Remove it with {@link unwatchAbort} when the work is done.
 *
 * @example
 * ```ts
 * watchAbort(signal, waiter); // waiter.handleEvent() rejects it
 * // ... on settle:
 * unwatchAbort(signal, waiter);
 * ```
 */
export function watchAbort(signal: AbortSignal, watcher: AbortWatcher): void {
  let fanout = FANOUTS.get(signal);
  if (fanout === undefined) {
    fanout = new AbortFanout(signal);
    FANOUTS.set(signal, fanout);
    signal.addEventListener('abort', fanout, { once: true });
  }
  fanout.watchers.add(watcher);
}

/**
 * Stops watching; the signal's listener goes when its last watcher does. Idempotent.
 *
 * @example
 * ```ts
 * unwatchAbort(signal, waiter);
 * ```
 */
export function unwatchAbort(signal: AbortSignal, watcher: AbortWatcher): void {
  const fanout = FANOUTS.get(signal);
  if (fanout === undefined || !fanout.watchers.delete(watcher) || fanout.watchers.size > 0) return;
  FANOUTS.delete(signal);
  signal.removeEventListener('abort', fanout);
}

/**
 * A child of an optional parent signal: it aborts when the parent does or when you call
 * `abort()`. `dispose()` detaches it from the parent; call it as soon as the work the child guards
 * is done, so a long-lived parent never accumulates listeners.
 */
export interface LinkedSignal {
  readonly signal: AbortSignal;
  /** Aborts the child (not the parent). Later calls do nothing. */
  abort(reason?: unknown): void;
  /** Removes the listener from the parent. Idempotent. */
  dispose(): void;
}

// The instance is its own event listener (`handleEvent`), so linking allocates no closure.
class LinkedSignalImpl implements LinkedSignal {
  readonly #controller = new AbortController();
  #parent: AbortSignal | undefined;

  constructor(parent: AbortSignal | undefined) {
    if (parent === undefined) return;
    if (parent.aborted) {
      this.#controller.abort(parent.reason);
      return;
    }
    this.#parent = parent;
    // The watch also goes when the parent fires; dispose() covers the other case.
    watchAbort(parent, this);
  }

  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  handleEvent(): void {
    const parent = this.#parent;
    this.#parent = undefined;
    if (parent !== undefined) this.#controller.abort(parent.reason);
  }

  abort(reason?: unknown): void {
    this.dispose();
    this.#controller.abort(reason);
  }

  dispose(): void {
    const parent = this.#parent;
    if (parent === undefined) return;
    this.#parent = undefined;
    unwatchAbort(parent, this);
  }
}

/**
 * Derives a child signal from `parent` (which may be undefined). Unlike `AbortSignal.any`, the
 * link is removed by `dispose()` (or by either side aborting), so nothing is left attached to a
 * long-lived parent.
 *
 * @example
 * ```ts
 * const child = linkSignal(ctx.signal);
 * try { return await work(child.signal) } finally { child.dispose() }
 * ```
 */
export function linkSignal(parent?: AbortSignal): LinkedSignal {
  return new LinkedSignalImpl(parent);
}

/** Options of {@link sleep}. */
export interface SleepOptions {
  /** Aborting it rejects the sleep at once with `signal.reason`. */
  readonly signal?: AbortSignal | undefined;
  /** Clock to wait on; defaults to {@link systemClock}. */
  readonly clock?: Clock | undefined;
}

class Sleeper {
  declare resolve: () => void;
  declare reject: (reason: unknown) => void;
  timer: unknown;
  constructor(
    readonly clock: Clock,
    readonly signal: AbortSignal | undefined,
    /** Clock time the sleep ends. */
    readonly until: number,
  ) {}

  arm(ms: number): void {
    // Longer delays would fire at once; the wake-up below re-arms for what is left.
    this.timer = this.clock.setTimeout(this.fire, ms < MAX_TIMER_MS ? ms : MAX_TIMER_MS);
  }

  handleEvent(): void {
    this.clock.clearTimeout(this.timer);
    this.reject((this.signal as AbortSignal).reason);
  }

  fire = (): void => {
    // Node's timers may fire up to a millisecond before `clock.now()` says the time has come:
    // a sleep that ends on a deadline (a Retry-After, a half-open instant) must not wake early.
    const left = this.until - this.clock.now();
    if (left > 0) {
      // At least 1 ms: what the runtime gives anyway, and a clock that fires early cannot spin.
      this.arm(left < 1 ? 1 : left);
      return;
    }
    const signal = this.signal;
    if (signal !== undefined) unwatchAbort(signal, this);
    this.resolve();
  };
}

const hasOwn = Object.prototype.hasOwnProperty;

/**
 * Waits `ms` milliseconds on `clock`. Rejects with the signal's reason as soon as `signal` aborts
 * (at once if it already has), and always removes its abort listener.
 *
 * @example
 * ```ts
 * await sleep(250, { signal: ctx.signal, clock });
 * ```
 */
export function sleep(ms: number, options: SleepOptions = {}): Promise<void> {
  // Own properties only: a `clock` or `signal` set on Object.prototype is never an option.
  const signal = hasOwn.call(options, 'signal') ? options.signal : undefined;
  if (signal?.aborted) return Promise.reject(signal.reason);
  const clock = (hasOwn.call(options, 'clock') ? options.clock : undefined) ?? systemClock;
  const wait = ms > 0 ? ms : 0; // NaN and negatives: no wait
  const sleeper = new Sleeper(clock, signal, clock.now() + wait);
  const promise = new Promise<void>((resolve, reject) => {
    sleeper.resolve = resolve;
    sleeper.reject = reject;
  });
  sleeper.arm(wait);
  if (signal !== undefined) watchAbort(signal, sleeper);
  return promise;
}

/**
 * True when `error` is what a caller's abort produces: the signal's own reason, or an error named
 * `AbortError` (what `AbortController.abort()` uses by default and what `fetch` throws).
 *
 * @example
 * ```ts
 * if (isAbortError(err, ctx.signal)) throw err; // the caller gave up: never retry that
 * ```
 */
export function isAbortError(error: unknown, signal?: AbortSignal): boolean {
  if (signal?.aborted && error === signal.reason) return true;
  if (typeof error !== 'object' || error === null) return false;
  try {
    return (error as { name?: unknown }).name === 'AbortError';
  } catch {
    return false; // a `name` getter that throws: not an abort
  }
}
