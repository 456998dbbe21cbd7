import type { Clock } from './clock.js';
import { InvalidOptionsError } from './errors.js';

/**
 * What a policy passes to the function it runs. Policies may add fields; {@link compose} makes
 * every layer's fields visible to the innermost function.
 */
export interface ExecutionContext {
  /**
   * Aborts when the caller aborts or an enclosing timeout fires. Created on first read, so a
   * function that never looks at it costs no `AbortController`.
   */
  readonly signal: AbortSignal;
  /** 1 for the first call; a retry policy raises it for each further attempt. */
  readonly attempt: number;
  /**
   * Absolute time (in the policies' `clock.now()` units) by which the whole execution must end,
   * or undefined when nothing set one. Inner layers never wait past it.
   */
  readonly deadline: number | undefined;
}

/** What a caller may pass as the second argument of `execute`. */
export interface ExecuteOptions {
  /** Aborting it cancels the execution: waits end at once and the function's signal aborts. */
  readonly signal?: AbortSignal | undefined;
  /** Absolute time (`clock.now()` units) by which the execution must end. */
  readonly deadline?: number | undefined;
}

/**
 * Produces a context's abort signal on demand. A timeout implements this so that no controller
 * or timer exists unless the function actually reads `ctx.signal`.
 */
export interface SignalSource {
  /** The signal; created on first read and the same object afterwards. */
  readonly signal: AbortSignal;
  /** Whether the signal is (or would be, once created) aborted; must not create it. */
  readonly aborted: boolean;
}

/**
 * Fields of {@link Context} itself (and the `signal` accessor); everything else on a context is a
 * field a policy added. A policy's `fields` may not set them, and copying fields skips them.
 */
const CORE_FIELDS: ReadonlySet<string> = new Set(['attempt', 'deadline', 'signal', '_signal', '_source', '_idle', '_extras']);
const hasOwn = Object.prototype.hasOwnProperty;

/**
 * The one context class, with a fixed shape so V8 keeps property access monomorphic. A derived
 * context is a copy (a few fields), never `Object.create(parent)`: turning a fresh object into a
 * prototype costs V8 microseconds. Fields added by policies are copied only when there are some.
 */
class Context implements ExecutionContext {
  attempt: number;
  deadline: number | undefined;
  /** A signal that can really abort: the caller's, or one materialised from `_source`. */
  _signal: AbortSignal | undefined;
  _source: SignalSource | undefined;
  /** A never-aborting signal handed out when user code reads `signal` and nothing can abort. */
  _idle: AbortSignal | undefined;
  /** Whether policies added fields of their own (copied into children). */
  _extras: boolean;

  constructor(
    signal: AbortSignal | undefined,
    source: SignalSource | undefined,
    idle: AbortSignal | undefined,
    deadline: number | undefined,
    attempt: number,
  ) {
    this._signal = signal;
    this._source = source;
    this._idle = idle;
    this.deadline = deadline;
    this.attempt = attempt;
    this._extras = false;
  }

  get signal(): AbortSignal {
    const real = this._signal;
    if (real !== undefined) return real;
    const source = this._source;
    if (source !== undefined) return (this._signal = source.signal);
    // The shared root hands out a fresh signal per read: listeners left on it by user code must
    // not pile up across calls. It never aborts, so two reads differing changes nothing.
    if (this === SHARED_ROOT) return new AbortController().signal;
    return (this._idle ??= new AbortController().signal);
  }

  set signal(signal: AbortSignal) {
    this._signal = signal;
    this._source = undefined;
  }
}

/**
 * The context of every call made without a signal or deadline: nothing about it varies, so one
 * object serves them all and a plain `execute(fn)` allocates no context. Never mutated: children
 * are copies.
 */
const SHARED_ROOT = new Context(undefined, undefined, undefined, undefined, 1);

/**
 * Turns what a caller passed to `execute` into a context. A context from an enclosing policy is
 * returned as it is, so fields and the lazy signal flow through unchanged. A context-like object
 * that is not this copy's own (it has an `attempt`: a plain object, or a context made by another
 * copy of `@x/core`) is rebuilt with its own enumerable fields, so fields other policies added
 * survive; plain `{ signal, deadline }` options carry no fields.
 *
 * Throws `INVALID_OPTIONS` when `options` is not an object, or its `signal` is not an
 * `AbortSignal` or its `deadline` not a number (NaN included); `undefined` and `null` options
 * mean none.
 *
 * @example
 * ```ts
 * execute(fn, options) { const ctx = toContext(options); return run(fn, ctx) }
 * ```
 */
