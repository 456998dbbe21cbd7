import { checkClock, checkEvents, checkInteger, checkNumber, checkOneOf, readOptions, checkString, defaultEventBus, InvalidOptionsError, systemClock } from '@x/core';
import type { Clock, EventBus } from '@x/core';

/** Which waiter a freed slot goes to: the oldest (`'fifo'`) or the newest (`'lifo'`). */
export type BulkheadOrder = 'fifo' | 'lifo';

/** Options of `createBulkhead`. */
export interface BulkheadOptions {
  /** Instance name for events, errors and metric labels. Defaults to `'bulkhead'`. */
  readonly name?: string;
  /** How many calls may run at once: an integer >= 1. Required. Change it later with `setLimit`. */
  readonly maxConcurrent: number;
  /**
   * How many calls may wait for a slot: an integer >= 0, or `Infinity`. Defaults to 0 (no queue:
   * a call that finds every slot taken is rejected at once).
   */
  readonly maxQueue?: number;
  /**
   * Longest time in ms a call may wait in the queue: a number >= 0, or `Infinity` (the default:
   * wait until a slot frees, the caller aborts or its deadline passes). 0 means never wait.
   */
  readonly maxWaitMs?: number;
  /**
   * Which waiter gets a freed slot. `'fifo'` (default) is fair; `'lifo'` serves the newest caller
   * first, which keeps latency low under overload while the oldest waiters time out.
   */
  readonly order?: BulkheadOrder;
  /** Time source for waits; defaults to `systemClock`. */
  readonly clock?: Clock;
  /** Where events go; defaults to `defaultEventBus()`. */
  readonly events?: EventBus;
}

/** Options after validation, with defaults applied. */
export interface ResolvedBulkheadOptions {
  readonly name: string;
  readonly maxConcurrent: number;
  readonly maxQueue: number;
  readonly maxWaitMs: number;
  readonly order: BulkheadOrder;
  readonly clock: Clock;
  readonly events: EventBus;
}

const OWNER = 'createBulkhead';

/**
 * Checks a bulkhead's options and applies defaults; throws `INVALID_OPTIONS` naming the option,
 * the allowed range and the value.
 *
 * @example
 * ```ts
 * const resolved = resolveBulkheadOptions({ maxConcurrent: 10, maxQueue: 50 });
 * ```
 */
export function resolveBulkheadOptions(options: BulkheadOptions): ResolvedBulkheadOptions {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidOptionsError(OWNER, 'options', options, 'an object with at least maxConcurrent');
  }
  options = readOptions(OWNER, options, ['name', 'maxConcurrent', 'maxQueue', 'maxWaitMs', 'order', 'clock', 'events']);
  return {
    name: checkString(OWNER, 'name', options.name ?? 'bulkhead'),
    maxConcurrent: checkLimit(OWNER, 'maxConcurrent', options.maxConcurrent),
    maxQueue: checkInteger(OWNER, 'maxQueue', options.maxQueue ?? 0, { min: 0, allowInfinity: true }),
    maxWaitMs: checkNumber(OWNER, 'maxWaitMs', options.maxWaitMs ?? Infinity, { min: 0, allowInfinity: true }),
    order: checkOneOf(OWNER, 'order', options.order ?? 'fifo', ['fifo', 'lifo'] as const),
    clock: checkClock(OWNER, options.clock),
    events: checkEvents(OWNER, options.events),
  };
}

/**
 * Checks a concurrency limit: an integer from 1 to `Number.MAX_SAFE_INTEGER`.
 *
 * @example
 * ```ts
 * const limit = checkLimit('bulkhead.setLimit', 'limit', n);
 * ```
 */
export function checkLimit(owner: string, option: string, value: unknown): number {
  return checkInteger(owner, option, value, { min: 1, max: Number.MAX_SAFE_INTEGER });
}

