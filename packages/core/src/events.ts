import { InvalidOptionsError } from './errors.js';

/**
 * Fields every event carries, whatever package emitted it. Durations in payloads are in
 * milliseconds; exporters convert to their own units.
 */
export interface BaseEvent {
  /** Dotted event type, `'<source>.<what>'`, e.g. `'breaker.state_change'`. */
  readonly type: string;
  /** The package that emitted it, e.g. `'breaker'`. */
  readonly source: string;
  /** The instance name the user gave the policy. */
  readonly name: string;
  /** When it happened, epoch milliseconds from the emitter's clock. */
  readonly time: number;
}

/** Emitted when a listener throws; the emit that called it still returns normally. */
export interface ListenerErrorEvent extends BaseEvent {
  readonly type: 'core.listener_error';
  readonly source: 'core';
  /** What the listener threw. */
  readonly error: unknown;
  /** The type of the event the listener was handling. */
  readonly eventType: string;
}

/**
 * Emitted when an instance is registered with {@link EventBus.track}, so an exporter attached
 * earlier can create the families for a package the moment its first instance exists.
 */
export interface InstanceTrackedEvent extends BaseEvent {
  readonly type: 'core.instance_tracked';
  readonly source: 'core';
  /** The package of the tracked instance, e.g. `'breaker'`. */
  readonly instanceSource: string;
}

/**
 * Every event type known to the program, keyed by `type`. Each package adds its own events by
 * declaration merging, so `bus.on('breaker.state_change', e => e.to)` is fully typed and a `'*'`
 * subscriber receives the union of every installed package's events.
 *
 * @example
 * ```ts
 * declare module '@x/core' {
 *   interface XEventMap { 'breaker.state_change': BreakerStateChangeEvent }
 * }
 * ```
 */
export interface XEventMap {
  'core.listener_error': ListenerErrorEvent;
  'core.instance_tracked': InstanceTrackedEvent;
}

/** A known event type. */
export type XEventType = keyof XEventMap & string;
/** The union of every known event. */
export type XEvent = XEventMap[XEventType];
/**
 * A subscriber for one event type, or for `'*'` (every event). It may be `async`: a promise it
 * returns that rejects is reported like a throw (as `core.listener_error`), never left unhandled.
 */
export type XEventListener<K extends XEventType | '*'> = (event: K extends XEventType ? XEventMap[K] : XEvent) => void;

/**
 * The tiny emitter every policy reports through.
 *
 * @example
 * ```ts
 * const off = bus.on('retry.scheduled', (e) => log(e.name, e.attempt, e.delayMs));
 * off(); // unsubscribe
 * ```
 */
export interface EventBus {
  /** Subscribes to one event type or to `'*'`; returns the function that unsubscribes. */
  on<K extends XEventType | '*'>(type: K, listener: XEventListener<K>): () => void;
  /**
   * Delivers `event` to its type's listeners, then to `'*'` listeners (both lists as they were
   * when the emit began). Never throws: a listener's error is reported as `core.listener_error`
   * to the other listeners of that event, or to `onUnhandledListenerError` when there are none.
   */
  emit(event: XEvent): void;
  /**
   * True when an emit of `type` would reach someone. Policies check this before building an
   * event or reading a clock for it, so an unobserved policy pays one branch.
   */
  hasListeners(type: XEventType): boolean;
  /**
   * Changes whenever a listener is added or removed. A hot path can cache its `hasListeners`
   * answers and re-ask only when this differs from the value it saw (a number compare instead of
   * a map lookup per call). Optional: a bus without it must be asked every time.
   */
  readonly version?: number;
  /**
   * Makes a live instance (a breaker, a bulkhead, an error budget) visible to exporters, which
   * read its gauges at scrape time. Held weakly: an instance nobody else references can still be
   * garbage-collected. Returns the function that untracks it.
   */
  track(source: string, name: string, instance: object): () => void;
  /** The live tracked instances, optionally only those of one source package. */
  tracked(source?: string): TrackedInstance[];
}

/** An instance registered with {@link EventBus.track}. */
export interface TrackedInstance {
  readonly source: string;
  readonly name: string;
  readonly instance: object;
}

