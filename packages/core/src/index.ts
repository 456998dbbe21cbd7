export { XError, InvalidOptionsError, isXError, withoutStack, describeValue } from './errors.js';
export type { XErrorMap, XErrorOptions } from './errors.js';
export { stacklessPrototype } from './stackless.js';
export { MinHeap } from './heap.js';
export type { Writable } from './stackless.js';
export {
  checkNumber,
  checkInteger,
  checkOneOf,
  checkFunction,
  checkString,
  checkBoolean,
  checkOptionKeys,
  readOptions,
  checkClock,
  checkEvents,
  MAX_TIMER_MS,
} from './options.js';
export type { NumberRange } from './options.js';
export { createEventBus, defaultEventBus, trackInstance } from './events.js';
export type {
  BaseEvent,
  EventBus,
  EventBusOptions,
  ListenerErrorEvent,
  InstanceTrackedEvent,
  TrackedInstance,
  XEvent,
  XEventListener,
  XEventMap,
  XEventType,
} from './events.js';
export { systemClock, unrefTimer, coarseNow } from './clock.js';
export type { Clock, TimerHandle } from './clock.js';
export { linkSignal, sleep, isAbortError, watchAbort, unwatchAbort } from './abort.js';
export type { AbortWatcher, LinkedSignal, SleepOptions } from './abort.js';
export {
  toContext,
  deriveContext,
  abortSignalOf,
  isContextAborted,
  isAbortedByCaller,
  remainingMs,
  earliestDeadline,
  callError,
} from './context.js';
export type { ExecutionContext, ExecuteOptions, ContextChanges, SignalSource } from './context.js';
export { compose, fallback, invoke, toOutcome, toPromise, FailureResultError } from './policy.js';
export type { Policy, PolicyFn, Outcome, ComposedPolicy, FallbackHandler, FallbackOptions, FallbackServedEvent } from './policy.js';
