import { ExponentialBackoff, handleAll, retry } from 'cockatiel';
import pRetry from 'p-retry';
import type { Row } from '../harness.js';
import { work } from '../harness.js';
import type { Packages } from '../packages.js';

/** A retry policy around a call that succeeds the first time. */
export default function retryNoFailure({ retry: x }: Packages): Row {
  const cockatiel = retry(handleAll, { maxAttempts: 3, backoff: new ExponentialBackoff() });
  const policy = x.mod?.createRetry({ maxAttempts: 3 });
  return {
    operation: 'retry, no failure',
    target: 1.6,
    ops: {
      ...(policy && { x: () => policy.execute(work) }),
      cockatiel: () => cockatiel.execute(work),
      // p-retry counts retries after the first attempt: 2 retries = 3 attempts.
      pRetry: () => pRetry(work, { retries: 2 }),
    },
    verify: (_column, result) => {
      if (result !== 1) throw new Error(`expected 1, got ${String(result)}`);
    },
    ...(x.note !== undefined && { note: x.note }),
  };
}
