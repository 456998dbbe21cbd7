import type { BreakerState } from '@x/breaker';
import { formatMs, formatSeconds, percent, plural, stateStyle, wrap } from './format.js';
import type { Paint } from './format.js';
import { PHASE_NAMES } from './phases.js';
import type { PhaseName, Timeline } from './phases.js';
import { ATTEMPT_TIMEOUT_MS } from './policies.js';
import { REJECT_REASONS } from './stats.js';
import type { BreakerChange, PhaseStats, RejectReason, RunStats } from './stats.js';

/** The figures of one phase (or of the whole run). */
export interface PhaseSummary {
  readonly phase: PhaseName | 'total';
  readonly fromMs: number;
  readonly toMs: number;
  readonly requests: number;
  /** 200 with fresh data. */
  readonly ok: number;
  /** 200 with the fallback's stale data. */
  readonly fallback: number;
  /** Why requests did not get fresh data: 429s, and the causes behind the fallbacks. */
  readonly rejected: Readonly<Record<RejectReason, number>>;
  /** Requests that got no usable answer (should be 0). */
  readonly errors: number;
  readonly retries: number;
  readonly attemptTimeouts: number;
  readonly p50Ms: number | undefined;
  readonly p99Ms: number | undefined;
  readonly breakerChanges: readonly BreakerChange[];
}

/** What `runDemo` returns. */
export interface DemoSummary {
  /** How long the load ran. */
  readonly durationMs: number;
  readonly plannedDurationMs: number;
  /** True when the run was stopped early (SIGINT, or the `signal` option). */
  readonly stoppedEarly: boolean;
  readonly limiter: 'memory' | 'redis';
  /** Offered load and the limit, per second. */
  readonly rate: number;
  readonly limitPerSecond: number;
  readonly phases: readonly PhaseSummary[];
  readonly total: PhaseSummary;
  readonly breaker: {
    readonly openedDuringFailing: boolean;
    readonly finalState: BreakerState;
    readonly changes: readonly BreakerChange[];
  };
  /** Anything unusual worth a line (client errors, Redis trouble). */
  readonly notes: readonly string[];
}

export interface SummaryInput {
  readonly stats: RunStats;
  readonly timeline: Timeline;
  readonly durationMs: number;
  readonly stoppedEarly: boolean;
  readonly limiter: 'memory' | 'redis';
  readonly rate: number;
  readonly limitPerSecond: number;
  readonly finalState: BreakerState;
  readonly notes: readonly string[];
}

export function buildSummary(input: SummaryInput): DemoSummary {
  const { stats, timeline } = input;
  const phases = PHASE_NAMES.map((name, i) =>
    phaseSummary(name, timeline.bounds[i] as number, timeline.bounds[i + 1] as number, stats.phases[name]),
  );
  const total = phaseSummary('total', 0, timeline.durationMs, stats.total());
  const notes = [...input.notes];
  for (const [detail, count] of stats.errorDetails()) notes.push(`${count} request(s) got no usable answer: ${detail}`);
  return {
    durationMs: input.durationMs,
    plannedDurationMs: timeline.durationMs,
    stoppedEarly: input.stoppedEarly,
    limiter: input.limiter,
    rate: input.rate,
    limitPerSecond: input.limitPerSecond,
    phases,
    total,
    breaker: {
      openedDuringFailing: stats.phases.failing.breakerChanges.some((c) => c.to === 'open'),
      finalState: input.finalState,
      changes: total.breakerChanges,
    },
    notes,
  };
}

function phaseSummary(phase: PhaseName | 'total', fromMs: number, toMs: number, s: PhaseStats): PhaseSummary {
  return {
    phase,
    fromMs,
    toMs,
    requests: s.requests,
    ok: s.ok,
    fallback: s.fallback,
    rejected: { ...s.rejected },
    errors: s.errors,
    retries: s.retries,
    attemptTimeouts: s.attemptTimeouts,
    p50Ms: s.latency.quantile(0.5),
    p99Ms: s.latency.quantile(0.99),
    breakerChanges: [...s.breakerChanges].sort((a, b) => a.atMs - b.atMs),
  };
}