export function toContext(options?: ExecuteOptions | ExecutionContext): ExecutionContext {
  if (options instanceof Context) return options;
  // `null` from plain-JS callers means "no options", like undefined.
  if (options === undefined || options === null) return SHARED_ROOT;
  if (typeof options !== 'object') throw new InvalidOptionsError('execute', 'options', options, 'an object ({ signal, deadline }) or undefined');
  const attempt = (options as Partial<ExecutionContext>).attempt;
  const signal = options.signal;
  const deadline = options.deadline;
  checkCallArguments(signal, deadline);
  // Only a context (which always has an attempt) can carry fields; plain options never do.
  const extras = attempt !== undefined && hasExtras(options);
  if (!extras && signal === undefined && deadline === undefined && (attempt === undefined || attempt === 1)) return SHARED_ROOT;
  const ctx = new Context(signal, undefined, undefined, deadline, typeof attempt === 'number' ? attempt : 1);
  if (extras) copyExtras(options, ctx);
  return ctx;
}

/**
 * The per-call `signal` and `deadline` rules every policy shares, so a wrong value fails the same
 * way everywhere: a signal is an `AbortSignal` (anything with a boolean `aborted` and an
 * `addEventListener`), a deadline a number that is not NaN (`Infinity` means none); `undefined`
 * means "not given". `null`, strings and objects are `INVALID_OPTIONS`.
 */
function argumentError(owner: string, signal: unknown, deadline: unknown): InvalidOptionsError | undefined {
  if (signal !== undefined) {
    const s = signal as { aborted?: unknown; addEventListener?: unknown } | null;
    if (typeof s !== 'object' || s === null || typeof s.aborted !== 'boolean' || typeof s.addEventListener !== 'function') {
      return new InvalidOptionsError(owner, 'signal', signal, 'an AbortSignal or undefined');
    }
  }
  if (deadline !== undefined && (typeof deadline !== 'number' || deadline !== deadline)) {
    return new InvalidOptionsError(owner, 'deadline', deadline, 'a number (absolute time in clock.now() units) or undefined');
  }
  return undefined;
}

function checkCallArguments(signal: unknown, deadline: unknown): void {
  const error = argumentError('execute', signal, deadline);
  if (error !== undefined) throw error;
}

/**
 * What is wrong with the arguments of a policy's `execute(fn, options)`, or undefined when
 * nothing is: `fn` must be a function; `options` undefined, null, or an object whose `signal` is
 * an `AbortSignal` and whose `deadline` is a number (not NaN), each when present. A policy calls
 * this before it counts, queues or retries anything, and rejects (or, from `executeOutcome`,
 * resolves `{ ok: false }`) with the error, so a wrong argument fails at the call that is wrong,
 * the same way in every policy. Cheap for a context an enclosing policy passed.
 *
 * @example
 * ```ts
 * const bad = callError('retry.execute', fn, options);
 * if (bad !== undefined) return Promise.reject(bad);
 * ```
 */
export function callError(owner: string, fn: unknown, options?: unknown): InvalidOptionsError | undefined {
  if (typeof fn !== 'function') return new InvalidOptionsError(owner, 'fn', fn, 'a function (the work to run)');
  if (options === undefined || options === null || options instanceof Context) return undefined;
  if (typeof options !== 'object') return new InvalidOptionsError(owner, 'options', options, 'an object ({ signal, deadline }) or undefined');
  const o = options as { signal?: unknown; deadline?: unknown };
  return argumentError(owner, o.signal, o.deadline);
}

/** Whether `from` has an own enumerable field that is not a core one. */
function hasExtras(from: object): boolean {
  for (const key in from) if (!CORE_FIELDS.has(key) && hasOwn.call(from, key)) return true;
  return false;
}

/** What {@link deriveContext} changes in the child; everything else is inherited. */
export interface ContextChanges<Fields extends object = object> {
  readonly attempt?: number;
  /** The child's deadline. Callers should pass `min(parent.deadline, own)`; see {@link earliestDeadline}. */
  readonly deadline?: number | undefined;
  /** A signal that replaces the parent's, or a source that creates one lazily. */
  readonly signal?: AbortSignal | SignalSource;
  /**
   * Extra fields a policy adds for the functions it runs. They may not be named like a core field
   * (`attempt`, `deadline`, `signal`, or the internal `_signal`, `_source`, `_idle`, `_extras`):
   * {@link deriveContext} throws a `TypeError` naming the field. Change those through the options
   * above instead.
   */
  readonly fields?: Fields;
}

/**
 * Creates a child context that inherits every field of `parent` and overrides what `changes`
 * says. Costs one small object (plus a copy of policy-added fields, if any); never creates a
 * signal. A `parent` that is not this copy's own context keeps its fields too (see
 * {@link toContext}). Throws a `TypeError` when `changes.fields` names a core field.
 *
 * @example
 * ```ts
 * const attemptCtx = deriveContext(ctx, { attempt: ctx.attempt + 1 });
 * ```
 */
