import type { EventBus } from '@x/core';
import type { Families } from '../families.js';

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
