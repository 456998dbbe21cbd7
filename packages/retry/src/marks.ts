// Marks live in a WeakMap rather than on the error: frozen errors can be marked, user errors are
// not mutated, and nothing is retained once the error is garbage. The map sits on `globalThis`
// under a registered symbol (created on first use, not at import) so that two installed copies of
// @x/retry honour each other's marks.
const MARKS_KEY = Symbol.for('@x/retry.marks');

type Marks = WeakMap<object, boolean>;

function marks(): Marks {
  const holder = globalThis as { [MARKS_KEY]?: Marks };
  return (holder[MARKS_KEY] ??= new WeakMap());
}

/** Primitives cannot be WeakMap keys; they are wrapped so the mark has something to stick to. */
function asObject(error: unknown): object {
  if ((typeof error === 'object' && error !== null) || typeof error === 'function') return error as object;
  return new Error(`non-error value thrown: ${String(error)}`, { cause: error });
}

/**
 * Marks `error` so that no `@x/retry` policy retries it, whatever `retryOn` says, and returns the
 * same error (not a wrapper): the caller still catches the original object, `instanceof` and
 * identity checks keep working, and an outer retry sees the mark too. Only a thrown primitive is
 * wrapped in an `Error` (its `cause` is the primitive).
 *
 * @example
 * ```ts
 * await retry.execute(async () => {
 *   const res = await fetch(url);
 *   if (res.status === 404) throw permanent(new NotFoundError(url)); // retrying cannot help
 *   return res.json();
 * });
 * ```
 */
export function permanent<E>(error: E): E extends object ? E : Error {
  const target = asObject(error);
  marks().set(target, false);
  return target as E extends object ? E : Error;
}

/**
 * Marks `error` so that `@x/retry` policies retry it even if `retryOn` (or the default
 * classification) would not. Returns the same error. The caller's abort, `maxAttempts`, deadlines,
 * the retry budget and the `BREAKER_OPEN` rule still apply.
 *
 * @example
 * ```ts
 * if (res.status === 409) throw retryable(new ConflictError()); // a known transient conflict
 * ```
 */
export function retryable<E>(error: E): E extends object ? E : Error {
  const target = asObject(error);
  marks().set(target, true);
  return target as E extends object ? E : Error;
}

/**
 * `false` for errors marked with {@link permanent}, `true` for {@link retryable}, undefined for
 * unmarked errors.
 *
 * @example
 * ```ts
 * isMarkedRetryable(permanent(new Error('x'))) // false
 * ```
 */
export function isMarkedRetryable(error: unknown): boolean | undefined {
  if ((typeof error !== 'object' || error === null) && typeof error !== 'function') return undefined;
  const holder = globalThis as { [MARKS_KEY]?: Marks };
  return holder[MARKS_KEY]?.get(error as object);
}
