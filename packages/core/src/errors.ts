import type { StoreUnavailableError } from './store/errors.js';

/**
 * Brand that marks every error made by any copy of `@x/core`. A registered symbol, so two
 * installed versions of core recognise each other's errors where `instanceof` would not.
 */
const X_ERROR_BRAND: unique symbol = Symbol.for('@x/error') as never;

/**
 * Maps each error `code` to the error type that carries it. Packages add their codes by
 * declaration merging, which lets {@link isXError} narrow to the precise class.
 *
 * @example
 * ```ts
 * declare module '@x/core' {
 *   interface XErrorMap { BREAKER_OPEN: BreakerOpenError }
 * }
 * ```
 */
export interface XErrorMap {
  INVALID_OPTIONS: InvalidOptionsError;
  STORE_UNAVAILABLE: StoreUnavailableError;
}

/** Options accepted by the {@link XError} constructor. */
export interface XErrorOptions {
  /** The underlying error, exposed as the standard `cause` property. */
  readonly cause?: unknown;
}

/**
 * Base class of every error the `@x/*` packages throw. `code` is a stable SCREAMING_SNAKE string
 * that is safe to switch on; messages are for people and may change.
 *
 * @example
 * ```ts
 * try { await breaker.execute(call) }
 * catch (e) { if (isXError(e, 'BREAKER_OPEN')) console.log(e.retryAfterMs) }
 * ```
 */
export class XError<Code extends string = string> extends Error {
  /** Stable machine-readable identifier of the failure. */
  readonly code: Code;
  override name = 'XError';

  constructor(code: Code, message: string, options?: XErrorOptions) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
  }

  /** Lives on the prototype so the brand costs nothing per instance. */
  get [X_ERROR_BRAND](): true {
    return true;
  }
}

/**
 * True when `error` was made by any copy of `@x/core` (checks a brand, not `instanceof`), and, if
 * `code` is given, carries that code. Narrows to the registered error type for the code.
 *
 * @example
 * ```ts
 * if (isXError(err, 'RATE_LIMITED')) setTimeout(again, err.retryAfterMs)
 * ```
 */
export function isXError<C extends keyof XErrorMap>(error: unknown, code: C): error is XErrorMap[C];
export function isXError(error: unknown, code?: string): error is XError;
export function isXError(error: unknown, code?: string): boolean {
  if (typeof error !== 'object' || error === null) return false;
  if ((error as { [X_ERROR_BRAND]?: unknown })[X_ERROR_BRAND] !== true) return false;
  return code === undefined || (error as XError).code === code;
}

/**
 * Builds an error without capturing a stack trace. Use it for rejections on hot paths (an open
 * circuit, a full bulkhead), where the stack says nothing useful and capturing it dominates the cost.
 *
 * @example
 * ```ts
 * const rejection = withoutStack(() => new BreakerOpenError('payments', 1000));
 * ```
 */
export function withoutStack<E>(make: () => E): E {
  // `stackTraceLimit` is a V8 extension; where it does not exist, setting it is harmless.
  const errorClass = Error as { stackTraceLimit?: number | undefined };
  const limit = errorClass.stackTraceLimit;
  errorClass.stackTraceLimit = 0;
  try {
    return make();
  } finally {
    errorClass.stackTraceLimit = limit;
  }
}

/**
 * Thrown at construction when an option is missing, of the wrong type or out of range. The message
 * names the factory, the option, the allowed range and the value received.
 *
 * @example
 * ```ts
 * createRetry({ maxAttempts: 0 })
 * // InvalidOptionsError: createRetry: option "maxAttempts" must be an integer >= 1, got 0
 * ```
 */
export class InvalidOptionsError extends XError<'INVALID_OPTIONS'> {
  override name = 'InvalidOptionsError';
  /** Dotted path of the offending option, e.g. `window.size`. */
  readonly option: string;
  /** The value that was rejected. */
  readonly value: unknown;

  constructor(owner: string, option: string, value: unknown, expected: string) {
    super('INVALID_OPTIONS', `${owner}: option "${option}" must be ${expected}, got ${describeValue(value)}`);
    this.option = option;
    this.value = value;
  }
}

/**
 * Short, unambiguous rendering of a value for error messages (NaN, -0, strings quoted).
 *
 * @example
 * ```ts
 * describeValue('10'); // '"10"', so a string is not mistaken for the number 10
 * ```
 */
export function describeValue(value: unknown): string {
  switch (typeof value) {
    case 'number':
      return Object.is(value, -0) ? '-0' : String(value);
    case 'string':
      return JSON.stringify(value);
    case 'function':
      return '[function]';
    case 'bigint':
      return `${value}n`;
    case 'object':
      if (value === null) return 'null';
      if (Array.isArray(value)) return `array(${value.length})`;
      return 'object';
    default:
      return String(value);
  }
}
