import type { Row } from '../harness.js';
import { work } from '../harness.js';

const identity = (value: unknown) => value;
const rethrow = (error: unknown) => {
  throw error;
};

/**
 * Informational: the least any policy that must see a call settle can cost, `fn().then(...)` with
 * shared handlers and no bookkeeping. The breaker and retry rows are read against this floor.
 */
export default function floor(): Row {
  return {
    operation: 'floor: fn().then(identity, rethrow)',
    ops: { x: () => work().then(identity, rethrow) },
    verify: (_column, result) => {
      if (result !== 1) throw new Error(`expected 1, got ${String(result)}`);
    },
  };
}
