import { callError, isAbortedByCaller, toContext } from './context.js';
import { InvalidOptionsError } from './errors.js';
import type { ExecuteOptions, ExecutionContext } from './context.js';
import type { Clock } from './clock.js';
import { XError } from './errors.js';
import { DEFAULT_BUS_KEY } from './events.js';
import type { BaseEvent, EventBus } from './events.js';
import { checkClock, checkFunction, checkString, readOptions } from './options.js';

/** The result of `executeOutcome`: a value, or the error, never a rejection. */
export type Outcome<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: unknown };

/** A function a policy runs, given the execution context (with the policy's added fields). */
export type PolicyFn<T, Added extends object = object> = (ctx: ExecutionContext & Added) => T | PromiseLike<T>;

/**
 * What every `@x/*` policy implements, and what {@link compose} nests.
 *
 * `Added` types the context fields the policy adds for the function it runs; `Extra` types values
 * the policy may return instead of the function's own (a fallback's value).
 *
 * @example
 * ```ts
 * const policy: Policy = createBreaker({ name: 'db' });
 * const rows = await policy.execute(({ signal }) => db.query(sql, { signal }));
 * ```
 */
export interface Policy<Added extends object = object, Extra = never> {
  /** The instance name, used in events and metric labels. */
  readonly name: string;
  /**
   * Type-level only (never set at run time): lets {@link compose} read `Added` and `Extra` from
   * interfaces that extend `Policy` with members of their own, where inference through the
   * generic methods would give `unknown`.
   */
  readonly '~types'?: { readonly added: Added; readonly extra: Extra };
  /** Runs `fn` under the policy; rejects with the function's error or the policy's rejection. */
  execute<T>(fn: PolicyFn<T, Added>, options?: ExecuteOptions): Promise<T | Extra>;
  /** Like `execute`, but never rejects: failures come back as `{ ok: false, error }`. */
  executeOutcome<T>(fn: PolicyFn<T, Added>, options?: ExecuteOptions): Promise<Outcome<T | Extra>>;
}

type AnyPolicy = Policy<any, any>;
// Distributive over each policy in the union (a single inference over the union would collapse
// `{ tag: 'a' } | object` to `object`).
type AddedOf<P> = P extends { readonly '~types'?: infer T }
  ? NonNullable<T> extends { readonly added: infer A }
    ? A
    : never
  : never;
type ExtraOf<P> = P extends { readonly '~types'?: infer T }
  ? NonNullable<T> extends { readonly extra: infer E }
    ? E
    : never
  : never;
type UnionToIntersection<U> = (U extends unknown ? (x: U) => void : never) extends (x: infer I) => void ? I : never;

/** The policy {@link compose} returns for a given list of policies. */
export type ComposedPolicy<P extends readonly AnyPolicy[]> = Policy<
  UnionToIntersection<AddedOf<P[number]>> & object,
  ExtraOf<P[number]>
>;

const settle = <T>(promise: Promise<T>): Promise<Outcome<T>> =>
  promise.then(
    (value) => ({ ok: true, value }),
    (error: unknown) => ({ ok: false, error }),
  );

const promiseThen = Promise.prototype.then;

/**
 * A native promise for `value` whose `then` is the standard one, so a policy can chain on it
 * without user code running or throwing during the call. A native promise is handed back as it
 * is. One whose own `then` was replaced (or is a getter) is adopted by a new promise, which calls
 * that `then` from a job: a throw there becomes a rejection, and handlers it registers cannot
 * settle the call a second time. Never throws.
 *
 * @example
 * ```ts
 * const promise = toPromise(fn(ctx));
 * promise.then(recordSuccess, recordFailure);
 * ```
 */
export function toPromise<T>(value: T | PromiseLike<T>): Promise<T> {
  if (!(value instanceof Promise)) return Promise.resolve(value);
  let standard = false;
  try {
    standard = value.then === promiseThen;
  } catch {
    // A `then` getter that throws: adopting it below turns that into a rejection.
  }
  return standard ? (value as Promise<T>) : new Promise<T>((resolve) => resolve(value));
}

/**
 * Calls `fn(ctx)` and always returns a native promise that is safe to chain (see
 * {@link toPromise}): a synchronous throw becomes a rejection.
 *
 * @example
 * ```ts
 * const result = await invoke(fn, ctx);
 * ```
 */
export function invoke<T, C>(fn: (ctx: C) => T | PromiseLike<T>, ctx: C): Promise<T> {
  try {
    return toPromise(fn(ctx));
  } catch (error) {
    return Promise.reject(error);
  }
}

