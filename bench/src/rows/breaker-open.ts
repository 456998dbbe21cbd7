import { circuitBreaker, ConsecutiveBreaker, handleAll } from 'cockatiel';
import CircuitBreaker from 'opossum';
import type { Row } from '../harness.js';
import { work } from '../harness.js';
import type { Packages } from '../packages.js';

const HOUR = 3_600_000;
let calls = 0;
/** The protected call; an open breaker must never reach it. */
const counted = async (): Promise<number> => {
  calls++;
  return work();
};
const failing = async (): Promise<never> => {
  throw new Error('down');
};
const swallow = (error: unknown) => error;

/**
 * An open breaker rejecting a call. @x goes through `executeOutcome` (no throw, no stack); the
 * anchors only offer rejecting promises, which the op has to catch.
 */
export default async function breakerOpen({ breaker }: Packages): Promise<Row> {
  // Open for longer than the run, so none of them half-opens while measuring.
  const cockatiel = circuitBreaker(handleAll, { halfOpenAfter: HOUR, breaker: new ConsecutiveBreaker(5) });
  for (let i = 0; i < 5; i++) await cockatiel.execute(failing).catch(swallow);
  const opossum = new CircuitBreaker(counted, { timeout: false, resetTimeout: HOUR });
  opossum.open();
  // Tripped by failures, as circuits open in production (forceOpen would measure isolation).
  const x = breaker.mod?.createBreaker({ failureThreshold: 5, openMs: HOUR });
  for (let i = 0; i < 5; i++) await x?.execute(failing).catch(swallow);
  return {
    operation: 'breaker, open, rejection (@x: executeOutcome)',
    target: 2,
    ops: {
      ...(x && { x: () => x.executeOutcome(counted) }),
      cockatiel: () => cockatiel.execute(counted).catch(swallow),
      opossum: () => opossum.fire().catch(swallow),
    },
    verify: (column, result) => {
      if (calls !== 0) throw new Error(`${column}: the open breaker ran the call`);
      const rejected = column === 'x' ? (result as { ok?: unknown }).ok === false : result instanceof Error;
      if (!rejected) throw new Error(`${column}: expected a rejection, got ${JSON.stringify(result)}`);
    },
    ...(breaker.note !== undefined && { note: breaker.note }),
    dispose: () => opossum.shutdown(),
  };
}
