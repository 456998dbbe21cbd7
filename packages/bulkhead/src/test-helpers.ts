// Helpers for this package's tests only (the lint and the build skip `test-*` files).
import { createEventBus } from '@x/core';
import type { EventBus, XEvent } from '@x/core';

/** The observable state of a promise, updated as it settles. */
export interface Tracked<T> {
  state: 'pending' | 'fulfilled' | 'rejected';
  value: T | undefined;
  error: unknown;
}

/** Watches a promise without awaiting it (and without leaving a rejection unhandled). */
export function track<T>(promise: Promise<T>): Tracked<T> {
  const tracked: Tracked<T> = { state: 'pending', value: undefined, error: undefined };
  promise.then(
    (value) => {
      tracked.state = 'fulfilled';
      tracked.value = value;
    },
    (error: unknown) => {
      tracked.state = 'rejected';
      tracked.error = error;
    },
  );
  return tracked;
}

export { deferred } from '@x/test-support';
export type { Deferred } from '@x/test-support';

/** A private bus that records every event, and whose listener errors are collected, not printed. */
export function recordingBus(): { events: EventBus; log: XEvent[]; listenerErrors: unknown[] } {
  const listenerErrors: unknown[] = [];
  const events = createEventBus({ onUnhandledListenerError: (error) => listenerErrors.push(error) });
  const log: XEvent[] = [];
  // Only the bulkhead's own events: core also announces each instance the bulkhead registers.
  events.on('*', (event) => {
    if (event.source === 'bulkhead') log.push(event);
  });
  return { events, log, listenerErrors };
}
