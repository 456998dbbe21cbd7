// Shared by the memory, Redis and Redlock tests: N contenders x M rounds on one key, each in
// withLock; a counter shared by all of them proves no two ran the critical section at once, and
// the fences seen inside it must strictly increase in the order the grants happened.
import { setTimeout as wait } from 'node:timers/promises';
import type { Lock } from './index.js';

export interface ExclusionResult {
  readonly overlaps: number;
  readonly entries: number;
  readonly fences: readonly number[];
  readonly errors: readonly unknown[];
}

export async function runExclusion(locks: readonly Lock[], key: string, rounds: number, holdMs = 2): Promise<ExclusionResult> {
  let inside = 0;
  let overlaps = 0;
  let entries = 0;
  const fences: number[] = [];
  const errors: unknown[] = [];
  await Promise.all(
    locks.map(async (lock) => {
      for (let round = 0; round < rounds; round++) {
        try {
          await lock.withLock(
            key,
            async ({ fence }) => {
              inside++;
              entries++;
              if (inside !== 1) overlaps++;
              fences.push(fence);
              await wait(Math.random() * holdMs);
              if (inside !== 1) overlaps++;
              inside--;
            },
            { waitMs: 20_000 },
          );
        } catch (error) {
          errors.push(error);
        }
      }
    }),
  );
  return { overlaps, entries, fences, errors };
}

/** True when every fence is greater than the one before it. */
export function strictlyIncreasing(fences: readonly number[]): boolean {
  for (let i = 1; i < fences.length; i++) if (!((fences[i] as number) > (fences[i - 1] as number))) return false;
  return true;
}
