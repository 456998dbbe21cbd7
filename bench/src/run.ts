/**
 * Runs every benchmark row and prints one table of median ratios to a bare `await fn()` measured
 * in the same run. Missed targets are printed as "miss", never turned into a failing exit code;
 * only a crash (a row that cannot be built, an op that throws or returns the wrong thing) is.
 *
 *   pnpm bench                 full run (about three minutes)
 *   pnpm bench -- --quick      smoke run for CI (BENCH_QUICK=1 does the same)
 *   pnpm bench -- --only=breaker,retry --processes=5 --json
 */
import { spawnSync } from 'node:child_process';
import { arch, cpus, platform } from 'node:os';
import { FULL, QUICK, measureRow, median } from './harness.js';
import type { Cell, Column, Row, RowResult, Settings } from './harness.js';
import { loadPackages } from './packages.js';
import type { Packages } from './packages.js';
import floor, { countingWrapperFloor, sideBranchFloor } from './rows/floor.js';
import breakerClosed from './rows/breaker-closed.js';
import breakerOpen from './rows/breaker-open.js';
import retryNoFailure from './rows/retry.js';
import stack from './rows/stack.js';
import timeoutAggressive from './rows/timeout-aggressive.js';
import timeoutCooperative from './rows/timeout-cooperative.js';
import metricsOverhead, { metricsOverheadWithDurations } from './rows/metrics-overhead.js';
import { rows as bulkheadRows } from './cases/bulkhead.js';
import { rows as ratelimitRows } from './cases/ratelimit.js';
import { rows as bloomRows } from './cases/bloom.js';
import { rows as dlqRows } from './cases/dlq.js';
import { rows as lockRows } from './cases/lock.js';
import { rows as cacheRows } from './cases/cache.js';

type RowFactory = (packages: Packages) => Row | Promise<Row>;
const ROWS: readonly [string, RowFactory][] = [
  ['floor', floor],
  ['floor-side', sideBranchFloor],
  ['floor-wrapper', countingWrapperFloor],
  ['breaker-closed', breakerClosed],
  ['breaker-open', breakerOpen],
  ['retry', retryNoFailure],
  ['timeout-cooperative', timeoutCooperative],
  ['timeout-aggressive', timeoutAggressive],
  ['stack', stack],
  ...bulkheadRows,
  ...ratelimitRows,
  ...bloomRows,
  ...dlqRows,
  ...lockRows,
  ...cacheRows,
  ...(await import('./cases/resilience.js')).rows,
  ...(await import('./cases/observability.js')).rows,
  ['metrics-overhead', metricsOverhead],
  ['metrics-overhead-durations', metricsOverheadWithDurations],
];

interface Args {
  readonly quick: boolean;
  readonly json: boolean;
  readonly only: string | undefined;
  /** Separate processes to measure in; the table reports the median of their ratios. */
  readonly processes: number;
}

function parseArgs(argv: readonly string[]): Args {
  const env = process.env['BENCH_QUICK'];
  let quick = env !== undefined && env !== '' && env !== '0' && env !== 'false';
  let json = false;
  let only: string | undefined;
  let processes = 1;
  for (const arg of argv) {
    if (arg === '--') continue;
    else if (arg === '--quick') quick = true;
    else if (arg === '--json') json = true;
    else if (arg.startsWith('--only=')) only = arg.slice('--only='.length);
    else if (arg.startsWith('--processes=')) {
      processes = Number(arg.slice('--processes='.length));
      if (!Number.isInteger(processes) || processes < 1 || processes > 51) {
        throw new Error(`--processes must be an integer from 1 to 51, got ${arg.slice('--processes='.length)}`);
      }
    } else throw new Error(`unknown argument ${arg} (expected --quick, --json, --only=<row>[,<row>...], --processes=<n>)`);
  }
  return { quick, json, only, processes };
}

const log = (line: string) => process.stderr.write(`${line}\n`);

function fmtRatio(cell: Cell | undefined, error: string | undefined): string {
  if (error !== undefined) return 'error';
  return cell === undefined ? '—' : `${cell.ratio.toFixed(2)}×`;
}

function verdict(result: RowResult): string {
  const { target } = result.row;
  if (target === undefined) return 'info';
  if (result.errors.x !== undefined) return 'error';
  const x = result.cells.x;
  if (x === undefined) return 'skipped';
  const of = result.row.targetOf;
  const bound = of === undefined ? target : target * (result.cells[of]?.ratio ?? Number.NaN);
  return x.ratio <= bound ? 'pass' : 'miss';
}

