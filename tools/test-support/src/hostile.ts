/**
 * A native promise whose own `then` throws `error`. `Promise.resolve` hands it back as it is, so
 * a policy that calls `.then` on what `fn` returned meets the throw synchronously.
 */
export function hostilePromise(error: unknown): Promise<string> {
  const p = Promise.resolve('x');
  Object.defineProperty(p, 'then', {
    value: () => {
      throw error;
    },
  });
  return p;
}
