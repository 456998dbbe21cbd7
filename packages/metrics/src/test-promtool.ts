// Finds promtool (Debian's `prometheus` package ships it) for the tests that run it. Locally a
// missing promtool skips those tests, loudly; in CI (CI=true) it fails them: .ci/run installs it.
import { spawnSync } from 'node:child_process';

const probe = spawnSync('promtool', ['--version'], { encoding: 'utf8', timeout: 10_000 });
export const promtoolAvailable = probe.status === 0;
export const inCI = process.env.CI === 'true' || process.env.CI === '1';

if (!promtoolAvailable) {
  const message = 'promtool not found: the promtool tests are skipped (apt-get install -y prometheus to run them)';
  if (inCI) throw new Error(`${message}; CI=true requires it`);
  console.warn(`\n\u001b[33m!!! ${message}\u001b[0m\n`);
}

/** Runs promtool; returns its exit code and output. Bounded to 60 s. */
export function promtool(args: readonly string[], input?: string): { status: number | null; output: string } {
  const result = spawnSync('promtool', args, { encoding: 'utf8', timeout: 60_000, ...(input !== undefined && { input }) });
  return { status: result.status, output: `${result.stdout ?? ''}${result.stderr ?? ''}` };
}
