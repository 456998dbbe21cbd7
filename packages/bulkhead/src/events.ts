import type { BaseEvent } from '@x/core';
import type { BulkheadRejectReason } from './errors.js';

/** Counts every bulkhead event carries, taken right after the change it reports. */
export interface BulkheadLoad {
  /** Calls holding a slot. */
  readonly active: number;
  /** Calls waiting in the queue. */
  readonly queued: number;
  /** The concurrency limit. */
  readonly limit: number;
}

/**
 * A call got a slot, at once (`fromQueue: false`, `waitedMs: 0`) or after waiting in the queue.
 *
 * @example
 * ```ts
 * events.on('bulkhead.admitted', (e) => { if (e.fromQueue) waitHistogram.observe(e.waitedMs / 1000) });
 * ```
 */
export interface BulkheadAdmittedEvent extends BaseEvent, BulkheadLoad {
  readonly type: 'bulkhead.admitted';
  readonly source: 'bulkhead';
  /** Whether the call waited in the queue first. */
  readonly fromQueue: boolean;
  /** Milliseconds spent in the queue (0 when admitted at once). */
  readonly waitedMs: number;
}

/**
 * A call found every slot taken and joined the queue (`queued` counts it).
 *
 * @example
 * ```ts
 * events.on('bulkhead.queued', (e) => log.debug(`${e.name}: ${e.queued} waiting`));
 * ```
 */
export interface BulkheadQueuedEvent extends BaseEvent, BulkheadLoad {
  readonly type: 'bulkhead.queued';
  readonly source: 'bulkhead';
}

/**
 * A call left without a slot: the queue was full, it waited too long, or its caller aborted.
 * Exporters count these as `<prefix>_bulkhead_rejected_total{bulkhead, reason}`.
 *
 * @example
 * ```ts
 * events.on('bulkhead.rejected', (e) => rejected.inc({ bulkhead: e.name, reason: e.reason }));
 * ```
 */
export interface BulkheadRejectedEvent extends BaseEvent, BulkheadLoad {
  readonly type: 'bulkhead.rejected';
  readonly source: 'bulkhead';
  readonly reason: BulkheadRejectReason;
  /** Milliseconds spent in the queue before leaving (0 when rejected at once). */
  readonly waitedMs: number;
}

/**
 * `setLimit` changed the concurrency limit (`limit` is the new one).
 *
 * @example
 * ```ts
 * events.on('bulkhead.limit_changed', (e) => log.info(`${e.name}: limit ${e.from} → ${e.to}`));
 * ```
 */
export interface BulkheadLimitChangedEvent extends BaseEvent, BulkheadLoad {
  readonly type: 'bulkhead.limit_changed';
  readonly source: 'bulkhead';
  readonly from: number;
  readonly to: number;
}

/** Which adaptive algorithm drives a limit. */
export type AdaptiveAlgorithm = 'aimd' | 'gradient';

/**
 * What moved an adaptive limit: a dropped call (`'drop'`), latency above what the algorithm
 * tolerates (`'latency'`), or healthy samples letting it grow (`'increase'`).
 */
export type AdaptiveChangeCause = 'drop' | 'latency' | 'increase';

/**
 * An adaptive concurrency controller moved its limit (by at least one whole call) and passed
 * it to its target.
 *
 * @example
 * ```ts
 * events.on('bulkhead.adaptive_limit_changed', (e) => limitGauge.set({ name: e.name }, e.to));
 * ```
 */
export interface AdaptiveLimitChangedEvent extends BaseEvent {
  readonly type: 'bulkhead.adaptive_limit_changed';
  readonly source: 'bulkhead';
  readonly algorithm: AdaptiveAlgorithm;
  readonly from: number;
  readonly to: number;
  readonly cause: AdaptiveChangeCause;
  /** The latency the decision was based on: the sample (AIMD) or the window's mean (gradient). */
  readonly rttMs: number;
  /** The gradient algorithm's long-term baseline latency; undefined for AIMD. */
  readonly baselineRttMs: number | undefined;
}

/** Every event `@x/bulkhead` emits. */
export type BulkheadEvent =
  | BulkheadAdmittedEvent
  | BulkheadQueuedEvent
  | BulkheadRejectedEvent
  | BulkheadLimitChangedEvent
  | AdaptiveLimitChangedEvent;

declare module '@x/core' {
  interface XEventMap {
    'bulkhead.admitted': BulkheadAdmittedEvent;
    'bulkhead.queued': BulkheadQueuedEvent;
    'bulkhead.rejected': BulkheadRejectedEvent;
    'bulkhead.limit_changed': BulkheadLimitChangedEvent;
    'bulkhead.adaptive_limit_changed': AdaptiveLimitChangedEvent;
  }
}
