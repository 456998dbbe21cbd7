import { XError } from '@x/core';

/**
 * `add` was refused because the queue holds `maxSize` items and its `overflow` policy is
 * `'reject'` (`code: 'DLQ_FULL'`). The item was not recorded; a `dlq.overflow` event and the
 * `dropped` total say so, so it never disappears silently.
 *
 * @example
 * ```ts
 * try { await dlq.add(order, { error }) }
 * catch (e) { if (isXError(e, 'DLQ_FULL')) alertOnCall(e.queue, e.maxSize) }
 * ```
 */
export class DeadLetterQueueFullError extends XError<'DLQ_FULL'> {
  override name = 'DeadLetterQueueFullError';
  /** The queue's name. */
  readonly queue: string;
  /** The bound that was reached. */
  readonly maxSize: number;

  constructor(queue: string, maxSize: number) {
    super('DLQ_FULL', `dead-letter queue "${queue}" is full (maxSize ${maxSize}, overflow 'reject'): the item was not recorded`);
    this.queue = queue;
    this.maxSize = maxSize;
  }
}

/**
 * The store did not answer in time, was disconnected, or failed the call
 * (`code: 'DLQ_STORE_UNAVAILABLE'`). `add` rejects with it within the store's `timeoutMs` (unless
 * the queue buffers, see `onStoreError`); workers retry on their next poll.
 *
 * @example
 * ```ts
 * events.on('dlq.store_error', (e) => { if (isXError(e.error, 'DLQ_STORE_UNAVAILABLE')) page(e.name) });
 * ```
 */
export class DeadLetterStoreUnavailableError extends XError<'DLQ_STORE_UNAVAILABLE'> {
  override name = 'DeadLetterStoreUnavailableError';
  /** True when the call was sent and exceeded the store's `timeoutMs`. */
  readonly timedOut: boolean;

  constructor(message: string, timedOut: boolean, cause?: unknown) {
    super('DLQ_STORE_UNAVAILABLE', message, { cause });
    this.timedOut = timedOut;
  }
}

/**
 * An item, key or option given to a queue method is unusable (`code: 'DLQ_INVALID_ITEM'`): an item
 * that JSON cannot represent (a BigInt, a cycle, `undefined`, a function), a key that is not a
 * string, an unknown id format. Thrown synchronously by the checking step, delivered as a rejection.
 *
 * @example
 * ```ts
 * await dlq.add({ big: 1n }, { error }); // rejects: DLQ_INVALID_ITEM (BigInt cannot be serialized)
 * ```
 */
export class DeadLetterInvalidItemError extends XError<'DLQ_INVALID_ITEM'> {
  override name = 'DeadLetterInvalidItemError';

  constructor(message: string, cause?: unknown) {
    super('DLQ_INVALID_ITEM', message, { cause });
  }
}

/**
 * The queue was closed (`code: 'DLQ_CLOSED'`): `add`, `wrap`ped calls that must record, `start`
 * and the operators reject with it.
 *
 * @example
 * ```ts
 * await dlq.close();
 * await dlq.add(item, { error }); // rejects: DLQ_CLOSED
 * ```
 */
export class DeadLetterQueueClosedError extends XError<'DLQ_CLOSED'> {
  override name = 'DeadLetterQueueClosedError';

  constructor(queue: string) {
    super('DLQ_CLOSED', `dead-letter queue "${queue}" is closed`);
  }
}

/**
 * Wrap an error in it (or throw it) from `process` to say that retrying cannot help: the item goes
 * straight to *dead* without using its remaining attempts (`code: 'DLQ_PERMANENT'`). The original
 * error is the `cause` and is what the item's failure metadata records.
 *
 * @example
 * ```ts
 * const dlq = createDeadLetterQueue({ name: 'mail', process: async (m) => {
 *   if (!m.to.includes('@')) throw new PermanentFailureError(new Error('bad address'));
 *   await send(m);
 * } });
 * ```
 */
export class PermanentFailureError extends XError<'DLQ_PERMANENT'> {
  override name = 'PermanentFailureError';

  constructor(cause: unknown) {
    super('DLQ_PERMANENT', `permanent failure: ${messageOf(cause)}`, { cause });
  }
}

function messageOf(error: unknown): string {
  try {
    if (typeof error === 'object' && error !== null && typeof (error as { message?: unknown }).message === 'string') {
      return (error as { message: string }).message;
    }
    return String(error);
  } catch {
    return 'unprintable error';
  }
}

declare module '@x/core' {
  interface XErrorMap {
    DLQ_FULL: DeadLetterQueueFullError;
    DLQ_STORE_UNAVAILABLE: DeadLetterStoreUnavailableError;
    DLQ_INVALID_ITEM: DeadLetterInvalidItemError;
    DLQ_CLOSED: DeadLetterQueueClosedError;
    DLQ_PERMANENT: PermanentFailureError;
  }
}
