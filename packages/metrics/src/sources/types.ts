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

/** The metrics of one package: created on its first event or tracked instance. */
export interface SourceMetrics {
  onEvent(event: AnyEvent): void;
}

/** Builds one package's families in `families`; `bus` gives access to its live instances. */
export type SourceFactory = (families: Families, bus: EventBus) => SourceMetrics;

export const seconds = (ms: unknown): number => (typeof ms === 'number' && ms > 0 ? ms / 1000 : 0);
export const text = (value: unknown): string => (typeof value === 'string' ? value : String(value));