export function deriveContext<P extends ExecutionContext, Fields extends object = object>(
  parent: P,
  changes: ContextChanges<Fields>,
): P & Fields {
  const base = (parent instanceof Context ? parent : toContext(parent)) as Context;
  const signal = changes.signal;
  const child =
    signal === undefined
      ? new Context(base._signal, base._source, base._idle, base.deadline, base.attempt)
      : signal instanceof AbortSignal
        ? new Context(signal, undefined, undefined, base.deadline, base.attempt)
        : new Context(undefined, signal, undefined, base.deadline, base.attempt);
  if (changes.attempt !== undefined) child.attempt = changes.attempt;
  if ('deadline' in changes) child.deadline = changes.deadline;
  if (base._extras) copyExtras(base, child);
  const fields = changes.fields;
  if (fields !== undefined) {
    checkFields(fields);
    Object.assign(child, fields);
    child._extras = true;
  }
  return child as unknown as P & Fields;
}

/** Throws when a policy's `fields` would overwrite a core field (what `Object.assign` would copy). */
function checkFields(fields: object): void {
  for (const key in fields) {
    if (CORE_FIELDS.has(key) && hasOwn.call(fields, key)) {
      throw new TypeError(
        `deriveContext: fields may not set "${key}", a field of the context itself; ` +
          'pass attempt, deadline or signal as changes of their own, and rename a field of yours',
      );
    }
  }
}

/** Copies the own enumerable non-core fields of `from` (a context, ours or not) onto `to`. */
function copyExtras(from: object, to: Context): void {
  const target = to as unknown as Record<string, unknown>;
  const source = from as Record<string, unknown>;
  for (const key of Object.keys(source)) if (!CORE_FIELDS.has(key)) target[key] = source[key];
  to._extras = true;
}

/**
 * The signal that can abort this context, or undefined when nothing can (no caller signal, no
 * timeout). Waiters listen to this instead of `ctx.signal` so they never create idle signals.
 *
 * @example
 * ```ts
 * await sleep(delay, { signal: abortSignalOf(ctx), clock });
 * ```
 */
export function abortSignalOf(ctx: ExecutionContext): AbortSignal | undefined {
  if (!(ctx instanceof Context)) return ctx.signal;
  const real = ctx._signal;
  if (real !== undefined) return real;
  const source = ctx._source;
  return source === undefined ? undefined : (ctx._signal = source.signal);
}

/**
 * Whether the context is already aborted, without creating any signal.
 *
 * @example
 * ```ts
 * if (isContextAborted(ctx)) return Promise.reject(ctx.signal.reason);
 * ```
 */
export function isContextAborted(ctx: ExecutionContext): boolean {
  if (!(ctx instanceof Context)) return ctx.signal.aborted;
  const real = ctx._signal;
  if (real !== undefined) return real.aborted;
  const source = ctx._source;
  return source !== undefined && source.aborted;
}

/**
 * Whether the context was aborted by the caller: aborted, and not by an enclosing timeout (whose
 * abort reason has code `TIMEOUT`). A timeout that fires is a slow dependency, not a cancellation:
 * breakers count it, fallbacks replace it.
 *
 * @example
 * ```ts
 * if (isAbortedByCaller(ctx)) throw error; // they asked to stop, not for a value
 * ```
 */
export function isAbortedByCaller(ctx: ExecutionContext): boolean {
  if (!isContextAborted(ctx)) return false;
  const reason: unknown = abortSignalOf(ctx)?.reason;
  if (typeof reason !== 'object' || reason === null) return true;
  try {
    return (reason as { code?: unknown }).code !== 'TIMEOUT';
  } catch {
    return true; // a `code` getter that throws: not a timeout's reason
  }
}

/**
 * Milliseconds left before the context's deadline (`Infinity` when there is none; may be negative).
 *
 * @example
 * ```ts
 * if (delay > remainingMs(ctx, clock)) throw lastError; // sleeping would pass the deadline
 * ```
 */
export function remainingMs(ctx: ExecutionContext, clock: Clock): number {
  const deadline = ctx.deadline;
  return deadline === undefined ? Infinity : deadline - clock.now();
}

/**
 * The earlier of two optional deadlines.
 *
 * @example
 * ```ts
 * const deadline = earliestDeadline(ctx.deadline, clock.now() + ms);
 * ```
 */
export function earliestDeadline(a: number | undefined, b: number | undefined): number | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return a < b ? a : b;
}
