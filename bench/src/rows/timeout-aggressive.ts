import { timeout, TimeoutStrategy } from 'cockatiel';
import type { Row } from '../harness.js';
import { work } from '../harness.js';
import type { Packages } from '../packages.js';

/**
 * Informational (no target): an aggressive timeout has a deadline to enforce on every call, so
 * it always holds a timer slot; ours shares one timer per policy.
 */
export default function timeoutAggressive({ timeout: x }: Packages): Row {
  const cockatiel = timeout(1_000, TimeoutStrategy.Aggressive);
  const policy = x.mod?.createTimeout(1_000, { strategy: 'aggressive' });
  return {
    operation: 'timeout, aggressive, no expiry',
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
