import { XError } from '@x/core';

/**
 * Why a lock (or a semaphore slot) was not granted:
 * - `'held'`: another holder has it (every semaphore slot is taken);
 * - `'store_unavailable'`: the store did not answer, or too few Redlock nodes did to form a
 *   quorum; the store events say which node failed and how;
 * - `'validity'`: a Redlock quorum granted it, but the attempt took so long that no validity
 *   was left (`ttlMs − elapsed − drift <= 0`); the partial grants were released;
 * - `'fence'`: Redlock only, a quorum of nodes had already issued a higher fence than the one
 *   proposed (clock skew between clients); the next attempt proposes a higher one.
 */
export type LockFailureReason = 'held' | 'store_unavailable' | 'validity' | 'fence';

/**
 * `acquire` gave up (`code: 'LOCK_NOT_ACQUIRED'`), or `tryLock` found the store unavailable. The
 * message and `reason` say why: held by another holder, the store (or the Redlock quorum)
 * failing, or the validity window exceeded.
 *
 * @example
 * ```ts
 * try {
 *   await using lease = await lock.acquire('invoice:42', { waitMs: 2_000 });
 * } catch (error) {
 *   if (isXError(error, 'LOCK_NOT_ACQUIRED') && error.reason === 'held') return busy();
 *   throw error;
 * }
 * ```
 */
export class LockNotAcquiredError extends XError<'LOCK_NOT_ACQUIRED'> {
  override name = 'LockNotAcquiredError';
  /** The lock's (or semaphore's) name. */
  readonly lock: string;
  /** The key that was not granted. */
  readonly key: string;
  /** Why the last attempt failed. */
  readonly reason: LockFailureReason;
  /** Attempts made. */
  readonly attempts: number;
  /** How long the caller waited, ms. */
  readonly waitedMs: number;

  constructor(lock: string, key: string, reason: LockFailureReason, attempts: number, waitedMs: number, detail?: string, cause?: unknown) {
    super('LOCK_NOT_ACQUIRED', notAcquiredMessage(lock, key, reason, attempts, waitedMs, detail), cause === undefined ? undefined : { cause });
    this.lock = lock;
    this.key = key;
    this.reason = reason;
    this.attempts = attempts;
    this.waitedMs = waitedMs;
  }
}

const REASON_TEXT: Record<LockFailureReason, string> = {
  held: 'it is held by another holder',
  store_unavailable: 'the store is unavailable',
  validity: 'the attempt took longer than the lease is valid (ttl − elapsed − drift <= 0)',
  fence: 'a quorum of nodes already issued a higher fence (clock skew between clients)',
};

function notAcquiredMessage(lock: string, key: string, reason: LockFailureReason, attempts: number, waitedMs: number, detail: string | undefined): string {
  const tries = attempts === 1 ? '1 attempt' : `${attempts} attempts`;
  return `lock "${lock}" did not get ${JSON.stringify(key.length > 80 ? `${key.slice(0, 80)}…` : key)} after ${tries} in ${Math.round(waitedMs)} ms: ${REASON_TEXT[reason]}${detail === undefined ? '' : ` (${detail})`}`;
}

/**
 * Why a lease stopped being held before it was released:
 * - `'expired'`: its validity ran out (not extended, or every extension failed until then);
 * - `'not_held'`: the store answered that the key is no longer this lease's (it expired there,
 *   or a Redlock quorum could not confirm it);
 * - `'max_hold'`: `withLock`'s `maxHoldMs` was reached; extension stopped.
 */
export type LockLostReason = 'expired' | 'not_held' | 'max_hold';

/**
 * A lease was lost (`code: 'LOCK_LOST'`): the reason its `signal` aborts with, and what
 * `withLock` rejects with when `fn` settled after the lease was lost (`cause` is `fn`'s error,
 * if it threw).
 *
 * @example
 * ```ts
 * await lock.withLock('report', async ({ signal }) => {
 *   signal.addEventListener('abort', () => console.warn(signal.reason)); // LockLostError
 * });
 * ```
 */
export class LockLostError extends XError<'LOCK_LOST'> {
  override name = 'LockLostError';
  /** The lock's (or semaphore's) name. */
  readonly lock: string;
  /** The key of the lost lease. */
  readonly key: string;
  /** Why it was lost. */
  readonly reason: LockLostReason;

  constructor(lock: string, key: string, reason: LockLostReason, cause?: unknown) {
    super('LOCK_LOST', `lock "${lock}" lost ${JSON.stringify(key.length > 80 ? `${key.slice(0, 80)}…` : key)}: ${LOST_TEXT[reason]}`, cause === undefined ? undefined : { cause });
    this.lock = lock;
    this.key = key;
    this.reason = reason;
  }
}

const LOST_TEXT: Record<LockLostReason, string> = {
  expired: 'its validity ran out before it could be extended',
  not_held: 'the store says it is no longer held by this lease',
  max_hold: 'maxHoldMs was reached',
};

declare module '@x/core' {
  interface XErrorMap {
    LOCK_NOT_ACQUIRED: LockNotAcquiredError;
    LOCK_LOST: LockLostError;
  }
}