function table(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) => cells.map((c, i) => c.padEnd(widths[i] as number)).join(' | ');
  return [line(headers), widths.map((w) => '-'.repeat(w)).join('-|-'), ...rows.map(line)].join('\n');
}

function targetText(row: Row): string {
  if (row.target === undefined) return '—';
  if (row.targetOf !== undefined) return row.target === 1 ? `≤ ${row.targetOf}` : `≤ ${row.target}× ${row.targetOf}`;
  return `≤ ${Number(row.target.toFixed(2))}×${row.baselineLabel ? ` of ${row.baselineLabel}` : ''}`;
}

function render(results: readonly RowResult[], settings: Settings, quick: boolean, processes: number): string {
  const out: string[] = [];
  out.push('@x benchmarks: median ratio to a bare `await fn()` measured in the same run (lower is better;');
  out.push('rows with a target "of X" are relative to X instead). Each op runs as `async () => { await op() }`');
  out.push('against `async () => { await fn() }`; "@x strict" drops that async frame from both sides (the op\'s');
  out.push('promise against `fn()`\'s), which leaves the same difference over a smaller base.');
  out.push(
    `Node ${process.version}, ${platform()} ${arch()}, ${cpus().length} CPUs; ${quick ? 'QUICK smoke run' : 'full run'}: ` +
      `${settings.rounds} interleaved rounds × ${settings.sampleMs} ms per op (mitata p50 per round)` +
      (processes > 1 ? `;\nmedian of ${processes} separate processes (one process's median ratio each)` : ''),
  );
  out.push('');
  const rows = results.map((r) => {
    const opossum = r.cells.opossum || r.cells.opossumDefault
      ? `${fmtRatio(r.cells.opossum, r.errors.opossum)}${r.cells.opossumDefault ? ` / ${fmtRatio(r.cells.opossumDefault, r.errors.opossumDefault)} (default timeout)` : ''}`
      : '—';
    return [
      r.row.operation,
      fmtRatio(r.cells.x, r.errors.x),
      fmtRatio(r.cells.xStrict, r.errors.x),
      fmtRatio(r.cells.cockatiel, r.errors.cockatiel),
      opossum,
      fmtRatio(r.cells.pRetry, r.errors.pRetry),
      targetText(r.row),
      verdict(r),
    ];
  });
  out.push(table(['operation', '@x', '@x strict', 'cockatiel', 'opossum', 'p-retry', 'target', 'result'], rows));
  out.push('');
  out.push(
    processes > 1
      ? 'Per op: median ns/op and the min..max of the per-process ratios (the noise band):'
      : 'Per op: median ns/op and the min..max of the per-round ratios (the noise band):',
  );
  const detail = results.flatMap((r) =>
    (Object.entries(r.cells) as [Column, Cell][]).map(([column, cell]) => [
      r.row.operation,
      column,
      `${cell.ns.toFixed(0)} ns`,
      `${cell.ratio.toFixed(2)}×`,
      `${cell.min.toFixed(2)}..${cell.max.toFixed(2)}`,
      `${(column === 'xStrict' ? (r.bareStrictNs ?? Number.NaN) : r.bareNs).toFixed(0)} ns`,
    ]),
  );
  out.push(table(['operation', 'library', 'time/op', 'ratio', processes > 1 ? 'process ratios' : 'round ratios', 'bare'], detail));
  const notes = results.flatMap((r) => [
    ...(r.row.note !== undefined ? [`${r.row.operation}: @x column skipped: ${r.row.note}`] : []),
    ...(Object.entries(r.errors) as [Column, string][]).map(([c, e]) => `${r.row.operation}: ${c} failed: ${e}`),
  ]);
  if (notes.length > 0) {
    out.push('');
    out.push('Notes:');
    for (const note of notes) out.push(`- ${note}`);
  }
  return out.join('\n');
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  const settings = args.quick ? QUICK : FULL;
  if (typeof (globalThis as { gc?: unknown }).gc !== 'function') {
    log('note: run with node --expose-gc (as `pnpm bench` does) so samples start from a collected heap');
  }
  if (args.processes > 1) return measureInProcesses(args, settings);
  const packages = await loadPackages();
  let crashed = false;
  const results: RowResult[] = [];
  for (const [id, make] of ROWS) {
    if (args.only !== undefined && !args.only.split(',').some((part) => id.includes(part))) continue;
    let row: Row;
    try {
      row = await make(packages);
    } catch (error) {
      crashed = true;
      log(`row ${id} could not be set up: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
      continue;
    }
    try {
      const result = await measureRow(row, settings, log);
      if (Object.keys(result.errors).length > 0) crashed = true;
      results.push(result);
    } finally {
      row.dispose?.();
    }
  }
  if (args.json) {
    const plain = plainRows(results);
    process.stdout.write(`${JSON.stringify({ node: process.version, quick: args.quick, settings, rows: plain }, null, 2)}\n`);
  } else {
    process.stdout.write(`\n${render(results, settings, args.quick, 1)}\n`);
  }
  return crashed ? 1 : 0;
}

/** Rows as `--json` prints them (and as a parent of `--processes` reads them back). */
function plainRows(results: readonly RowResult[]): ChildRow[] {
  return results.map((r) => ({
    operation: r.row.operation,
    target: r.row.target ?? null,
    targetOf: r.row.targetOf ?? null,
    baselineLabel: r.row.baselineLabel ?? null,
    result: verdict(r),
    bareNs: r.bareNs,
    bareStrictNs: r.bareStrictNs ?? null,
    cells: r.cells,
    errors: r.errors,
    note: r.row.note ?? null,
  }));
}

/** One row as a child process prints it with `--json`. */
interface ChildRow {
  readonly operation: string;
  readonly target: number | null;
  readonly targetOf: Column | null;
  readonly baselineLabel: string | null;
  readonly result: string;
  readonly bareNs: number;
  readonly bareStrictNs: number | null;
  readonly cells: Partial<Record<Column, Cell>>;
  readonly errors: Partial<Record<Column, string>>;
  readonly note: string | null;
}

/**
 * Runs the selected rows in `args.processes` fresh processes, one after another, and reports the
 * median of their ratios. Within one process the rounds share its JIT decisions and heap layout,
 * which on a noisy VM shift a whole run by a tenth of a bare call; separate processes sample that.
 */
function measureInProcesses(args: Args, settings: Settings): number {
  const childArgs = [
    ...process.execArgv,
    process.argv[1] as string,
    '--json',
    ...(args.quick ? ['--quick'] : []),
    ...(args.only !== undefined ? [`--only=${args.only}`] : []),
  ];
  const runs: ChildRow[][] = [];
  let crashed = false;
  for (let i = 0; i < args.processes; i++) {
    log(`process ${i + 1}/${args.processes}`);
    const child = spawnSync(process.execPath, childArgs, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 64 << 20 });
    if (child.status !== 0) crashed = true;
    try {
      runs.push((JSON.parse(child.stdout) as { rows: ChildRow[] }).rows);
    } catch {
      log(`process ${i + 1} printed no results (exit ${String(child.status)})`);
      crashed = true;
    }
  }
  const first = runs[0] ?? [];
  const results: RowResult[] = first.map((meta, index) => {
    const same = runs.map((rows) => rows[index]).filter((r): r is ChildRow => r?.operation === meta.operation);
    const cells: Partial<Record<Column, Cell>> = {};
    const errors: Partial<Record<Column, string>> = {};
    for (const r of same) Object.assign(errors, r.errors);
    const columns = new Set(same.flatMap((r) => Object.keys(r.cells) as Column[]));
    for (const column of columns) {
      const own = same.map((r) => r.cells[column]).filter((c): c is Cell => c !== undefined);
      const ratios = own.map((c) => c.ratio);
      cells[column] = { ratio: median(ratios), ns: median(own.map((c) => c.ns)), min: Math.min(...ratios), max: Math.max(...ratios) };
    }
    const row: Row = {
      operation: meta.operation,
      ops: {},
      ...(meta.target !== null && { target: meta.target }),
      ...(meta.targetOf !== null && { targetOf: meta.targetOf }),
      ...(meta.baselineLabel !== null && { baselineLabel: meta.baselineLabel }),
      ...(meta.note !== null && { note: meta.note }),
    };
    const strict = same.map((r) => r.bareStrictNs).filter((ns): ns is number => ns !== null);
    return { row, bareNs: median(same.map((r) => r.bareNs)), ...(strict.length > 0 && { bareStrictNs: median(strict) }), cells, errors };
  });
  if (args.json) {
    const plain = plainRows(results);
    process.stdout.write(`${JSON.stringify({ node: process.version, quick: args.quick, settings, processes: args.processes, rows: plain }, null, 2)}\n`);
  } else {
    process.stdout.write(`\n${render(results, settings, args.quick, args.processes)}\n`);
  }
  return crashed ? 1 : 0;
}

process.on('unhandledRejection', (reason) => {
  log(`unhandled rejection: ${reason instanceof Error ? (reason.stack ?? reason.message) : String(reason)}`);
  process.exit(1);
});

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    log(error instanceof Error ? (error.stack ?? error.message) : String(error));
    process.exit(1);
  },
);
