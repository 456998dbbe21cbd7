import { XError, stacklessPrototype } from '@x/core';
import type { Writable } from '@x/core';

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
    super('BULKHEAD_FULL', rejectedMessage(bulkhead, reason, limit, maxQueue, waitedMs));
    this.bulkhead = bulkhead;
    this.reason = reason;
    this.limit = limit;
    this.maxQueue = maxQueue;
    this.waitedMs = waitedMs;
  }
}

function rejectedMessage(bulkhead: string, reason: BulkheadErrorReason, limit: number, maxQueue: number, waitedMs: number): string {
  return reason === 'full'
    ? `bulkhead "${bulkhead}" is full: ${limit} running, ${maxQueue} queued at most`
    : `bulkhead "${bulkhead}": no slot after waiting ${Math.round(waitedMs)} ms in the queue`;
}

// Prepared on first use (see core's `stacklessPrototype`).
let rejectedPrototype: BulkheadRejectedError | undefined;

/**
 * A {@link BulkheadRejectedError} built without running the `Error` constructor, so rejecting
 * under overload costs about as much as admitting a call. `message` and `stack` are computed from
 * the fields when read.
 *
 * @example
 * ```ts
 * return Promise.resolve({ ok: false, error: bulkheadRejection('db', 'full', 8, 16, 0) });
 * ```
 */
export function bulkheadRejection(
  bulkhead: string,
  reason: BulkheadErrorReason,
  limit: number,
  maxQueue: number,
  waitedMs: number,
): BulkheadRejectedError {
  rejectedPrototype ??= stacklessPrototype(BulkheadRejectedError, 'BulkheadRejectedError', (e) =>
    rejectedMessage(e.bulkhead, e.reason, e.limit, e.maxQueue, e.waitedMs),
  );
  const error = Object.create(rejectedPrototype) as Writable<BulkheadRejectedError>;
  error.code = 'BULKHEAD_FULL';
  error.bulkhead = bulkhead;
  error.reason = reason;
  error.limit = limit;
  error.maxQueue = maxQueue;
  error.waitedMs = waitedMs;
  return error;
}

declare module '@x/core' {
  interface XErrorMap {
    BULKHEAD_FULL: BulkheadRejectedError;
  }
}
