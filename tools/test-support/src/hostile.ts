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

/**
 * A native promise whose own `then` registers the handlers it is given (so they run when the
 * promise settles) and then throws `error`: a policy that both catches the throw and keeps the
 * handlers would settle the call twice.
 */
export function reentrantHostilePromise(error: unknown): Promise<string> {
  const p = Promise.resolve('x');
  Object.defineProperty(p, 'then', {
    value(this: Promise<string>, onValue?: (value: string) => unknown, onError?: (reason: unknown) => unknown) {
      Promise.prototype.then.call(this, onValue, onError);
      throw error;
    },
  });
  return p;
}