/**
 * Runs a promise-returning policy body and reports the result as an {@link Outcome}. Policies use
 * it to implement `executeOutcome` from `execute` when they have no cheaper path.
 *
 * @example
 * ```ts
 * executeOutcome(fn, options) { return toOutcome(this.execute(fn, options)) }
 * ```
 */
export function toOutcome<T>(promise: Promise<T>): Promise<Outcome<T>> {
  return settle(promise);
}

class ComposedPolicyImpl implements Policy<object, unknown> {
  readonly name: string;
  readonly #policies: readonly AnyPolicy[];

  constructor(policies: readonly AnyPolicy[]) {
    this.#policies = policies;
    this.name = policies.map((p) => p.name).join(' → ');
  }

  execute<T>(fn: PolicyFn<T>, options?: ExecuteOptions): Promise<unknown> {
    const bad = callError('compose.execute', fn, options);
    if (bad !== undefined) return Promise.reject(bad);
    return this.#run(0, fn, toContext(options));
  }

  executeOutcome<T>(fn: PolicyFn<T>, options?: ExecuteOptions): Promise<Outcome<unknown>> {
    const policies = this.#policies;
    const outer = policies[0] as AnyPolicy;
    const bad = callError('compose.executeOutcome', fn, options);
    if (bad !== undefined) return Promise.resolve({ ok: false, error: bad });
    const ctx = toContext(options);
    // A policy whose executeOutcome throws synchronously (a bug, a hand-written policy) still
    // gives an outcome: executeOutcome never throws or rejects.
    try {
      if (policies.length === 1) return outer.executeOutcome(fn, ctx);
      return outer.executeOutcome((inner: ExecutionContext) => this.#run(1, fn, inner), ctx);
    } catch (error) {
      return Promise.resolve({ ok: false, error });
    }
  }

  /** Runs layer `index` and the ones inside it; a synchronous throw from a layer becomes a rejection. */
  #run(index: number, fn: PolicyFn<unknown>, ctx: ExecutionContext): Promise<unknown> {
    const policy = this.#policies[index] as AnyPolicy;
    try {
      if (index === this.#policies.length - 1) return policy.execute(fn, ctx);
      return policy.execute((inner: ExecutionContext) => this.#run(index + 1, fn, inner), ctx);
    } catch (error) {
      return Promise.reject(error);
    }
  }
}

/**
 * Nests policies, outermost first: `compose(a, b, c).execute(fn)` runs
 * `a.execute(() => b.execute(() => c.execute(fn)))`. Every layer sees the context (signal,
 * deadline, attempt, added fields) of the layers outside it. Takes any number of policies.
 * A layer whose `execute` throws synchronously is treated as if it had rejected: `execute`
 * rejects and `executeOutcome` resolves to `{ ok: false, error }`; neither ever throws.
 *
 * The usual order is `fallback → ratelimit → bulkhead → breaker → retry → timeout → fn`, where a
 * retried call counts once in the breaker (the breaker sees the whole retried call), or
 * `retry → breaker → timeout`, where every attempt counts in the breaker.
 *
 * @example
 * ```ts
 * const resilient = compose(breaker, retry, createTimeout(2_000));
 * const user = await resilient.execute(({ signal }) => fetchUser(id, { signal }));
 * ```
 */
export function compose<const P extends readonly [AnyPolicy, ...AnyPolicy[]]>(...policies: P): ComposedPolicy<P> {
  if (policies.length === 0) throw new InvalidOptionsError('compose', 'policies', policies, 'at least one policy');
  for (let i = 0; i < policies.length; i++) checkPolicy('compose', i, policies[i]);
  return new ComposedPolicyImpl(policies) as unknown as ComposedPolicy<P>;
}

/** Throws `INVALID_OPTIONS` unless `value` looks like a policy (a factory passed by mistake, `{}`, `null`). */
function checkPolicy(owner: string, index: number, value: unknown): void {
  const p = value as Partial<AnyPolicy> | null;
  const ok = typeof p === 'object' && p !== null && typeof p.execute === 'function' && typeof p.executeOutcome === 'function';
  if (ok) return;
  const hint = typeof value === 'function' ? ' (a function was passed: call the factory, e.g. createRetry({...}), and pass what it returns)' : '';
  throw new InvalidOptionsError(owner, owner === 'compose' ? `policies[${index}]` : 'policy', value, `a policy (an object with execute and executeOutcome)${hint}`);
}

/** Computes a replacement value from the failure and the context the execution ran in. */
export type FallbackHandler<F> = (error: unknown, ctx: ExecutionContext) => F | PromiseLike<F>;

/** Options of {@link fallback}. */
export interface FallbackOptions {
  /** Instance name for events and metrics. Defaults to `'fallback'`. */
  readonly name?: string;
  /**
   * Which failures get the fallback value; others are rethrown. Defaults to every failure. A
   * caller's own abort is always rethrown: the caller asked to stop, not for a value. A value
   * judged a failure by `isFailureResult` arrives here as a {@link FailureResultError}.
   */
  readonly shouldHandle?: (error: unknown) => boolean;
  /**
   * Judges a returned value a failure (an HTTP response with status 503, a `{ ok: false }`
   * result), like Polly's `ShouldHandle` on results or cockatiel's `handleWhenResult`: the
   * handler then runs with a {@link FailureResultError} whose `result` is the value. A throw
   * from it counts as that failure too. Default: no value is a failure.
   */
  readonly isFailureResult?: (value: unknown) => boolean;
  /** Bus for the `fallback.served` event. Defaults to the process-wide bus. */
  readonly events?: EventBus;
  /** Clock for event times. Defaults to `systemClock`. */
  readonly clock?: Clock;
}

const FALLBACK_OPTIONS: readonly string[] = ['name', 'shouldHandle', 'isFailureResult', 'events', 'clock'];

/**
 * Emitted when a fallback replaces a failure with the handler's value (once the value is ready).
 *
 * @example
 * ```ts
 * events.on('fallback.served', (e) => log.warn(`${e.name} served a fallback`, e.error));
 * ```
 */
export interface FallbackServedEvent extends BaseEvent {
  readonly type: 'fallback.served';
  readonly source: 'fallback';
  /** The failure the value replaced (a {@link FailureResultError} for a failed result). */
  readonly error: unknown;
  /** Whether the failure was a returned value judged by `isFailureResult`, not an error. */
  readonly fromResult: boolean;
}

/**
 * The failure a policy records when `isFailureResult` judges a returned value a failure
 * (`code: 'FAILURE_RESULT'`). `result` is the value itself. A fallback hands it to its handler; a
 * breaker counts it (and keeps it as the `cause` of the rejections of a circuit it opened).
 *
 * @example
 * ```ts
 * const safe = fallback(() => cached, { isFailureResult: (r) => (r as Response).status >= 500 });
 * events.on('fallback.served', (e) => {
 *   if (isXError(e.error, 'FAILURE_RESULT')) console.log('bad result', e.error.result);
 * });
 * ```
 */
export class FailureResultError extends XError<'FAILURE_RESULT'> {
  /** The returned value that was judged a failure. */
  readonly result: unknown;
  /** The instance (policy name) that judged it. */
  readonly policy: string;

  constructor(policy: string, result: unknown) {
    super('FAILURE_RESULT', `${policy}: the returned value was judged a failure (isFailureResult)`);
    this.name = 'FailureResultError';
    this.policy = policy;
    this.result = result;
  }
}

declare module './errors.js' {
  interface XErrorMap {
    FAILURE_RESULT: FailureResultError;
  }
}

declare module './events.js' {
  interface XEventMap {
    'fallback.served': FallbackServedEvent;
  }
}

class FallbackPolicy implements Policy<object, unknown> {
  readonly name: string;
  readonly #inner: AnyPolicy | undefined;
  readonly #handler: FallbackHandler<unknown>;
  readonly #shouldHandle: ((error: unknown) => boolean) | undefined;
  readonly #isFailureResult: ((value: unknown) => boolean) | undefined;
  /** The bus given as `events`; undefined means the process-wide one, looked up when needed. */
  readonly #events: EventBus | undefined;
  readonly #clock: Clock;

  constructor(inner: AnyPolicy | undefined, handler: FallbackHandler<unknown>, options: FallbackOptions | undefined) {
    const o = readOptions('fallback', options, FALLBACK_OPTIONS);
    this.#inner = inner;
    this.#handler = handler;
    this.#shouldHandle = o.shouldHandle === undefined ? undefined : checkFunction<(error: unknown) => boolean>('fallback', 'shouldHandle', o.shouldHandle);
    this.#isFailureResult = o.isFailureResult === undefined ? undefined : checkFunction<(value: unknown) => boolean>('fallback', 'isFailureResult', o.isFailureResult);
    this.name = o.name === undefined ? 'fallback' : checkString('fallback', 'name', o.name);
    const events = o.events as Partial<EventBus> | null | undefined;
    if (events !== undefined && (typeof events !== 'object' || events === null || typeof events.emit !== 'function' || typeof events.hasListeners !== 'function')) {
      throw new InvalidOptionsError('fallback', 'events', events, 'an EventBus (on, emit, hasListeners)');
    }
    this.#events = events as EventBus | undefined;
    this.#clock = checkClock('fallback', o.clock);
  }

  execute<T>(fn: PolicyFn<T>, options?: ExecuteOptions): Promise<unknown> {
    // A wrong argument is the caller's bug: it is never replaced by a fallback value.
    const bad = callError('fallback.execute', fn, options);
    if (bad !== undefined) return Promise.reject(bad);
    const ctx = toContext(options);
    const inner = this.#inner;
    let run: Promise<unknown>;
    if (inner === undefined) run = invoke(fn, ctx);
    else {
      // A wrapped policy that throws synchronously fails like one that rejects: the handler runs.
      try {
        run = inner.execute(fn, ctx);
      } catch (error) {
        run = Promise.reject(error);
      }
    }
    const recover = (error: unknown, fromResult = false): unknown => {
      if (isAbortedByCaller(ctx)) throw error;
      if (this.#shouldHandle !== undefined && !this.#shouldHandle(error)) throw error;
      const value = this.#handler(error, ctx);
      // Without an `events` option: the process-wide bus, if anyone created it (nobody can listen
      // to a bus that does not exist yet), read without pulling the bus's code into this policy.
      const bus = this.#events ?? (globalThis as { [DEFAULT_BUS_KEY]?: EventBus })[DEFAULT_BUS_KEY];
      if (bus === undefined || !bus.hasListeners('fallback.served')) return value;
      return toPromise(value).then((served) => {
        bus.emit({ type: 'fallback.served', source: 'fallback', name: this.name, time: this.#clock.now(), error, fromResult });
        return served;
      });
    };
    const judge = this.#isFailureResult;
    // A wrapped policy may hand back the function's own promise, whose `then` could be anything.
    if (judge === undefined) return toPromise(run).then(undefined, recover);
    return toPromise(run).then((value) => {
      let failed: boolean;
      try {
        failed = judge(value);
      } catch (error) {
        return recover(error);
      }
      if (!failed) return value;
      if (isAbortedByCaller(ctx)) return value; // the caller stopped; nothing replaces what came back
      return recover(new FailureResultError(this.name, value), true);
    }, recover);
  }

  executeOutcome<T>(fn: PolicyFn<T>, options?: ExecuteOptions): Promise<Outcome<unknown>> {
    return settle(this.execute(fn, options));
  }
}

/**
 * Returns a value computed from the failure instead of rejecting. Either wraps a policy
 * (`fallback(policy, handler)`) or, given only a handler, is a policy of its own to put first in
 * {@link compose}. A caller's own abort is never replaced by a value. A wrapped policy whose
 * `execute` throws synchronously fails like one that rejects: the handler gets the error.
 *
 * With `isFailureResult`, a returned value can be a failure too (the handler gets a
 * {@link FailureResultError}). Each value served is reported as a `fallback.served` event.
 *
 * Options are checked at construction: an unknown key, a `shouldHandle` that is not a function or
 * a `name` that is not a non-empty string throws `INVALID_OPTIONS`, and so does a missing handler
 * or a first argument that is neither a handler nor a policy.
 *
 * @example
 * ```ts
 * const safe = fallback(breaker, (error) => ({ items: [], stale: true }));
 * const guarded = compose(fallback(() => cachedPrices), limiter.policy('prices'), breaker);
 * ```
 */
export function fallback<F>(handler: FallbackHandler<F>, options?: FallbackOptions): Policy<object, F>;
export function fallback<A extends object, E, F>(
  policy: Policy<A, E>,
  handler: FallbackHandler<F>,
  options?: FallbackOptions,
): Policy<A, E | F>;
export function fallback(
  policyOrHandler: AnyPolicy | FallbackHandler<unknown>,
  handlerOrOptions?: FallbackHandler<unknown> | FallbackOptions,
  maybeOptions?: FallbackOptions,
): AnyPolicy {
  // `null` options from plain-JS callers mean "no options", like undefined.
  if (typeof policyOrHandler === 'function') {
    return new FallbackPolicy(undefined, policyOrHandler, (handlerOrOptions as FallbackOptions | null | undefined) ?? undefined);
  }
  checkPolicy('fallback', 0, policyOrHandler);
  if (typeof handlerOrOptions !== 'function') throw new InvalidOptionsError('fallback', 'handler', handlerOrOptions, 'a function (error, ctx) => value');
  return new FallbackPolicy(policyOrHandler, handlerOrOptions, maybeOptions ?? undefined);
}
