// Shared by this package's factories.

/**
 * `fallback` when the option is absent. Unlike `??`, a `null` is kept, so validation rejects it.
 * @internal
 */
export function or<T>(value: T | undefined, fallback: T): T {
  return value === undefined ? fallback : value;
}
