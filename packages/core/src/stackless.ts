import type { XError } from './errors.js';

/** Marks a prototype `stacklessPrototype` already prepared (own property, so subclasses get theirs). */
const PREPARED = Symbol.for('@x/core.stackless');

/** `T` with `readonly` removed, for filling in the fields of an instance made by `Object.create`. */
export type Writable<T> = { -readonly [K in keyof T]: T[K] };

/**
 * Prepares an {@link XError} subclass for instances made with `Object.create(prototype)` instead of
 * its constructor, and returns that prototype. This is how hot-path rejections (an open circuit, a
 * full bulkhead, a rate limit) stay cheap: V8 spends about 350 ns in the `Error` constructor even
 * with `Error.stackTraceLimit = 0` (Node 20), more than a whole admitted call. Such an instance has
 * the class prototype, so `instanceof`, {@link isXError} and the brand work; the caller sets `code`
 * and the subclass's own fields. `name`, `message` and `stack` are prototype accessors, computed
 * from the fields only when read; assigning them stores an own value on that instance. Instances
 * made by the constructor own those three properties, which shadow the accessors.
 *
 * Preparing is idempotent, and done on first use by the package (not at module load, so importing
 * the error class has no side effect for bundlers to keep).
 *
 * @example
 * ```ts
 * let prototype: QueueFullError | undefined;
 * export function queueFull(queue: string, size: number): QueueFullError {
 *   prototype ??= stacklessPrototype(QueueFullError, 'QueueFullError', (e) => `queue "${e.queue}" is full`);
 *   const error = Object.create(prototype) as Writable<QueueFullError>;
 *   error.code = 'QUEUE_FULL';
 *   error.queue = queue;
 *   error.size = size;
 *   return error;
 * }
 * ```
 */
export function stacklessPrototype<E extends XError>(
  errorClass: { readonly prototype: E },
  name: string,
  message: (error: E) => string,
): E {
  const prototype = errorClass.prototype;
  if (Object.hasOwn(prototype, PREPARED)) return prototype;
  Object.defineProperty(prototype, 'name', { value: name, writable: true, configurable: true });
  Object.defineProperty(prototype, 'message', {
    configurable: true,
    get(this: E) {
      return message(this);
    },
    set(this: E, value: string) {
      Object.defineProperty(this, 'message', { value, writable: true, configurable: true });
    },
  });
  Object.defineProperty(prototype, 'stack', {
    configurable: true,
    get(this: E) {
      return `${this.name}: ${this.message}\n    (no stack: built without one, as a cheap rejection)`;
    },
    set(this: E, value: string) {
      Object.defineProperty(this, 'stack', { value, writable: true, configurable: true });
    },
  });
  Object.defineProperty(prototype, PREPARED, { value: true });
  return prototype;
}
