import { callError, invoke, isContextAborted, toContext, toOutcome } from '@x/core';
import type { ExecuteOptions, ExecutionContext, Outcome, Policy, PolicyFn } from '@x/core';
import { Decision } from './decision.js';
import type { Failed } from './waiter.js';

/** Options of `limiter.policy(key, options)`. */
export interface RateLimitPolicyOptions {
  /** Cost units each execution takes (integer in [1, burst]). Default 1. */
  readonly cost?: number | undefined;
  /**
   * Longest wait for capacity per execution, in ms (>= 0, `Infinity` allowed); never past the
   * caller's `deadline`. Default: the limiter's `maxWaitMs`.
   */
  readonly maxWaitMs?: number | undefined;
  /** The policy's name (in `compose` names). Default: the limiter's name. */
  readonly name?: string | undefined;
}

/**
 * What a limiter offers its policies: one admission, which is immediate (a `Decision`), an
 * immediate failure (`Failed`), or a wait.
 *
 * @example
 * ```ts
 * const gate = host.begin(key, 1, 0, ctx.deadline, ctx, undefined, false);
 * ```
 */
export interface PolicyHost {
  begin(
    key: string,
    cost: number,
    maxWait: number,
    deadline: number | undefined,
    ctx: ExecutionContext | undefined,
    signal: AbortSignal | undefined,
    outcome: boolean,
  ): Decision | Failed | Promise<Decision | Failed>;
}

/**
 * A limiter as a core {@link Policy}: each execution is admitted under one key before `fn` runs.
 * The admission path allocates nothing beyond the decision; a rejection is a stackless
 * `RateLimitedError`, and `executeOutcome` reports it without throwing anywhere.
 *
 * @example
 * ```ts
 * const guarded = compose(limiter.policy('search', { maxWaitMs: 500 }), breaker, timeout);
 * const result = await guarded.executeOutcome(({ signal }) => search(q, { signal }));
 * ```
 */
export class LimiterPolicy implements Policy {
  readonly name: string;
  readonly #host: PolicyHost;
  readonly #key: string;
  readonly #cost: number;
  readonly #maxWait: number;

  constructor(name: string, host: PolicyHost, key: string, cost: number, maxWait: number) {
    this.name = name;
    this.#host = host;
    this.#key = key;
    this.#cost = cost;
    this.#maxWait = maxWait;
  }

  execute<T>(fn: PolicyFn<T>, options?: ExecuteOptions): Promise<T> {
    const bad = callError('ratelimit.execute', fn, options);
    if (bad !== undefined) return Promise.reject(bad);
    const ctx = toContext(options);
    if (isContextAborted(ctx)) return Promise.reject(ctx.signal.reason);
    const gate = this.#host.begin(this.#key, this.#cost, this.#maxWait, ctx.deadline, ctx, undefined, false);
    if (gate instanceof Decision) return invoke(fn, ctx);
    if (gate instanceof Promise) return gate.then(() => invoke(fn, ctx));
    return Promise.reject(gate.error);
  }

  executeOutcome<T>(fn: PolicyFn<T>, options?: ExecuteOptions): Promise<Outcome<T>> {
    const bad = callError('ratelimit.executeOutcome', fn, options);
    if (bad !== undefined) return Promise.resolve({ ok: false, error: bad });
    const ctx = toContext(options);
    if (isContextAborted(ctx)) return Promise.resolve({ ok: false, error: ctx.signal.reason });
    const gate = this.#host.begin(this.#key, this.#cost, this.#maxWait, ctx.deadline, ctx, undefined, true);
    if (gate instanceof Decision) return toOutcome(invoke(fn, ctx));
    if (gate instanceof Promise) {
      return gate.then((admitted): Outcome<T> | Promise<Outcome<T>> =>
        admitted instanceof Decision ? toOutcome(invoke(fn, ctx)) : admitted,
      );
    }
    return Promise.resolve(gate);
  }
}
