import type { Clock } from '../clock.js';
import { InvalidOptionsError, describeValue, withoutStack } from '../errors.js';
import { checkInteger } from '../options.js';
import { toPromise } from '../policy.js';
import { DeadlineQueue } from './deadline-queue.js';
import type { Deadlined } from './deadline-queue.js';
import { StoreUnavailableError } from './errors.js';
import type { StoreGuard } from './guard.js';
import { isNoScript } from './script.js';
import type { StoreScript } from './script.js';

/**
 * The part of an ioredis `Redis` or `Cluster` client the shared store code touches. Any client
 * with these members works (ioredis 5, iovalkey); packages call other commands through
 * {@link StoreCaller.command} with their own, wider client type.
 */
export interface StoreClient {
  /** ioredis' connection status; `'ready'` means commands can be sent. */
  readonly status?: string;
  /** Set by ioredis on `Cluster` instances. */
  readonly isCluster?: boolean;
  evalsha?(sha1: string, numkeys: number, ...args: (string | number)[]): unknown;
  eval?(script: string, numkeys: number, ...args: (string | number)[]): unknown;
  once?(event: string, listener: () => void): unknown;
  connect?(): unknown;
}

/** What a store call produced: the reply, or why there is none. Never a rejection. */
export type StoreResult<T = unknown> =
  | { readonly ok: true; readonly value: T }
  | {
      readonly ok: false;
      readonly error: unknown;
      /** True when the call missed its deadline. */
      readonly timedOut: boolean;
      /** True when the call was not sent because the guard is skipping a failing store. */
      readonly skipped: boolean;
    };

/** Settings of a {@link StoreCaller}. */
export interface StoreCallerSettings {
  /** The factory that owns the caller, for messages (`'redisLockStore'`). */
  readonly owner: string;
  /** Deadline of each call in ms, from the moment it is made. */
  readonly timeoutMs: number;
  readonly clock: Clock;
  /** Optional breaker: skips the store after repeated failures. */
  readonly guard?: StoreGuard | undefined;
  /**
   * Makes the error for a call that was not answered (deadline, connection down, misbehaving
   * client). Default: a {@link StoreUnavailableError}. Lets a package keep its own error code.
   */
  readonly unavailable?: ((message: string, timedOut: boolean) => unknown) | undefined;
}

/** Per-call settings of {@link StoreCaller.script} and {@link StoreCaller.command}. */
export interface StoreCallOptions {
  /** This call's deadline in ms, instead of the caller's `timeoutMs` (integer in [1, 3 600 000]). */
  readonly timeoutMs?: number | undefined;
  /**
   * Checks the reply's shape: a reply it refuses is a failed call (counted by the guard), with an
   * error that quotes it. For scripts whose replies the package parses.
   */
  readonly accept?: ((reply: unknown) => boolean) | undefined;
}

type Send<C> = (client: C) => unknown;

class Call<C extends StoreClient> implements Deadlined {
  settled = false;
  /** A script call already resent as EVAL after NOSCRIPT. */
  retried = false;
  declare resolve: (result: StoreResult) => void;

  constructor(
    readonly caller: StoreCaller<C>,
    readonly ticket: number,
    readonly deadline: number,
    readonly timeoutMs: number,
    readonly script: StoreScript | undefined,
    readonly argv: readonly (string | number)[] | undefined,
    readonly numkeys: number,
    readonly send: Send<C> | undefined,
    readonly accept: ((reply: unknown) => boolean) | undefined,
  ) {}

  expire(): void {
    this.caller.expired(this);
  }
}

const TIMEOUT_RANGE = { min: 1, max: 3_600_000 };
const WAIT_FOR_READY = new Set(['wait', 'connecting', 'connect']);

