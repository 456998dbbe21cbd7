import { XError, stacklessPrototype } from '@x/core';
import type { Writable } from '@x/core';

/** Why a call was refused by a circuit that is not letting calls through. */
export type BreakerOpenReason = 'open' | 'half_open_full';

/** The state a {@link BreakerOpenError} was raised in. */
export type BreakerRejectingState = 'open' | 'half_open' | 'isolated';

/**
 * Rejection of a call the circuit did not let through (`code: 'BREAKER_OPEN'`): the circuit is
 * open, isolated, or half-open with every probe permit taken. The function was not called.
 *
 * `retryAfterMs` says when trying again makes sense:
 * - open: exactly the time until the circuit turns half-open;
 * - half-open with every permit taken: an upper bound, the time until the oldest probe's lease
 *   runs out (a permit may free sooner, when a probe settles);
 * - isolated: `Infinity`, because only a manual control ends isolation.
 *
 * A retry policy should not retry this error unless `retryAfterMs` fits before its deadline.
 *
 * @example
 * ```ts
 * const result = await breaker.executeOutcome(() => fetchPrices());
 * if (!result.ok && isXError(result.error, 'BREAKER_OPEN')) {
 *   console.log(`${result.error.breaker} is open, retry in ${result.error.retryAfterMs} ms`);
 * }
 * ```
 */
export class BreakerOpenError extends XError<'BREAKER_OPEN'> {
  /** Instance name of the breaker that refused the call. */
  readonly breaker: string;
  /** The state the breaker was in. */
  readonly state: BreakerRejectingState;
  /** `'open'` for an open or isolated circuit, `'half_open_full'` when every probe permit is taken. */
  readonly reason: BreakerOpenReason;
  /** Milliseconds until a call may be admitted; see the class description. */
  readonly retryAfterMs: number;

  /**
   * The failure that opened the circuit (the last failure counted before it tripped, or the probe
   * failure that reopened it), as the standard `cause`; undefined for a manual open or isolation
   * and for a circuit opened by slow calls.
   */
  declare readonly cause: unknown;

  constructor(breaker: string, state: BreakerRejectingState, reason: BreakerOpenReason, retryAfterMs: number, cause?: unknown) {
    super('BREAKER_OPEN', openMessage(breaker, state, retryAfterMs), cause === undefined ? undefined : { cause });
    this.name = 'BreakerOpenError';
    this.breaker = breaker;
    this.state = state;
    this.reason = reason;
    this.retryAfterMs = retryAfterMs;
  }

}

function openMessage(breaker: string, state: BreakerRejectingState, retryAfterMs: number): string {
  if (state === 'isolated') return `circuit "${breaker}" is isolated; it stays open until released`;
  const when = Number.isFinite(retryAfterMs) ? `retry after ${Math.ceil(retryAfterMs)} ms` : 'no retry time known';
  if (state === 'half_open') return `circuit "${breaker}" is half-open and every probe permit is taken; ${when}`;
  return `circuit "${breaker}" is open; ${when}`;
}

/**
 * Rejection of a call beyond the breaker's `maxConcurrent` limit (`code: 'BREAKER_TOO_MANY_CALLS'`).
 * The function was not called, and the rejection does not count as a failure of the dependency.
 *
 * @example
 * ```ts
 * try { await breaker.execute(call) }
 * catch (e) { if (isXError(e, 'BREAKER_TOO_MANY_CALLS')) shedLoad() }
 * ```
 */
export class BreakerTooManyCallsError extends XError<'BREAKER_TOO_MANY_CALLS'> {
  /** Instance name of the breaker that refused the call. */
  readonly breaker: string;
  /** The configured limit of running calls. */
  readonly maxConcurrent: number;

  constructor(breaker: string, maxConcurrent: number) {
    super('BREAKER_TOO_MANY_CALLS', tooManyMessage(breaker, maxConcurrent));
    this.name = 'BreakerTooManyCallsError';
    this.breaker = breaker;
    this.maxConcurrent = maxConcurrent;
  }

}

