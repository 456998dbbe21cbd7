import { createEventBus } from '@x/core';
import type { Clock, EventBus, XEvent } from '@x/core';

// Shared by this package's tests only (files named test-* are not part of the build or the lint).

/** A bus that records every event and swallows listener errors into `listenerErrors`. */
export function recordingBus(): { events: EventBus; seen: XEvent[]; listenerErrors: unknown[] } {
  const listenerErrors: unknown[] = [];
  const events = createEventBus({ onUnhandledListenerError: (error) => listenerErrors.push(error) });
  const seen: XEvent[] = [];
  events.on('*', (e) => seen.push(e));
  return { events, seen, listenerErrors };
}

export { deferred as manual, track } from '@x/test-support';

/**
 * A synchronous clock for code that reads time but sets no timers (budgets, burn rates), so a
 * test can replay days of traffic in milliseconds.
 */
export function manualClock(start = Date.UTC(2026, 0, 1)): Clock & { time: number; advance(ms: number): void } {
  const clock = {
    time: start,
    now: () => clock.time,
    advance(ms: number) {
      clock.time += ms;
    },
    setTimeout(): never {
      throw new Error('manualClock has no timers');
    },
    clearTimeout(): void {},
  };
  return clock;
}

/** SLOs with the requests that allow one failure (at a burn rate of 1): 1 ÷ (1 − slo), the README formula. */
export const SLOS: readonly (readonly [slo: number, requestsPerFailure: number])[] = [
  [0.9, 10],
  [0.99, 100],
  [0.995, 200],
  [0.999, 1_000],
  [0.9995, 2_000],
  [0.9999, 10_000],
  [0.99999, 100_000],
  [0.999999, 1_000_000],
];
