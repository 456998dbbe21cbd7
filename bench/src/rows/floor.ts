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
 * Informational: the least any policy that must see a call settle can cost, `fn().then(...)` with
 * shared handlers and no bookkeeping. The breaker and retry rows are read against this floor.
 */
export default function floor(): Row {
  return {
    operation: 'floor: fn().then(identity, rethrow)',
    ops: { x: () => work().then(identity, rethrow) },
    verify,
  };
}

/**
 * The least a breaker-shaped wrapper can do: one method call that checks a flag, counts the call,
 * chains two handlers made once, and counts the settlement. No state machine, no stats, no events.
 * What a real breaker adds is read against this row, not against `floor`.
 */
class CountingWrapper {
  #open = false;
  #started = 0;
  #settled = 0;
  #failuresInARow = 0;
  readonly #onValue = (value: unknown) => {
    this.#settled++;
    this.#failuresInARow = 0;
    return value;
  };
  readonly #onError = (error: unknown) => {
    this.#settled++;
    this.#failuresInARow++;
    throw error;
  };

  execute<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#open) return Promise.reject(new Error('open'));
    this.#started++;
    return fn().then(this.#onValue, this.#onError) as Promise<T>;
  }
}

export function countingWrapperFloor(): Row {
  const wrapper = new CountingWrapper();
  return {
    operation: 'floor: counting wrapper (a class, 2 counters)',
    ops: { x: () => wrapper.execute(work) },
    verify,
  };
}
