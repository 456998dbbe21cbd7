import { checkClock, checkEvents, checkNumber, readOptions, checkString } from '@x/core';
import type { Clock, EventBus } from '@x/core';
import { or } from './options.js';

/**
 * Caps retries as a share of recent traffic, across every retry policy that shares it. Pass one
 * instance to many `createRetry({ budget })` calls.
 *
 * @example
 * ```ts
 * const budget: RetryBudget = createRetryBudget({ ratio: 0.1, minPerSecond: 2 });
 * createRetry({ name: 'a', budget }); createRetry({ name: 'b', budget });
 * ```
 */
export interface RetryBudget {
  /** Instance name, used in events. */
  readonly name: string;
  /** Records one execution (a first call). Retry policies call this at the start of `execute`. */
  recordCall(): void;
  /**
   * Asks for one retry. Returns true (and counts it) when the window still allows one; returns
   * false and emits `retry.budget_exhausted` otherwise. `policy` names the asking retry in the event.
   */
  tryAcquireRetry(policy: string): boolean;
  /** The current window's counts, after dropping expired buckets. */
  snapshot(): RetryBudgetSnapshot;
}

/**
 * What {@link RetryBudget.snapshot} returns.
 *
 * @example
 * ```ts
 * const { calls, retries, canRetry } = budget.snapshot();
 * ```
 */
export interface RetryBudgetSnapshot {
  /** Executions recorded in the window. */
  readonly calls: number;
  /** Retries granted in the window. */
  readonly retries: number;
  /** Retries the window allows in total: `ratio × calls + minPerSecond × windowMs / 1000`. */
  readonly allowance: number;
  /** Whether one more retry would be granted now. */
  readonly canRetry: boolean;
}

/**
 * Options of {@link createRetryBudget}.
 *
 * @example
 * ```ts
 * createRetryBudget({ ratio: 0.2, minPerSecond: 10, windowMs: 10_000 });
 * ```
 */
export interface RetryBudgetOptions {
  /** Instance name for events. Default `'retry-budget'`. */
  readonly name?: string | undefined;
  /**
   * Retries allowed per recorded call in the window, e.g. 0.2 = at most one retry for every five
   * calls. Required; range [0, 100].
   */
  readonly ratio: number;
  /**
   * Retries per second allowed on top of the ratio, so low-traffic callers can still retry.
   * Required; range [0, 1e6]. Over the window this adds `minPerSecond × windowMs / 1000` retries.
   */
  readonly minPerSecond: number;
  /** Length of the sliding window. Default 10 000; range [10, 86 400 000]. */
  readonly windowMs?: number | undefined;
  /** Default `systemClock`. */
  readonly clock?: Clock | undefined;
  /** Default `defaultEventBus()`. */
  readonly events?: EventBus | undefined;
}

const OWNER = 'createRetryBudget';
const KNOWN = ['name', 'ratio', 'minPerSecond', 'windowMs', 'clock', 'events'] as const;
/** The window is kept as this many buckets: memory is fixed and the window slides in tenths. */
const BUCKETS = 10;

class RetryBudgetImpl implements RetryBudget {
  readonly name: string;
  readonly #ratio: number;
  readonly #reserve: number;
  readonly #bucketMs: number;
  readonly #clock: Clock;
  readonly #events: EventBus;
  readonly #calls = new Float64Array(BUCKETS);
  readonly #retries = new Float64Array(BUCKETS);
  #callTotal = 0;
  #retryTotal = 0;
  /** Absolute index (time / bucketMs) of the newest bucket. */
  #head = -Infinity;

  constructor(name: string, ratio: number, minPerSecond: number, windowMs: number, clock: Clock, events: EventBus) {
    this.name = name;
    this.#ratio = ratio;
    this.#reserve = (minPerSecond * windowMs) / 1000;
    this.#bucketMs = windowMs / BUCKETS;
    this.#clock = clock;
    this.#events = events;
  }

