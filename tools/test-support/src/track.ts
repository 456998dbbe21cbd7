/** How a watched promise settled, read synchronously by the test. */
export interface Tracked<T> {
  settled: boolean;
  value?: T;
  error?: unknown;
}

/** Watches a promise without awaiting it, and without leaving a rejection unhandled. */
export function track<T>(promise: Promise<T>): Tracked<T> {
  const state: Tracked<T> = { settled: false };
  promise.then(
    (value) => Object.assign(state, { settled: true, value }),
    (error: unknown) => Object.assign(state, { settled: true, error }),
  );
  return state;
}
