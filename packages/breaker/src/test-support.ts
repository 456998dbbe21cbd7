// Helpers shared by this package's tests (not part of the public API).
import { createEventBus } from '@x/core';
import type { EventBus, XEventMap, XEventType } from '@x/core';
import { createVirtualClock } from '@x/core/testing';
import type { VirtualClock } from '@x/core/testing';
import { createBreaker } from './breaker.js';
import type { BreakerOptions } from './options.js';
import type { Breaker } from './types.js';

export interface Harness {
  readonly clock: VirtualClock;
  readonly events: EventBus;
  readonly breaker: Breaker;
}

/** A breaker on a virtual clock and a private event bus. */
export function setup(options: BreakerOptions = {}): Harness {
  const clock = createVirtualClock();
  const events = createEventBus();
  const breaker = createBreaker({ name: 'test', clock, events, ...options });
  return { clock, events, breaker };
}

/** Collects every event of `type` emitted on `events`. */
export function collect<K extends XEventType>(events: EventBus, type: K): XEventMap[K][] {
  const seen: XEventMap[K][] = [];
  events.on(type, (event) => {
    seen.push(event as XEventMap[K]);
  });
  return seen;
}

/** A function that rejects with a fresh error. */
export const failing =
  (message = 'boom') =>
  (): Promise<never> =>
    Promise.reject(new Error(message));

export { deferred } from '@x/test-support';
export type { Deferred } from '@x/test-support';

/** Fails `n` calls through the breaker (without throwing at the test). */
export async function failTimes(breaker: Breaker, n: number): Promise<void> {
  for (let i = 0; i < n; i++) await breaker.executeOutcome(failing());
}