  /** Moves the window to now, dropping every bucket that expired (however long the idle gap). */
  #slot(): number {
    const index = Math.floor(this.#clock.now() / this.#bucketMs);
    const head = this.#head;
    if (index > head) {
      const calls = this.#calls;
      const retries = this.#retries;
      if (index - head >= BUCKETS) {
        calls.fill(0);
        retries.fill(0);
        this.#callTotal = 0;
        this.#retryTotal = 0;
      } else {
        for (let i = head + 1; i <= index; i++) {
          const slot = ((i % BUCKETS) + BUCKETS) % BUCKETS;
          this.#callTotal -= calls[slot] as number;
          this.#retryTotal -= retries[slot] as number;
          calls[slot] = 0;
          retries[slot] = 0;
        }
      }
      this.#head = index;
    }
    // A clock that went backwards lands in the newest bucket.
    const current = this.#head;
    return ((current % BUCKETS) + BUCKETS) % BUCKETS;
  }

  recordCall(): void {
    const slot = this.#slot();
    (this.#calls[slot] as number)++;
    this.#callTotal++;
  }

  tryAcquireRetry(policy: string): boolean {
    const slot = this.#slot();
    const allowance = this.#ratio * this.#callTotal + this.#reserve;
    if (!fits(this.#retryTotal + 1, allowance)) {
      const events = this.#events;
      if (events.hasListeners('retry.budget_exhausted')) {
        events.emit({
          type: 'retry.budget_exhausted',
          source: 'retry',
          name: this.name,
          time: this.#clock.now(),
          policy,
          calls: this.#callTotal,
          retries: this.#retryTotal,
          allowance,
        });
      }
      return false;
    }
    (this.#retries[slot] as number)++;
    this.#retryTotal++;
    return true;
  }

  snapshot(): RetryBudgetSnapshot {
    this.#slot();
    const allowance = this.#ratio * this.#callTotal + this.#reserve;
    return {
      calls: this.#callTotal,
      retries: this.#retryTotal,
      allowance,
      canRetry: fits(this.#retryTotal + 1, allowance),
    };
  }
}

/**
 * Creates a retry budget: within a sliding window (10 buckets, fixed memory, on the injected
 * clock), retries are granted while `retries < ratio × calls + minPerSecond × windowMs / 1000`.
 * Share one budget between the retry policies that call the same dependency, so that when it
 * fails for everyone, retries stay a bounded share of the traffic instead of multiplying it.
 *
 * A refused retry ends the execution with a `RetryExhaustedError` whose `reason` is `'budget'` and
 * whose `cause` is the last failure; the retry emits `retry.gave_up` (reason `'budget'`) and the
 * budget emits `retry.budget_exhausted`.
 *
 * @example
 * ```ts
 * const budget = createRetryBudget({ ratio: 0.2, minPerSecond: 5 });
 * const users = createRetry({ name: 'users', budget });
 * const orders = createRetry({ name: 'orders', budget });
 * ```
 */
export function createRetryBudget(options: RetryBudgetOptions): RetryBudget {
  options = readOptions(OWNER, options, KNOWN);
  if (options === undefined) checkNumber(OWNER, 'ratio', undefined);
  const name = checkString(OWNER, 'name', or(options.name, 'retry-budget'));
  const ratio = checkNumber(OWNER, 'ratio', options.ratio, { min: 0, max: 100 });
  const minPerSecond = checkNumber(OWNER, 'minPerSecond', options.minPerSecond, { min: 0, max: 1e6 });
  const windowMs = checkNumber(OWNER, 'windowMs', or(options.windowMs, 10_000), { min: 10, max: 86_400_000 });
  const clock = checkClock(OWNER, options.clock);
  const events = checkEvents(OWNER, options.events);
  return new RetryBudgetImpl(name, ratio, minPerSecond, windowMs, clock, events);
}

/**
 * Whether `retries` fits in `allowance`. The allowance is a product of decimals (0.29 × 100 is
 * 28.999999999999996 in binary): a relative tolerance far below one retry absorbs that rounding.
 */
function fits(retries: number, allowance: number): boolean {
  return retries <= allowance + 1e-12 * (allowance > 1 ? allowance : 1);
}
