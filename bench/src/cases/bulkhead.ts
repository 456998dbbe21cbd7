import { bulkhead as cockatielBulkhead } from 'cockatiel';
import type { Row } from '../harness.js';
import { work } from '../harness.js';
import { loadBuilt } from '../packages.js';

type BulkheadModule = typeof import('@x/bulkhead');

const loadBulkhead = () => loadBuilt<BulkheadModule>('@x/bulkhead', 'createBulkhead');

const expectOne = (_column: string, result: unknown) => {
  if (result !== 1) throw new Error(`expected 1, got ${String(result)}`);
};

/**
 * A bulkhead with a free slot around a call that succeeds: the cost every call pays while the
 * bulkhead is not saturated. Target: no more than cockatiel's `bulkhead(limit, queue)` on the same
 * workload (1.5× bare in BRIEF §6).
 */
export default async function bulkheadFreeSlot(): Promise<Row> {
  const { mod, note } = await loadBulkhead();
  const cockatiel = cockatielBulkhead(10, 100);
  const x = mod?.createBulkhead({ name: 'bench', maxConcurrent: 10, maxQueue: 100 });
  return {
    operation: 'bulkhead, free slot',
    // The bound: no more than cockatiel's bulkhead in the same run.
    target: 1,
    targetOf: 'cockatiel',
    ops: {
      ...(x && { x: () => x.execute(work) }),
      cockatiel: () => cockatiel.execute(work),
    },
    verify: expectOne,
    ...(note !== undefined && { note }),
  };
}

/**
 * Informational: a full bulkhead (every slot held, no queue) rejecting a call. @x goes through
 * `executeOutcome` (no throw, stackless error); cockatiel only rejects, so its op catches.
 */
export async function bulkheadFull(): Promise<Row> {
  const { mod, note } = await loadBulkhead();
  const never = new Promise<never>(() => {});
  const cockatiel = cockatielBulkhead(1, 0);
  void cockatiel.execute(() => never);
  const x = mod?.createBulkhead({ name: 'bench-full', maxConcurrent: 1 });
  x?.tryAcquire();
  let calls = 0;
  const counted = async () => {
    calls++;
    return work();
  };
  return {
    operation: 'bulkhead, full, rejection (@x: executeOutcome)',
    ops: {
      ...(x && { x: () => x.executeOutcome(counted) }),
      cockatiel: () => cockatiel.execute(counted).catch((error: unknown) => error),
    },
    verify: (column, result) => {
      if (calls !== 0) throw new Error(`${column}: the full bulkhead ran the call`);
      const rejected = column === 'x' ? (result as { ok?: unknown }).ok === false : result instanceof Error;
      if (!rejected) throw new Error(`${column}: expected a rejection, got ${String(result)}`);
    },
    ...(note !== undefined && { note }),
  };
}

/** Every row this file contributes, in the `RowFactory` shape run.ts lists. */
export const rows: readonly [string, () => Promise<Row>][] = [
  ['bulkhead-free-slot', bulkheadFreeSlot],
  ['bulkhead-full', bulkheadFull],
];
