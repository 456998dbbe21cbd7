import { runDemo } from './demo.js';
import { PROMETHEUS_OUTAGE } from './outage.js';

// The CLI: `pnpm demo` runs the full 25 s scenario (about 30 s with start-up and summary);
// `--quick` or DEMO_DURATION_MS shortens it.
const USAGE = `Usage: pnpm demo [--quick | --outage]

  --quick               a 6 s scenario, about 10 s in all (the phases are compressed)
  --outage              36 s with a 22 s outage, to watch alerts fire in a Prometheus scraping
                        /metrics every 1 s with x-metrics rules --time-scale 0.04
  DEMO_DURATION_MS=n    run for n ms (at least 1000)
  REDIS_URL=redis://…   keep the rate limit in Redis, shared by every demo process using it
  Ctrl-C                stop early; the summary still covers what ran
`;

// pnpm passes a literal `--` through when the user types `pnpm demo -- --quick`.
const args = process.argv.slice(2).filter((a) => a !== '--');
if (args.includes('--help') || args.includes('-h')) {
  process.stdout.write(USAGE);
} else {
  const unknown = args.filter((a) => a !== '--quick' && a !== '--outage');
  const fromEnv = process.env.DEMO_DURATION_MS;
  const outage = args.includes('--outage');
  const durationMs =
    fromEnv !== undefined && fromEnv !== '' ? Number(fromEnv) : outage ? PROMETHEUS_OUTAGE.durationMs : args.includes('--quick') ? 6_000 : 25_000;
  if (unknown.length > 0) {
    process.stderr.write(`unknown argument ${unknown.join(' ')}\n\n${USAGE}`);
    process.exitCode = 2;
  } else if (!Number.isFinite(durationMs) || durationMs < 1_000) {
    process.stderr.write(`DEMO_DURATION_MS must be a number of milliseconds >= 1000, got "${fromEnv}"\n`);
    process.exitCode = 2;
  } else {
    await main(durationMs, outage);
  }
}

async function main(durationMs: number, outage: boolean): Promise<void> {
  const interrupt = new AbortController();
  // First Ctrl-C: stop the load and print the summary. A second one: leave at once.
  const onSigint = (): void => {
    interrupt.abort();
    process.once('SIGINT', () => process.exit(130));
  };
  process.once('SIGINT', onSigint);
  try {
    const redisUrl = process.env.REDIS_URL;
    const summary = await runDemo({
      durationMs,
      ...(outage && { phases: PROMETHEUS_OUTAGE.phases }),
      redisUrl: redisUrl === undefined || redisUrl === '' ? undefined : redisUrl,
      signal: interrupt.signal,
    });
    process.exitCode = summary.stoppedEarly ? 130 : 0;
  } catch (error) {
    process.stderr.write(`demo failed: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  } finally {
    process.off('SIGINT', onSigint);
  }
}
