/** Opaque handle returned by {@link Clock.setTimeout}. */
export type TimerHandle = unknown;

/**
 * Where every `@x/*` package gets time from. Inject {@link createVirtualClock} (from
 * `@x/core/testing`) in tests to move time without sleeping.
 *
 * @example
 * ```ts
 * const breaker = createBreaker({ clock: systemClock });
 * ```
 */
export interface Clock {
  /** Current time in epoch milliseconds. Must never go backwards. */
  now(): number;
  /** Runs `callback` once after `ms` milliseconds. */
  setTimeout(callback: () => void, ms: number): TimerHandle;
  /** Cancels a timer from {@link Clock.setTimeout}; unknown or fired handles are ignored. */
  clearTimeout(handle: TimerHandle): void;
}

// Read once: `performance.timeOrigin` is a getter that costs as much as `performance.now()`.
let origin: number | undefined;

/**
 * The real clock. `now()` is `performance.timeOrigin + performance.now()`: epoch milliseconds
 * that are monotonic (unaffected by wall-clock jumps) with sub-millisecond resolution.
 *
 * @example
 * ```ts
 * const started = systemClock.now();
 * ```
 */
export const systemClock: Clock = {
  now: () => (origin ??= performance.timeOrigin) + performance.now(),
  setTimeout: (callback, ms) => globalThis.setTimeout(callback, ms),
  clearTimeout: (handle) => globalThis.clearTimeout(handle as ReturnType<typeof setTimeout>),
};

/**
 * Lets the process exit while the timer is pending, where the runtime supports it (Node, Bun,
 * Deno). Use it for background work (sweeps, health probes), never for a sleep someone awaits.
 *
 * @example
 * ```ts
 * unrefTimer(clock.setTimeout(sweep, 60_000));
 * ```
 */
export function unrefTimer(handle: TimerHandle): TimerHandle {
  if (typeof handle === 'object' && handle !== null && 'unref' in handle) {
    (handle as { unref(): void }).unref();
  }
  return handle;
}

type Immediate = (callback: () => void) => unknown;

/** Reads served from the cache before the system clock is read again within one turn. */
const COARSE_REFRESH_EVERY = 64;
let coarseCached = 0;
let coarseValid = false;
let coarseReads = 0;
const coarseExpire = (): void => {
  coarseValid = false;
};

/**
 * The time for decisions that a reading up to one event-loop turn old cannot change, such as
 * "is this circuit still open?". For `systemClock` it is read once per turn (and again every 64
 * calls), the way Envoy and nginx cache their loop time, because a clock read costs more than the
 * rest of such a decision; any other clock (a virtual one in tests) is read every time. Never use
 * it for durations. Where the runtime has no `setImmediate` (browsers), it reads every time.
 *
 * @example
 * ```ts
 * if (coarseNow(clock) < openUntil) return rejectFast();
 * ```
 */
export function coarseNow(clock: Clock): number {
  if (clock !== systemClock) return clock.now();
  if (coarseValid) {
    if (++coarseReads < COARSE_REFRESH_EVERY) return coarseCached;
    coarseReads = 0;
    return (coarseCached = systemClock.now());
  }
  const immediate = (globalThis as { setImmediate?: Immediate }).setImmediate;
  if (immediate === undefined) return systemClock.now();
  coarseValid = true;
  coarseReads = 0;
  immediate(coarseExpire);
  return (coarseCached = systemClock.now());
}
