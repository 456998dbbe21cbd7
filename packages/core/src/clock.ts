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