const LABEL_WIDTH = 26;
const COLUMN_WIDTH = 12;

type Row = readonly [label: string, value: (p: PhaseSummary) => string];

/** The table's rows, one per figure; the columns are the phases and the total. */
const ROWS: readonly (Row | string)[] = [
  ['requests', (p) => String(p.requests)],
  ['  fresh (200)', (p) => String(p.ok)],
  ['  fallback (200, stale)', (p) => String(p.fallback)],
  ['  rate limited (429)', (p) => String(p.rejected.rate_limited)],
  'why the fallback answered',
  ['  bulkhead full', (p) => String(p.rejected.bulkhead_full)],
  ['  breaker open', (p) => String(p.rejected.breaker_open)],
  ['  timeout', (p) => String(p.rejected.timeout)],
  ['  failed after retries', (p) => String(p.rejected.failed)],
  'inside the stack',
  ['  retries scheduled', (p) => String(p.retries)],
  [`  attempts cut at ${ATTEMPT_TIMEOUT_MS} ms`, (p) => String(p.attemptTimeouts)],
  ['  breaker state changes', (p) => String(p.breakerChanges.length)],
  'latency seen by the client',
  ['  p50', (p) => formatMs(p.p50Ms)],
  ['  p99', (p) => formatMs(p.p99Ms)],
];

/** The summary as text: a table per phase, the breaker's timeline, and what they show. Fits 80 columns. */
export function renderSummary(summary: DemoSummary, paint: Paint): string {
  const out: string[] = [];
  const how = summary.stoppedEarly
    ? `stopped early after ${formatSeconds(summary.durationMs)} of ${formatSeconds(summary.plannedDurationMs)}`
    : formatSeconds(summary.durationMs);
  out.push('', paint('bold', `Summary (${how}, rate limiter ${summary.limiter === 'redis' ? 'on Redis' : 'in memory'})`), '');

  const columns = [...summary.phases, summary.total];
  const cells = (values: readonly string[]): string => values.map((v) => v.padStart(COLUMN_WIDTH)).join('');
  out.push(paint('bold', `${''.padEnd(LABEL_WIDTH)}${cells(columns.map((p) => p.phase))}`));
  out.push(
    paint(
      'dim',
      `${''.padEnd(LABEL_WIDTH)}${cells(columns.map((p) => (p.phase === 'total' ? formatSeconds(summary.durationMs) : `${formatSeconds(p.fromMs).replace(' s', '')}–${formatSeconds(p.toMs)}`)))}`,
    ),
  );
  for (const row of ROWS) {
    if (typeof row === 'string') {
      out.push(paint('dim', row));
      continue;
    }
    const [label, value] = row;
    out.push(`${label.padEnd(LABEL_WIDTH)}${cells(columns.map(value))}`);
  }

  out.push('', paint('bold', "Breaker 'downstream'"));
  const timeline = breakerTimeline(summary.breaker.changes);
  if (timeline.length === 0) out.push('  no state changes');
  for (const line of timeline) out.push(`  ${line}`);
  const final = summary.breaker.finalState;
  out.push(`  final state: ${paint(stateStyle(final), final)}`);

  out.push('', paint('bold', 'What the run shows'));
  for (const sentence of story(summary)) {
    wrap(sentence, 74).forEach((line, i) => out.push(`${i === 0 ? '  • ' : '    '}${line}`));
  }
  for (const note of summary.notes) {
    wrap(note, 74).forEach((line, i) => out.push(paint('yellow', `${i === 0 ? '  ! ' : '    '}${line}`)));
  }
  out.push('');
  return out.join('\n');
}

