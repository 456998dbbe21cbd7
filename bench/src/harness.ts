import { measure } from 'mitata';

/** One operation, called once per iteration; its promise is awaited. */
export type Op = () => Promise<unknown>;

/**
 * The libraries a row can be compared against, one column each. `xStrict` is the @x op measured
 * without the caller's async frame (see `measureRow`); it is never set in `Row.ops`.
 */
export type Column = 'x' | 'xStrict' | 'cockatiel' | 'opossum' | 'opossumDefault' | 'pRetry';

/** What a row module returns: the operation under each library, measured against bare `await fn()`. */
export interface Row {
  /** What is measured, as printed in the table. */
  readonly operation: string;
  /** The bound on the @x ratio (median, to bare `await fn()`); undefined = informational. */
  readonly target?: number;
  /** When set, `target` multiplies this column's ratio in the same run (e.g. "≤ cockatiel"). */
  readonly targetOf?: Column;
  /** The measured operation per column; a missing column prints as "—". */
  readonly ops: Partial<Record<Column, Op>>;
  /** Checks each op's first result, so a broken setup is never timed (e.g. a rejection). */
  readonly verify?: (column: Column, result: unknown) => void;
  /** Why the @x column is empty, when it is. */
  readonly note?: string;
  /** Stops timers the anchors keep (opossum's stats intervals). */
  readonly dispose?: () => void;
  /**
   * What ratios are relative to, instead of a bare `await fn()`: e.g. the same breaker call with no
   * listener, to price the metrics exporter alone. Named in the table by `baselineLabel`.
   */
  readonly baseline?: Op;
  readonly baselineLabel?: string;
}

export interface Settings {
  /** Measurement rounds; every op of a row (and bare) is sampled once per round, interleaved. */
  readonly rounds: number;
  /** CPU time mitata spends on one op in one round (ms). */
  readonly sampleMs: number;
  /** Time each op runs before measuring (ms), so the JIT has settled. */
  readonly warmupMs: number;
}

export const FULL: Settings = { rounds: 15, sampleMs: 80, warmupMs: 150 };
export const QUICK: Settings = { rounds: 4, sampleMs: 50, warmupMs: 40 };

/** Result of one column of a row. */
export interface Cell {
  /** Median over rounds of (op time / bare time in the same round). */
  readonly ratio: number;
  /** Median time per op, ns. */
  readonly ns: number;
  /** Spread of the per-round ratios (min..max), to judge the noise. */
  readonly min: number;
  readonly max: number;
}

export interface RowResult {
  readonly row: Row;
  readonly bareNs: number;
  /** Bare `fn()` without the async frame, when the row has a strict column. */
  readonly bareStrictNs?: number;
  readonly cells: Partial<Record<Column, Cell>>;
  readonly errors: Partial<Record<Column, string>>;
}

/** The baseline every ratio is relative to: an async function that returns at once. */
export const work = async (): Promise<number> => 1;
const bare: Op = () => work();

/**
 * The op as an application runs it: inside an async function, `await op()`. Every column, and bare
 * `await fn()`, is measured this way, so each ratio includes the caller's own async frame on both
 * sides. This is the setting closest to the anchor figures the issue and BRIEF §6 quote
 * (cockatiel's closed breaker 2.34× here against 2.4× there; see bench/README.md).
 */
const awaited = (op: Op): Op =>
  // Compiled per op, so each wrapper's call site sees one op, as a call site in an application does.
  // eslint-disable-next-line @typescript-eslint/no-implied-eval -- no user input: a fixed source text
  new Function('op', 'return async () => { await op(); };')(op) as Op;

async function warmUp(op: Op, ms: number): Promise<void> {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    for (let i = 0; i < 256; i++) await op();
  }
}

/** Median time of one op (ns) over a mitata sampling run of about `sampleMs`. */
async function sample(op: Op, settings: Settings): Promise<number> {
  const stats = await measure(op, { min_cpu_time: settings.sampleMs * 1e6 });
  return stats.p50;
}

/** The middle value (the mean of the two middle values for an even count). */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/**
 * Measures one row. Bare `await fn()` is sampled in every round next to the ops, and each ratio
 * is taken within its round, so a machine that slows down or speeds up during the run moves both
 * sides of the ratio together. The order inside a round rotates to spread position effects.
 */
export async function measureRow(row: Row, settings: Settings, log: (line: string) => void): Promise<RowResult> {
  const errors: Partial<Record<Column, string>> = {};
  const base = awaited(row.baseline ?? bare);
  await base();
  const ops: [Column | 'bare' | 'bareStrict', Op][] = [['bare', base]];
  for (const [column, op] of Object.entries(row.ops) as [Column, Op][]) {
    try {
      const result = await op();
      row.verify?.(column, result);
      const timed = awaited(op);
      await warmUp(timed, settings.warmupMs);
      ops.push([column, timed]);
      // Strict: the @x op's own promise against `fn()`'s, with no async frame around either. It
      // is the harder reading (the frame no longer dilutes the difference) and is printed beside.
      if (column === 'x' && row.baseline === undefined) {
        await warmUp(op, settings.warmupMs);
        await warmUp(bare, settings.warmupMs);
        ops.push(['xStrict', op], ['bareStrict', bare]);
      }
    } catch (error) {
      errors[column] = error instanceof Error ? error.message : String(error);
    }
  }
  await warmUp(base, settings.warmupMs);

  const times = new Map<string, number[]>(ops.map(([c]) => [c, []]));
  for (let round = 0; round < settings.rounds; round++) {
    log(`  ${row.operation}: round ${round + 1}/${settings.rounds}`);
    for (let k = 0; k < ops.length; k++) {
      const [column, op] = ops[(k + round) % ops.length] as [string, Op];
      (times.get(column) as number[]).push(await sample(op, settings));
    }
  }

  const cells: Partial<Record<Column, Cell>> = {};
  for (const [column] of ops) {
    if (column === 'bare' || column === 'bareStrict') continue;
    const bareTimes = times.get(column === 'xStrict' ? 'bareStrict' : 'bare') as number[];
    const own = times.get(column) as number[];
    const ratios = own.map((t, i) => t / (bareTimes[i] as number));
    cells[column] = { ratio: median(ratios), ns: median(own), min: Math.min(...ratios), max: Math.max(...ratios) };
  }
  const bareStrict = times.get('bareStrict');
  return { row, bareNs: median(times.get('bare') as number[]), ...(bareStrict && { bareStrictNs: median(bareStrict) }), cells, errors };
}
