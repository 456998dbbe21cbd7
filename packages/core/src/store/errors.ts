import { XError } from '../errors.js';

/**
 * A store call that produced no answer: it missed its deadline (`timedOut`), the connection was
 * down so it was not sent, the client misbehaved (threw synchronously, returned no promise), or
 * the store is being skipped after repeated failures (`skipped`). `code: 'STORE_UNAVAILABLE'`.
 *
 * @example
 * ```ts
 * const result = await caller.command((redis) => redis.get(key));
 * if (!result.ok && isXError(result.error, 'STORE_UNAVAILABLE')) useFallback();
 * ```
 */
export class StoreUnavailableError extends XError<'STORE_UNAVAILABLE'> {
  override name = 'StoreUnavailableError';
  /** True when the call missed its deadline. */
  readonly timedOut: boolean;

  constructor(message: string, timedOut: boolean) {
    super('STORE_UNAVAILABLE', message);
    this.timedOut = timedOut;
  }
}