/**
 * The state changes, one per line, with runs of failed probes (open → half-open → open) folded
 * into one line: while the downstream stays down they repeat every `openMs` and say nothing new.
 */
function breakerTimeline(changes: readonly BreakerChange[]): string[] {
  const lines: string[] = [];
  const line = (c: BreakerChange): string =>
    `${formatSeconds(c.atMs).padStart(6)}  ${c.phase.padEnd(11)}${`${c.from} → ${c.to}`.padEnd(21)}${c.reason}`;
  let i = 0;
  while (i < changes.length) {
    let j = i;
    while (isProbeCycle(changes, j)) j += 2;
    const cycles = (j - i) / 2;
    if (cycles >= 2) {
      const first = changes[i] as BreakerChange;
      const last = changes[j - 1] as BreakerChange;
      lines.push(
        `${formatSeconds(first.atMs).padStart(6)}  ${first.phase.padEnd(11)}${'open ⇄ half_open'.padEnd(21)}${cycles} probes failed, the last at ${formatSeconds(last.atMs)}`,
      );
      i = j;
    } else {
      lines.push(line(changes[i] as BreakerChange));
      i++;
    }
  }
  return lines;
}

function isProbeCycle(changes: readonly BreakerChange[], at: number): boolean {
  const a = changes[at];
  const b = changes[at + 1];
  return a !== undefined && b !== undefined && a.from === 'open' && a.to === 'half_open' && b.from === 'half_open' && b.to === 'open';
}

/** Plain sentences drawn from the figures, so the reader does not have to decode the table. */
function story(s: DemoSummary): string[] {
  const [healthy, failing, recovering] = s.phases as readonly [PhaseSummary, PhaseSummary, PhaseSummary];
  const lines: string[] = [];
  if (healthy.requests > 0) {
    const retries =
      healthy.retries === 0 ? 'no call needed a retry' : `${healthy.retries} retr${healthy.retries === 1 ? 'y' : 'ies'} absorbed the odd failure`;
    lines.push(
      `healthy: ${percent(healthy.ok, healthy.requests)} fresh answers; ${retries}; ` +
        `${healthy.rejected.rate_limited} rate limited (${s.rate}/s offered, ${s.limitPerSecond}/s allowed).`,
    );
  }
  const opened = failing.breakerChanges.find((c) => c.to === 'open');
  if (opened !== undefined) {
    lines.push(
      `failing: the timeout cut ${plural(failing.attemptTimeouts, 'hung attempt')} and the retry retried ${plural(failing.retries, 'time')}; ` +
        `the breaker opened ${formatSeconds(opened.atMs - failing.fromMs)} into the phase (${opened.reason}).`,
      `failing: from then on calls were refused at once by the open breaker (${failing.rejected.breaker_open} in the phase) and ` +
        `answered from the fallback: the phase's p50 is ${formatMs(failing.p50Ms)}. The bulkhead turned away ` +
        `${failing.rejected.bulkhead_full} while calls hung.`,
    );
  } else if (failing.requests > 0) {
    lines.push('failing: the breaker did not open (the phase may have been too short for its trip rules).');
  }
  const closed = [...recovering.breakerChanges].reverse().find((c) => c.to === 'closed');
  if (closed !== undefined) {
    lines.push(
      `recovering: the breaker half-opened, its probes succeeded, and it closed ${formatSeconds(closed.atMs - recovering.fromMs)} into the phase; ` +
        `${percent(recovering.ok, recovering.requests)} fresh answers over the phase.`,
    );
  } else if (recovering.requests > 0 && s.breaker.finalState !== 'closed') {
    lines.push(`recovering: the breaker was still ${s.breaker.finalState} at the end.`);
  }
  lines.push(
    'the breaker sits outside the retry: a call retried 3 times counts once in the breaker, so it trips on calls that failed even after retrying.',
  );
  if (s.total.fallback > 0) lines.push(`${s.total.fallback} fallbacks in total: users got a stale price instead of an error.`);
  return lines;
}
