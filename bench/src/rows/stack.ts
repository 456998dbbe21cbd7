import {
  circuitBreaker,
  ConsecutiveBreaker,
  ExponentialBackoff,
  handleAll,
  retry,
  timeout,
  TimeoutStrategy,
  wrap,
} from 'cockatiel';
import type { Row } from '../harness.js';
import { work } from '../harness.js';
import type { Packages } from '../packages.js';

/** The documented stack: retry → breaker → timeout (per attempt) → fn, all succeeding. */
export default function stack({ core, breaker, retry: retryPkg, timeout: timeoutPkg }: Packages): Row {
  const cockatiel = wrap(
    retry(handleAll, { maxAttempts: 3, backoff: new ExponentialBackoff() }),
    circuitBreaker(handleAll, { halfOpenAfter: 10_000, breaker: new ConsecutiveBreaker(5) }),
    timeout(1_000, TimeoutStrategy.Cooperative),
  );
  const missing = [retryPkg.note, breaker.note, timeoutPkg.note].filter((n) => n !== undefined);
  const x =
    breaker.mod && retryPkg.mod && timeoutPkg.mod
      ? core.compose(
          retryPkg.mod.createRetry({ maxAttempts: 3 }) as never,
          breaker.mod.createBreaker({ failureThreshold: 5, openMs: 10_000 }) as never,
          timeoutPkg.mod.createTimeout(1_000),
        )
      : undefined;
  return {
    operation: 'compose(retry, breaker, timeout)',
    target: 8,
    ops: {
      ...(x && { x: () => x.execute(work) }),
      cockatiel: () => cockatiel.execute(work),
    },
    verify: (_column, result) => {
      if (result !== 1) throw new Error(`expected 1, got ${String(result)}`);
    },
    ...(missing.length > 0 && { note: missing.join('; ') }),
  };
}