/**
 * Makes store calls that always settle, on time, with a result instead of a rejection: the one
 * path every `/redis` entry sends its commands through.
 *
 * - **Deadline.** Every call resolves within its `timeoutMs` (one shared timer per timeout value,
 *   not one per call). A reply after the deadline is ignored: the call already failed.
 * - **Misbehaving clients.** A client that throws synchronously, returns something that is not a
 *   promise, or rejects, gives a failed result; nothing escapes as an exception or an unhandled
 *   rejection.
 * - **Connections.** Before a client has ever been ready (a process starting), calls wait for it
 *   within their deadline instead of failing; after that, a connection that is not ready fails the
 *   call at once rather than letting ioredis queue it offline.
 * - **Scripts.** {@link StoreCaller.script} sends EVALSHA, and the script body once if Redis
 *   answers NOSCRIPT (restart, failover, `SCRIPT FLUSH`).
 * - **Guard.** With a {@link StoreGuard}, calls are skipped (a failed result with `skipped: true`,
 *   at in-memory cost) while the store is degraded, and one call probes it after the cooldown.
 *
 * @example
 * ```ts
 * const caller = new StoreCaller(redis, { owner: 'redisLockStore', timeoutMs: 100, clock: systemClock });
 * const result = await caller.script(ACQUIRE, [key], [token, ttlMs]);
 * if (result.ok) grant(result.value);
 * else if (result.timedOut) reportSlowRedis(result.error);
 * ```
 */
export class StoreCaller<C extends StoreClient = StoreClient> {
  readonly #client: C;
  readonly #owner: string;
  readonly #timeoutMs: number;
  readonly #clock: Clock;
  readonly #guard: StoreGuard | undefined;
  readonly #unavailable: (message: string, timedOut: boolean) => unknown;
  readonly #deadlines = new Map<number, DeadlineQueue>();
  #everReady = false;
  #waiting: Call<C>[] = [];
  #skipped: StoreResult | undefined = undefined;

  constructor(client: C, settings: StoreCallerSettings) {
    if ((typeof client !== 'object' && typeof client !== 'function') || client === null) {
      throw new InvalidOptionsError(settings.owner, 'redis', client, 'an ioredis Redis or Cluster instance');
    }
    this.#client = client;
    this.#owner = settings.owner;
    this.#timeoutMs = checkInteger(settings.owner, 'timeoutMs', settings.timeoutMs, TIMEOUT_RANGE);
    this.#clock = settings.clock;
    this.#guard = settings.guard;
    this.#unavailable = settings.unavailable ?? ((message, timedOut) => new StoreUnavailableError(message, timedOut));
  }

  /** The client calls are sent to. */
  get client(): C {
    return this.#client;
  }

  /**
   * Runs a Lua script: EVALSHA, then the body once on NOSCRIPT.
   *
   * @example
   * ```ts
   * const result = await caller.script(RELEASE, [key], [token]);
   * ```
   */
  script(script: StoreScript, keys: readonly string[], args: readonly (string | number)[], options?: StoreCallOptions): Promise<StoreResult> {
    return this.#start(script, keys.length === 0 ? args : keys.concat(args as string[]), keys.length, undefined, options);
  }

  /**
   * Sends any other command(s): `send` gets the client and returns the promise of the reply
   * (a `multi().…exec()` or `pipeline().…exec()` counts as one call).
   *
   * @example
   * ```ts
   * const result = await caller.command((redis) => redis.xadd(stream, '*', 'data', json));
   * ```
   */
  command(send: (client: C) => unknown, options?: StoreCallOptions): Promise<StoreResult> {
    return this.#start(undefined, undefined, 0, send, options);
  }