/** Options of {@link createEventBus}. */
export interface EventBusOptions {
  /**
   * Called when a listener throws and no listener other than the one that threw would receive
   * the `'core.listener_error'` report (a lone `'*'` listener that throws lands here), and when a
   * listener throws while handling a `'core.listener_error'` event. Defaults to `console.error`,
   * so a broken listener is never silent. If this function throws, the bus falls back to
   * `console.error` for both errors; `emit` still returns normally.
   */
  readonly onUnhandledListenerError?: (error: unknown, event: XEvent) => void;
}

type AnyListener = (event: XEvent) => unknown;
const hasOwn = Object.prototype.hasOwnProperty;
const EMPTY: readonly AnyListener[] = [];

/**
 * Creates an event bus. Listener lists are copy-on-write, so subscribing or unsubscribing during
 * an emit never changes who receives that emit, and emitting allocates nothing.
 *
 * @example
 * ```ts
 * const events = createEventBus();
 * const breaker = createBreaker({ name: 'db', events });
 * events.on('*', (e) => console.log(e.type));
 * ```
 */
export function createEventBus(options: EventBusOptions = {}): EventBus {
  const byType = new Map<string, readonly AnyListener[]>();
  let wildcard: readonly AnyListener[] = EMPTY;
  // Own properties only (a value set on Object.prototype is never an option), checked at once.
  const given = hasOwn.call(options, 'onUnhandledListenerError') ? options.onUnhandledListenerError : undefined;
  if (given !== undefined && typeof given !== 'function') {
    throw new InvalidOptionsError('createEventBus', 'onUnhandledListenerError', given, 'a function (error, event) => void');
  }
  const onUnhandled = given ?? reportToConsole;

  function deliver(listeners: readonly AnyListener[], event: XEvent): void {
    for (let i = 0; i < listeners.length; i++) {
      const listener = listeners[i] as AnyListener;
      try {
        const returned = listener(event);
        // An async listener: a rejection later is reported like a throw now, never unhandled.
        if (typeof returned === 'function' || (typeof returned === 'object' && returned !== null)) {
          watchReturned(returned, (error) => reportListenerError(error, event, listener));
        }
      } catch (error) {
        reportListenerError(error, event, listener);
      }
    }
  }

  /** Never throws: a reporter that throws falls back to the console. */
  function unhandled(error: unknown, event: XEvent): void {
    try {
      onUnhandled(error, event);
    } catch (reporterError) {
      try {
        console.error('@x/core: onUnhandledListenerError threw', reporterError, 'while reporting', error);
      } catch {
        // Nothing is left to report to.
      }
    }
  }

  /**
   * Reports what `thrower` threw as a `core.listener_error` to every listener of that event other
   * than `thrower` (the thrower would only throw again, or ignore it). With no such listener, or
   * when the failing event was itself a listener error, the error goes to `onUnhandled`: a report
   * is never reported through the bus again, so this cannot recurse.
   */
  function reportListenerError(error: unknown, event: XEvent, thrower: AnyListener): void {
    if (event.type === 'core.listener_error') {
      unhandled(error, event);
      return;
    }
    const typed = byType.get('core.listener_error') ?? EMPTY;
    const all = wildcard;
    if (!hasOther(typed, thrower) && !hasOther(all, thrower)) {
      unhandled(error, event);
      return;
    }
    const report: ListenerErrorEvent = {
      type: 'core.listener_error',
      source: 'core',
      name: event.name,
      time: event.time,
      error,
      eventType: event.type,
    };
    deliverReport(typed, report, thrower);
    deliverReport(all, report, thrower);
  }

  function deliverReport(listeners: readonly AnyListener[], report: ListenerErrorEvent, thrower: AnyListener): void {
    for (let i = 0; i < listeners.length; i++) {
      const listener = listeners[i] as AnyListener;
      if (listener === thrower) continue;
      try {
        const returned = listener(report);
        if (typeof returned === 'function' || (typeof returned === 'object' && returned !== null)) {
          watchReturned(returned, (error) => unhandled(error, report));
        }
      } catch (error) {
        unhandled(error, report);
      }
    }
  }

  interface Entry {
    readonly source: string;
    readonly name: string;
    readonly ref: WeakRef<object>;
  }
  const entries = new Set<Entry>();

  const bus: EventBus & { version: number } = {
    version: 0,
    on(type, listener) {
      const fn = listener as AnyListener;
      bus.version++;
      if (type === '*') wildcard = [...wildcard, fn];
      else byType.set(type, [...(byType.get(type) ?? EMPTY), fn]);
      let subscribed = true;
      return () => {
        if (!subscribed) return;
        subscribed = false;
        bus.version++;
        if (type === '*') {
          wildcard = without(wildcard, fn);
          return;
        }
        const rest = without(byType.get(type) ?? EMPTY, fn);
        if (rest.length === 0) byType.delete(type);
        else byType.set(type, rest);
      };
    },
    emit(event) {
      // Both lists are read before any listener runs: subscribing or unsubscribing during this
      // emit (to the type or to '*') changes the next emit, not this one.
      const listeners = byType.get(event.type);
      const all = wildcard;
      if (listeners !== undefined) deliver(listeners, event);
      if (all.length > 0) deliver(all, event);
    },
    hasListeners(type) {
      return wildcard.length > 0 || byType.has(type);
    },
    track(source, name, instance) {
      const entry: Entry = { source, name, ref: new WeakRef(instance) };
      entries.add(entry);
      if (bus.hasListeners('core.instance_tracked')) {
        bus.emit({ type: 'core.instance_tracked', source: 'core', name, time: Date.now(), instanceSource: source });
      }
      return () => {
        entries.delete(entry);
      };
    },
    tracked(source) {
      const live: TrackedInstance[] = [];
      for (const entry of entries) {
        const instance = entry.ref.deref();
        if (instance === undefined) entries.delete(entry);
        else if (source === undefined || entry.source === source) live.push({ source: entry.source, name: entry.name, instance });
      }
      return live;
    },
  };
  return bus;
}

