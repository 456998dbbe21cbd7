import type { BaseEvent } from '@x/core';

/** The kinds of instance a manager holds (`get(kind, name)`). */
export type InstanceKind = 'breaker' | 'breaker_group' | 'retry' | 'timeout' | 'bulkhead' | 'rate_limiter' | 'error_budget' | 'health_monitor' | 'operation';

/**
 * How a change was applied: `in_place` on the live instance (its state kept), `replaced` by a new
 * instance of a stateless policy (calls in flight finish under the old settings), `added` or
 * `removed`.
 */
export type ChangeMode = 'in_place' | 'replaced' | 'added' | 'removed';

/**
 * One change a reload applied.
 *
 * @example
 * ```ts
 * events.on('resilience.change_applied', (e) => log(`${e.kind} ${e.name}: ${e.setting} ${e.from} -> ${e.to} (${e.mode})`));
 * ```
 */
export interface ResilienceChangeAppliedEvent extends BaseEvent {
  readonly type: 'resilience.change_applied';
  readonly source: 'resilience';
  readonly kind: InstanceKind;
  /** The setting, e.g. `limit`; `'*'` for a whole instance added or removed. */
  readonly setting: string;
  readonly from: unknown;
  readonly to: unknown;
  readonly mode: ChangeMode;
}

/**
 * A change a reload could not apply without losing state; the old setting stays in force.
 *
 * @example
 * ```ts
 * events.on('resilience.change_skipped', (e) => log.warn(`${e.kind} ${e.name}.${e.setting}: ${e.reason}`));
 * ```
 */
export interface ResilienceChangeSkippedEvent extends BaseEvent {
  readonly type: 'resilience.change_skipped';
  readonly source: 'resilience';
  readonly kind: InstanceKind;
  readonly setting: string;
  readonly from: unknown;
  readonly to: unknown;
  readonly reason: string;
}

/**
 * A reload finished (after its per-change events).
 *
 * @example
 * ```ts
 * events.on('resilience.reloaded', (e) => log(`${e.applied} applied, ${e.skipped} skipped`));
 * ```
 */
export interface ResilienceReloadedEvent extends BaseEvent {
  readonly type: 'resilience.reloaded';
  readonly source: 'resilience';
  readonly applied: number;
  readonly skipped: number;
}

/**
 * A reload failed (the file could not be read or is invalid); the running config stays.
 *
 * @example
 * ```ts
 * events.on('resilience.reload_failed', (e) => log.error(e.error));
 * ```
 */
export interface ResilienceReloadFailedEvent extends BaseEvent {
  readonly type: 'resilience.reload_failed';
  readonly source: 'resilience';
  readonly error: unknown;
}

/** Every event of `@x/resilience`. */
export type ResilienceEvent = ResilienceChangeAppliedEvent | ResilienceChangeSkippedEvent | ResilienceReloadedEvent | ResilienceReloadFailedEvent;

declare module '@x/core' {
  interface XEventMap {
    'resilience.change_applied': ResilienceChangeAppliedEvent;
    'resilience.change_skipped': ResilienceChangeSkippedEvent;
    'resilience.reloaded': ResilienceReloadedEvent;
    'resilience.reload_failed': ResilienceReloadFailedEvent;
  }
}