function tooManyMessage(breaker: string, maxConcurrent: number): string {
  return `circuit "${breaker}" already runs ${maxConcurrent} calls (maxConcurrent)`;
}

/**
 * What a half-open probe that outlived `probeTimeoutMs` is recorded as (`code:
 * 'BREAKER_PROBE_TIMEOUT'`). It is never thrown to a caller (the probe's own promise still settles
 * with whatever the function does); it appears as `stats().lastError` and in the
 * `breaker.failure` event that reopened the circuit.
 *
 * @example
 * ```ts
 * events.on('breaker.failure', (e) => {
 *   if (isXError(e.error, 'BREAKER_PROBE_TIMEOUT')) console.warn(`${e.name}: probe hung`);
 * });
 * ```
 */
export class BreakerProbeTimeoutError extends XError<'BREAKER_PROBE_TIMEOUT'> {
  /** Instance name of the breaker. */
  readonly breaker: string;
  /** The lease the probe had, in milliseconds. */
  readonly probeTimeoutMs: number;

  constructor(breaker: string, probeTimeoutMs: number) {
    super('BREAKER_PROBE_TIMEOUT', `circuit "${breaker}": a half-open probe did not settle within ${probeTimeoutMs} ms`);
    this.name = 'BreakerProbeTimeoutError';
    this.breaker = breaker;
    this.probeTimeoutMs = probeTimeoutMs;
  }
}

// Prepared on first use (see core's `stacklessPrototype`).
let openPrototype: BreakerOpenError | undefined;
let tooManyPrototype: BreakerTooManyCallsError | undefined;

/**
 * The rejection of an open circuit, built without running the `Error` constructor (see core's
 * `stacklessPrototype`): cheaper than the call it refuses. `message` and `stack` are computed from
 * the fields when read.
 *
 * @example
 * ```ts
 * return Promise.resolve({ ok: false, error: openRejection('db', 'open', 'open', 1_500, lastFailure) });
 * ```
 */
export function openRejection(
  breaker: string,
  state: BreakerRejectingState,
  reason: BreakerOpenReason,
  retryAfterMs: number,
  cause?: unknown,
): BreakerOpenError {
  openPrototype ??= stacklessPrototype(BreakerOpenError, 'BreakerOpenError', (e) => openMessage(e.breaker, e.state, e.retryAfterMs));
  const error = Object.create(openPrototype) as Writable<BreakerOpenError>;
  error.code = 'BREAKER_OPEN';
  error.breaker = breaker;
  error.state = state;
  error.reason = reason;
  error.retryAfterMs = retryAfterMs;
  if (cause !== undefined) error.cause = cause;
  return error;
}

/**
 * The stackless counterpart of `new BreakerTooManyCallsError(...)`; see {@link openRejection}.
 *
 * @example
 * ```ts
 * return Promise.reject(tooManyRejection('db', 100));
 * ```
 */
export function tooManyRejection(breaker: string, maxConcurrent: number): BreakerTooManyCallsError {
  tooManyPrototype ??= stacklessPrototype(BreakerTooManyCallsError, 'BreakerTooManyCallsError', (e) =>
    tooManyMessage(e.breaker, e.maxConcurrent),
  );
  const error = Object.create(tooManyPrototype) as Writable<BreakerTooManyCallsError>;
  error.code = 'BREAKER_TOO_MANY_CALLS';
  error.breaker = breaker;
  error.maxConcurrent = maxConcurrent;
  return error;
}

declare module '@x/core' {
  interface XErrorMap {
    BREAKER_OPEN: BreakerOpenError;
    BREAKER_TOO_MANY_CALLS: BreakerTooManyCallsError;
    BREAKER_PROBE_TIMEOUT: BreakerProbeTimeoutError;
  }
}
