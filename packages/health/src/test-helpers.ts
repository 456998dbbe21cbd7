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

/** A promise with its resolve and reject exposed. */
export function manual<T>() {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Watches a promise without awaiting it. */
export function track<T>(promise: Promise<T>) {
  const state: { settled: boolean; value?: T; error?: unknown } = { settled: false };
  promise.then(
    (value) => Object.assign(state, { settled: true, value }),
    (error: unknown) => Object.assign(state, { settled: true, error }),
  );
  return state;
}

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