const promiseThen = Promise.prototype.then;

/**
 * Watches what a listener returned: when it is a promise (or any thenable) that rejects, or whose
 * `then` throws, `onRejected` gets the reason. The standard `then` is used on a native promise
 * whose own `then` was replaced; a non-promise object without a `then` function is ignored.
 */
function watchReturned(returned: object, onRejected: (error: unknown) => void): void {
  try {
    if (returned instanceof Promise) {
      promiseThen.call(returned, undefined, onRejected);
      return;
    }
    const then = (returned as { then?: unknown }).then;
    if (typeof then !== 'function') return;
    // Adopted from a job, so a `then` that throws becomes a rejection too.
    promiseThen.call(new Promise((resolve) => resolve(returned)), undefined, onRejected);
  } catch (error) {
    onRejected(error); // a `then` getter that throws
  }
}

function reportToConsole(error: unknown, event: XEvent): void {
  const original = event.type === 'core.listener_error' ? event.eventType : event.type;
  console.error(`@x/core: a listener for "${original}" events threw`, error);
}

/** Whether `list` holds a listener other than `fn`. */
function hasOther(list: readonly AnyListener[], fn: AnyListener): boolean {
  for (let i = 0; i < list.length; i++) if (list[i] !== fn) return true;
  return false;
}

function without(list: readonly AnyListener[], fn: AnyListener): readonly AnyListener[] {
  const i = list.indexOf(fn);
  if (i < 0) return list;
  return list.length === 1 ? EMPTY : [...list.slice(0, i), ...list.slice(i + 1)];
}

/** Where the default bus lives on `globalThis` (shared by every installed copy of core). @internal */
export const DEFAULT_BUS_KEY = Symbol.for('@x/core.defaultEventBus');

/**
 * The process-wide bus that policies use when given no `events` option. It lives on `globalThis`
 * under a registered symbol, so every installed copy of `@x/core` shares it and one exporter sees
 * every policy.
 *
 * @example
 * ```ts
 * defaultEventBus().on('breaker.state_change', (e) => console.log(e.name, e.from, '→', e.to));
 * ```
 */
export function defaultEventBus(): EventBus {
  const holder = globalThis as { [DEFAULT_BUS_KEY]?: EventBus };
  let bus = holder[DEFAULT_BUS_KEY];
  if (bus === undefined) {
    bus = createEventBus();
    holder[DEFAULT_BUS_KEY] = bus;
  }
  return bus;
}

/**
 * Registers `instance` with `bus` for scrape-time exporters, if the bus can track (a bus from an
 * older copy of core, or a hand-written one, may not). Returns the function that untracks it.
 *
 * @example
 * ```ts
 * this.#untrack = trackInstance(events, 'bulkhead', this.name, this);
 * ```
 */
export function trackInstance(bus: EventBus, source: string, name: string, instance: object): () => void {
  return typeof bus.track === 'function' ? bus.track(source, name, instance) : noop;
}

const noop = (): void => {};