  #start(
    script: StoreScript | undefined,
    argv: readonly (string | number)[] | undefined,
    numkeys: number,
    send: Send<C> | undefined,
    options: StoreCallOptions | undefined,
  ): Promise<StoreResult> {
    const timeoutMs = options?.timeoutMs === undefined ? this.#timeoutMs : checkInteger(this.#owner, 'timeoutMs', options.timeoutMs, TIMEOUT_RANGE);
    const guard = this.#guard;
    const ticket = guard === undefined ? 0 : guard.admit();
    if (ticket < 0) return Promise.resolve(this.#skippedResult());
    const call = new Call<C>(this, ticket, this.#clock.now() + timeoutMs, timeoutMs, script, argv, numkeys, send, options?.accept);
    const promise = new Promise<StoreResult>((resolve) => {
      call.resolve = resolve;
    });
    let queue = this.#deadlines.get(timeoutMs);
    if (queue === undefined) {
      queue = new DeadlineQueue(this.#clock);
      this.#deadlines.set(timeoutMs, queue);
    }
    queue.add(call);

    let status: unknown;
    try {
      status = this.#client.status;
    } catch (error) {
      this.#fail(call, error, false);
      return promise;
    }
    if (status === 'ready' || status === undefined) {
      if (status === 'ready') this.#everReady = true;
      this.#send(call);
    } else if (!this.#everReady && typeof status === 'string' && WAIT_FOR_READY.has(status)) {
      // A client we cannot wait on (no `once`) gets the command: it queues or fails it itself.
      if (typeof this.#client.once === 'function') this.#waitForReady(call, status);
      else this.#send(call);
    } else {
      this.#fail(call, withoutStack(() => this.#unavailable(`${this.#owner}: the redis connection is "${String(status)}"`, false)), false);
    }
    return promise;
  }

  /** A process's first calls: wait (within the deadline) for the connection being made. */
  #waitForReady(call: Call<C>, status: string): void {
    const waiting = this.#waiting;
    waiting.push(call);
    if (waiting.length > 1) {
      // Calls that expired while waiting are dropped now and then, so a Redis that never comes up
      // does not grow the list without bound.
      if (waiting.length > 1024) this.#waiting = waiting.filter((waiter) => !waiter.settled);
      return;
    }
    const client = this.#client;
    try {
      client.once?.('ready', () => {
        this.#everReady = true;
        const waiting = this.#waiting;
        this.#waiting = [];
        for (const waiter of waiting) if (!waiter.settled) this.#send(waiter);
      });
      // A lazily connecting client (ioredis `lazyConnect`) connects on its first command; waiting
      // without one would wait forever, so start the connection.
      if (status === 'wait' && typeof client.connect === 'function') {
        const connecting = client.connect();
        if (connecting instanceof Promise) connecting.then(undefined, () => undefined);
      }
    } catch (error) {
      const waiting = this.#waiting;
      this.#waiting = [];
      for (const waiter of waiting) this.#fail(waiter, error, false);
    }
  }

  #send(call: Call<C>): void {
    const client = this.#client;
    let sent: unknown;
    try {
      const script = call.script;
      if (script === undefined) sent = (call.send as Send<C>)(client);
      else if (call.retried) sent = (client.eval as NonNullable<StoreClient['eval']>)(script.source, call.numkeys, ...(call.argv as (string | number)[]));
      else sent = (client.evalsha as NonNullable<StoreClient['evalsha']>)(script.sha, call.numkeys, ...(call.argv as (string | number)[]));
    } catch (error) {
      this.#fail(call, error, false);
      return;
    }
    if ((typeof sent !== 'object' && typeof sent !== 'function') || sent === null) {
      const error = withoutStack(() => this.#unavailable(`${this.#owner}: the redis client returned ${describeValue(sent)} instead of a promise`, false));
      this.#fail(call, error, false);
      return;
    }
    toPromise(sent).then(
      (value) => this.#answered(call, value),
      (error: unknown) => this.#errored(call, error),
    );
  }

  #answered(call: Call<C>, value: unknown): void {
    if (call.settled) return;
    const accept = call.accept;
    if (accept !== undefined && !accept(value)) {
      this.#fail(call, new Error(`${this.#owner}: unexpected reply from redis: ${describeReply(value)}`), false);
      return;
    }
    call.settled = true;
    this.#guard?.succeeded(call.ticket);
    call.resolve({ ok: true, value });
  }

  #errored(call: Call<C>, error: unknown): void {
    if (call.settled) return;
    if (call.script !== undefined && !call.retried && isNoScript(error)) {
      call.retried = true;
      this.#send(call);
      return;
    }
    this.#fail(call, error, false);
  }

  #fail(call: Call<C>, error: unknown, timedOut: boolean): void {
    if (call.settled) return;
    call.settled = true;
    this.#guard?.failed(call.ticket, error, timedOut);
    call.resolve({ ok: false, error, timedOut, skipped: false });
  }

  /** Called by a call's deadline. */
  expired(call: Call<C>): void {
    if (call.settled) return;
    const error = withoutStack(() => this.#unavailable(`${this.#owner}: redis did not answer within ${call.timeoutMs} ms`, true));
    this.#fail(call, error, true);
  }

  #skippedResult(): StoreResult {
    this.#skipped ??= Object.freeze({
      ok: false,
      error: withoutStack(() => this.#unavailable(`${this.#owner}: redis is skipped after repeated failures`, false)),
      timedOut: false,
      skipped: true,
    });
    return this.#skipped;
  }
}

function describeReply(value: unknown): string {
  try {
    const text = JSON.stringify(value);
    return text === undefined ? String(value) : text.length > 200 ? `${text.slice(0, 200)}…` : text;
  } catch {
    return describeValue(value);
  }
}
