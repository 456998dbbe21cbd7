import type { Row } from '../harness.js';
import { work } from '../harness.js';

const identity = (value: unknown) => value;
const rethrow = (error: unknown) => {
  throw error;
};

const verify = (_column: unknown, result: unknown) => {
  if (result !== 1) throw new Error(`expected 1, got ${String(result)}`);
};

/**
 * Informational: the least a policy that may change the outcome can cost (the retry's shape),
 * `fn().then(...)` with shared handlers and no bookkeeping. The retry row is read against it.
 */
export default function floor(): Row {
  return {
    operation: 'floor: fn().then(identity, rethrow)',
    ops: { x: () => work().then(identity, rethrow) },
    verify,
  };
}

let settled = 0;
const countValue = () => {
  settled++;
};
const countError = () => {
  settled--;
};

/**
 * Informational: the least a policy that only watches a call can cost (the breaker's shape): the
 * caller gets `fn`'s own promise, and the settlement is seen on a side branch.
 */
export function sideBranchFloor(): Row {
  return {
    operation: 'floor: p = fn(); p.then(count, count); return p',
    ops: {
      x: () => {
        const p = work();
        p.then(countValue, countError);
        return p;
      },
    },
    verify,
  };
}

/**
 * The least a breaker-shaped wrapper can do: one method call that checks a flag, counts the call,
 * watches the settlement on a side branch with two handlers made once, and counts it. No state
 * machine, no stats, no events. What a real breaker adds is read against this row.
 */
class CountingWrapper {
  #open = false;
  #started = 0;
  #settled = 0;
  #failuresInARow = 0;
  readonly #onValue = () => {
    this.#settled++;
    this.#failuresInARow = 0;
  };
  readonly #onError = () => {
    this.#settled++;
    this.#failuresInARow++;
  };

  execute<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#open) return Promise.reject(new Error('open'));
    this.#started++;
    const promise = fn();
    promise.then(this.#onValue, this.#onError);
    return promise;
  }
}

export function countingWrapperFloor(): Row {
  const wrapper = new CountingWrapper();
  return {
    operation: 'floor: counting wrapper (a class, 2 counters, side branch)',
    ops: { x: () => wrapper.execute(work) },
    verify,
  };
}
