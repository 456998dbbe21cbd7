import { XError } from '@x/core';

/**
 * Why a call did not get a slot:
 * - `'full'`: every slot was taken and the queue was full (or there is no queue);
 * - `'timeout'`: it waited `maxWaitMs`, or until its context's deadline, without getting a slot;
 * - `'aborted'`: the caller's signal aborted before it got a slot. Only stats and events use this
 *   reason: the caller's promise rejects with its own `signal.reason`, as every `@x` policy does.
 */
export type BulkheadRejectReason = 'full' | 'timeout' | 'aborted';

/** The reasons a {@link BulkheadRejectedError} can carry (an abort rejects with the caller's reason). */
export type BulkheadErrorReason = Exclude<BulkheadRejectReason, 'aborted'>;

/**
 * The rejection of a call that got no slot (`code: 'BULKHEAD_FULL'`): the queue was full
 * (`reason: 'full'`) or it waited too long (`reason: 'timeout'`). Built without a stack trace, so
 * rejecting under overload stays cheap. A caller that aborts while queued gets its own
 * `signal.reason` instead, never this error.
 *
 * @example
 * ```ts
 * try {
 *   await bulkhead.execute(() => db.query(sql));
 * } catch (error) {
 *   if (isXError(error, 'BULKHEAD_FULL')) return reply(503, { retry: error.reason === 'timeout' });
 *   throw error;
 * }
 * ```
 */
export class BulkheadRejectedError extends XError<'BULKHEAD_FULL'> {
  override name = 'BulkheadRejectedError';
  /** Instance name of the bulkhead that rejected the call. */
  readonly bulkhead: string;
  /** `'full'`: no slot and no room in the queue; `'timeout'`: waited too long in the queue. */
  readonly reason: BulkheadErrorReason;
  /** The concurrency limit when the call was rejected. */
  readonly limit: number;
  /** The bulkhead's queue capacity. */
  readonly maxQueue: number;
  /** Milliseconds the call spent queued (0 when rejected at once). */
  readonly waitedMs: number;

  constructor(bulkhead: string, reason: BulkheadErrorReason, limit: number, maxQueue: number, waitedMs: number) {
    super(
      'BULKHEAD_FULL',
      reason === 'full'
        ? `bulkhead "${bulkhead}" is full: ${limit} running, ${maxQueue} queued at most`
        : `bulkhead "${bulkhead}": no slot after waiting ${Math.round(waitedMs)} ms in the queue`,
    );
    this.bulkhead = bulkhead;
    this.reason = reason;
    this.limit = limit;
    this.maxQueue = maxQueue;
    this.waitedMs = waitedMs;
  }
}

declare module '@x/core' {
  interface XErrorMap {
    BULKHEAD_FULL: BulkheadRejectedError;
  }
}
