import type { EventBus } from '@x/core';
import type { CounterFamily, CounterCell, Families } from '../families.js';

/**
 * The fields the exporter reads from an event. Declared here structurally (instead of importing
 * each package's types) so `@x/metrics` works with whichever packages are installed.
 */
export interface AnyEvent {
  readonly type: string;
  readonly source: string;
  readonly name: string;
  readonly [field: string]: unknown;
}

/** The metrics of one package, created on its first event or tracked instance. */
export interface SourceMetrics {
  onEvent(event: AnyEvent): void;
  /**
   * Born at 0: called when an instance of this package is tracked (`core.instance_tracked`), and
   * once for every instance already live when the collector attaches. Create here, at 0, every
   * series of an event-fed counter that this instance's events will increment (one per known
   * label set: a breaker's transitions, a budget's exhaustion), so the first event is an increase
   * Prometheus can see (`increase()` never sees a series' first sample). Use the same cells as
   * `onEvent` (see {@link labelledCells}). `instances()` lists the live instances tracked under
   * `name` (a lookup over every tracked instance: call it only when the label sets depend on the
   * instance, e.g. the name of its store). Counters read from `stats()` at scrape time need nothing
   * here: they report every label set the instance keeps, zeros included.
   */
  onTracked?(name: string, instances: () => readonly object[]): void;
}

/** One package the exporter knows: the event types it listens to and how to build its families. */
export interface Source {
  readonly source: string;
  /**
   * Only these types are subscribed to, so packages skip building every other event. Types that
   * exist only to time calls are left out when the collector does not record durations.
   */
  events(durations: boolean): readonly string[];
  create(families: Families, bus: EventBus): SourceMetrics;
}

export const seconds = (ms: unknown): number => (typeof ms === 'number' && ms > 0 ? ms / 1000 : 0);
export const text = (value: unknown): string => (typeof value === 'string' ? value : String(value));

/** Caches one value per instance name, so the hot path is a single Map lookup. */
export function perName<V>(make: (name: string) => V): (name: string) => V {
  const cache = new Map<string, V>();
  return (name) => {
    let value = cache.get(name);
    if (value === undefined) {
      value = make(name);
      cache.set(name, value);
    }
    return value;
  };
}

/**
 * The cells of a counter family keyed by their label values, in `labels` order: the event path
 * and the born-at-0 path ({@link SourceMetrics.onTracked}) go through it, so they always agree on
 * the series. The returned function creates a missing cell at 0.
 *
 * @example
 * ```ts
 * const changes = labelledCells(families.counter('circuit_breaker_state_changes_total', help), ['name', 'from_state', 'to_state']);
 * changes(event.name, from, to).value++;                 // onEvent
 * for (const [from, to] of KNOWN) changes(name, from, to); // onTracked: born at 0
 * ```
 */
export function labelledCells<L extends string>(family: CounterFamily, labels: readonly L[]): (...values: string[]) => CounterCell {
  return (...values) => {
    const key = values.join('\0');
    const cell = family.existing(key);
    if (cell !== undefined) return cell;
    const set: Record<string, string> = {};
    labels.forEach((label, i) => (set[label] = values[i] ?? ''));
    return family.cell(key, set);
  };
}

/**
 * Born-at-0 helper for per-store series: calls `born` with the name of each live instance's store
 * (a public `store` with a string `name`, as a store-backed rate limiter has). Instances whose store
 * is private or unnamed are skipped: their store series appear with their first event.
 *
 * @example
 * ```ts
 * onTracked(_name, instances) {
 *   bornStores(instances, (store) => storeErrors(store));
 * }
 * ```
 */
export function bornStores(instances: () => readonly object[], born: (store: string) => void): void {
  for (const instance of instances()) {
    const store = (instance as { store?: { name?: unknown } | null }).store;
    if (typeof store === 'object' && store !== null && typeof store.name === 'string') born(store.name);
  }
}
