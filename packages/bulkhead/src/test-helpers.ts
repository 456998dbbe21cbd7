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

/** A promise plus its resolve/reject, to control when a call finishes. */
export interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(error: unknown): void;
}

/** Creates a {@link Deferred}. */
export function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

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
