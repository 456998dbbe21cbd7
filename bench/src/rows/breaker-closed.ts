import { circuitBreaker, ConsecutiveBreaker, handleAll } from 'cockatiel';
import CircuitBreaker from 'opossum';
import type { Row } from '../harness.js';
import { work } from '../harness.js';
import type { Packages } from '../packages.js';

/** A closed breaker around a call that succeeds: the cost every healthy call pays. */
export default function breakerClosed({ breaker }: Packages): Row {
  const cockatiel = circuitBreaker(handleAll, { halfOpenAfter: 10_000, breaker: new ConsecutiveBreaker(5) });
  const opossum = new CircuitBreaker(work, { timeout: false });
  const opossumDefault = new CircuitBreaker(work); // its default 10 s timeout: one timer per call
  const x = breaker.mod?.createBreaker({ failureThreshold: 5, openMs: 10_000 });
  return {
    operation: 'breaker, closed, success',
    target: 1.6,
    ops: {
      ...(x && { x: () => x.execute(work) }),
      cockatiel: () => cockatiel.execute(work),
      opossum: () => opossum.fire(),
      opossumDefault: () => opossumDefault.fire(),
    },
    verify: (_column, result) => {
      if (result !== 1) throw new Error(`expected 1, got ${String(result)}`);
    },
    ...(breaker.note !== undefined && { note: breaker.note }),
    dispose: () => {
      opossum.shutdown();
      opossumDefault.shutdown();
    },
  };
}
