// Shared by the test files only (not exported from the package entry).
import { XError, createEventBus } from '@x/core';
import type { EventBus, XEvent } from '@x/core';

/** A transient failure with a code, the kind a retry is for. */
export class TransientError extends Error {
  override name = 'TransientError';
  readonly code = 'ETRANSIENT';
}

/** A failure that carries a Retry-After, like a rate limiter's rejection. */
export class RateLimitedError extends XError<'RATE_LIMITED'> {
  override name = 'RateLimitedError';
  constructor(readonly retryAfterMs: number) {
    super('RATE_LIMITED', `rate limited for ${retryAfterMs} ms`);
  }
}

/** Stands in for @x/breaker's rejection (same code, same field). */
export class FakeBreakerOpenError extends XError<'BREAKER_OPEN'> {
  override name = 'BreakerOpenError';
  constructor(readonly retryAfterMs?: number) {
    super('BREAKER_OPEN', 'circuit open');
  }
}

/** A function that fails `failures` times (with `makeError(call)`) and then returns `value`. */
export function flaky<T>(failures: number, value: T, makeError: (call: number) => unknown = (n) => new TransientError(`failure ${n}`)) {
  const calls: { attempt: number }[] = [];
  const fn = async (ctx: { attempt: number }): Promise<T> => {
    calls.push({ attempt: ctx.attempt });
    if (calls.length <= failures) throw makeError(calls.length);
    return value;
  };
  return { fn, calls };
}

/** An event bus that records everything, with listener errors collected instead of logged. */
export function recordingBus(): { events: EventBus; seen: XEvent[]; listenerErrors: unknown[] } {
  const listenerErrors: unknown[] = [];
  const events = createEventBus({ onUnhandledListenerError: (error) => listenerErrors.push(error) });
  const seen: XEvent[] = [];
  // The retry's own events and listener errors; not core's announcement of the tracked instance.
  events.on('*', (event) => {
    if (event.source === 'retry' || event.type === 'core.listener_error') seen.push(event);
  });
  return { events, seen, listenerErrors };
}

/** A random source that replays `values` in a loop. */
export function sequence(...values: number[]): () => number {
  let i = 0;
  return () => values[i++ % values.length] as number;
}

/** Settles a promise into a value we can assert on without unhandled rejections. */
export function settle<T>(promise: Promise<T>): { readonly state: { done: boolean; ok?: boolean; value?: T; error?: unknown } } {
  const state: { done: boolean; ok?: boolean; value?: T; error?: unknown } = { done: false };
  promise.then(
    (value) => Object.assign(state, { done: true, ok: true, value }),
    (error: unknown) => Object.assign(state, { done: true, ok: false, error }),
  );
  return { state };
}
