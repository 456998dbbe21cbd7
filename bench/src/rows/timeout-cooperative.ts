import { timeout, TimeoutStrategy } from 'cockatiel';
import type { Row } from '../harness.js';
import { work } from '../harness.js';
import type { Packages } from '../packages.js';

/** A cooperative timeout that does not expire, around a call that never reads its signal. */
export default function timeoutCooperative({ timeout: x }: Packages): Row {
  const cockatiel = timeout(1_000, TimeoutStrategy.Cooperative);
  const policy = x.mod?.createTimeout(1_000);
  return {
    operation: 'timeout, cooperative, no expiry',
    target: 5,
    ops: {
      ...(policy && { x: () => policy.execute(work) }),
      cockatiel: () => cockatiel.execute(work),
    },
    verify: (_column, result) => {
      if (result !== 1) throw new Error(`expected 1, got ${String(result)}`);
    },
    ...(x.note !== undefined && { note: x.note }),
  };
}
