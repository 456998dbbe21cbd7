import type { Breaker } from '@x/breaker';
import type { ErrorBudget, HealthMonitor } from '@x/health';
import { behaviourAt } from './downstream.js';
import { budgetLeft, formatMs, formatSeconds, plural, stateStyle, visibleLength } from './format.js';
import type { DemoOutput, Paint } from './format.js';
import { PHASE_NAMES } from './phases.js';
import type { Timeline } from './phases.js';
import { ATTEMPT_TIMEOUT_MS } from './policies.js';
import { SLO } from './observability.js';
import type { PhaseStats, RunStats } from './stats.js';

/** What the live view reads on every frame. */
export interface ViewSources {
  readonly timeline: Timeline;
  readonly elapsed: () => number;
  readonly stats: RunStats;
  readonly breaker: Breaker;
  readonly health: HealthMonitor;
  readonly budget: ErrorBudget;
}

/** `live`: redraw in place (a terminal); `lines`: a progress line every 2 s (CI, pipes); `none`. */
export type ViewMode = 'live' | 'lines' | 'none';

export interface LiveView {
  start(): void;
  /** Stops the timer; the live frame is drawn one last time so it shows the end state. */
  stop(): void;
}

const FRAME_MS = 250;
const WINDOW_MS = 2_000;
const BAR_WIDTH = 36;

/** The live view: redrawn in place on a terminal, a progress line every 2 s elsewhere. */
export function createView(mode: ViewMode, output: DemoOutput, sources: ViewSources, paint: Paint): LiveView {
  if (mode === 'none') return { start() {}, stop() {} };
  const draw = mode === 'live' ? liveFrames(output, sources, paint) : progressLines(output, sources, paint);
  let timer: ReturnType<typeof setInterval> | undefined;
  return {
    start() {
      if (timer !== undefined) return;
      timer = setInterval(() => draw(false), mode === 'live' ? FRAME_MS : WINDOW_MS);
      if (mode === 'live') draw(false);
    },
    stop() {
      if (timer === undefined) return;
      clearInterval(timer);
      timer = undefined;
      draw(true);
    },
  };
}

/**
 * Terminal mode: a frame of about a dozen lines, redrawn in place 4 times a second. The counts
 * are those of the current phase, so each act of the story starts from zero.
 */
function liveFrames(output: DemoOutput, sources: ViewSources, paint: Paint): (last: boolean) => void {
  const { stats } = sources;
  const rate = new RateMeter();
  let rows = 0; // terminal rows of the previous frame, to move back over them
  let rotatedAt = 0;
  return () => {
    const now = sources.elapsed();
    rate.sample(now, totalRequests(stats));
    if (now - rotatedAt >= WINDOW_MS) {
      stats.rotateRecent();
      rotatedAt = now;
    }
    const lines = frame(sources, rate.perSecond, paint);
    // Back to the start of the previous frame, erase it and everything below, write the new one.
    // Rows are counted after wrapping, so a narrow terminal does not leave stale copies behind.
    const columns = output.columns !== undefined && output.columns > 0 ? output.columns : Infinity;
    output.write(`${rows > 0 ? `\x1b[${rows}F\x1b[J` : ''}${lines.join('\n')}\n`);
    rows = lines.reduce((sum, line) => sum + Math.max(1, Math.ceil(visibleLength(line) / columns)), 0);
  };
}

/**
 * Pipe/CI mode: one line per 2 s with what happened in those 2 s, so a log reads as a timeline.
 * The final call prints the last partial window only if it is worth a line.
 */
function progressLines(output: DemoOutput, sources: ViewSources, paint: Paint): (last: boolean) => void {
  const { stats, timeline, breaker, health } = sources;
  let previous = snapshot(stats.total());
  let previousAt = 0;
  return (last) => {
    const now = Math.min(sources.elapsed(), timeline.durationMs);
    const window = now - previousAt;
    if (last && window < 500) return;
    const current = snapshot(stats.total());
    const d = difference(current, previous);
    const latency = stats.currentWindow();
    const p50 = latency.quantile(0.5);
    const p99 = latency.quantile(0.99);
    stats.rotateRecent();
    previous = current;
    const state = breaker.state;
    const status = health.report().status;
    const why = [
      ['open', d.breaker_open],
      ['bulkhead', d.bulkhead_full],
      ['timeout', d.timeout],
      ['failed', d.failed],
    ]
      .filter(([, n]) => (n as number) > 0)
      .map(([what, n]) => `${what} ${n}`)
      .join(', ');
    const from = timeline.at(now - window).phase;
    const to = timeline.at(Math.max(0, now - 1)).phase;
    const parts = [
      `${(previousAt / 1_000).toFixed(0).padStart(3)}–${formatSeconds(now).padStart(6)}`,
      (from === to ? from : `${from}→${to}`).padEnd(18),
      `${String(Math.round((d.requests * 1_000) / Math.max(window, 1))).padStart(3)} req/s`,
      `fresh ${String(d.ok).padStart(3)}`,
      `fallback ${String(d.fallback).padStart(3)}${why === '' ? '' : ` (${why})`}`,
      `429 ${d.rate_limited}`,
      `retries ${d.retries}`,
      `breaker ${paint(stateStyle(state), state)}`,
      `/healthz ${paint(stateStyle(status), status)}`,
      `p50 ${formatMs(p50)} p99 ${formatMs(p99)}`,
    ];
    output.write(`${parts.join('  ')}\n`);
    previousAt = now;
  };
}

type Counts = ReturnType<typeof snapshot>;

function snapshot(s: PhaseStats) {
  return { requests: s.requests, ok: s.ok, fallback: s.fallback, retries: s.retries, ...s.rejected };
}

function difference(a: Counts, b: Counts): Counts {
  const out = { ...a };
  for (const key of Object.keys(out) as (keyof Counts)[]) out[key] = a[key] - b[key];
  return out;
}

/**
 * Requests per second over the last second or so, from samples of the running total. Undefined
 * until a quarter second has passed (nothing to measure yet: not "0 req/s"); the first reading
 * covers the time since the start, later ones the last second.
 */
export class RateMeter {
  perSecond: number | undefined = undefined;
  #at = 0;
  #count = 0;

  sample(now: number, count: number): void {
    const dt = now - this.#at;
    if (dt < (this.perSecond === undefined ? 250 : 900)) return;
    this.perSecond = ((count - this.#count) * 1_000) / dt;
    this.#at = now;
    this.#count = count;
  }
}

function totalRequests(stats: RunStats): number {
  let n = 0;
  for (const name of PHASE_NAMES) n += stats.phases[name].requests;
  return n;
}

function frame(sources: ViewSources, perSecond: number | undefined, paint: Paint): string[] {
  const { timeline, stats, breaker, health, budget } = sources;
  const elapsed = Math.min(sources.elapsed(), timeline.durationMs);
  const position = timeline.at(elapsed);
  const phase = stats.phases[position.phase];
  const filled = Math.round((elapsed / timeline.durationMs) * BAR_WIDTH);
  const bar = paint('cyan', '━'.repeat(filled)) + paint('dim', '─'.repeat(BAR_WIDTH - filled));

  const phases = PHASE_NAMES.map((name) => (name === position.phase ? paint('bold', name.toUpperCase()) : paint('dim', name))).join(' ▸ ');
  const b = behaviourAt(position);
  const downstream = b.up
    ? `${Math.round(b.errorRate * 100)} % errors, ${Math.round(b.slowRate * 100)} % slower than ${ATTEMPT_TIMEOUT_MS} ms`
    : paint('red', `down: ${Math.round(b.errorRate * 100)} % quick 503s, ${Math.round(b.slowRate * 100)} % hang`);

  const breakerStats = breaker.stats();
  const state = breakerStats.state;
  let breakerLine = paint(stateStyle(state), state.toUpperCase().replace('_', '-'));
  if (state === 'open') breakerLine += ` · half-opens in ${formatMs(breakerStats.timeUntilHalfOpenMs)}`;
  let changes = 0;
  for (const name of PHASE_NAMES) changes += stats.phases[name].breakerChanges.length;
  breakerLine += paint('dim', ` · ${changes} state change${changes === 1 ? '' : 's'} so far`);

  const report = health.report();
  const checks = Object.entries(report.checks)
    .map(([name, check]) => `${name} ${paint(stateStyle(check.status), check.status)}`)
    .join(' · ');
  const left = budgetLeft(budget.remaining);

  const r = phase.rejected;
  const recent = stats.recentLatency();
  return [
    `${paint('bold', '@x demo')}  ${bar}  ${formatSeconds(elapsed)} / ${formatSeconds(timeline.durationMs)}`,
    `phase      ${phases}`,
    `downstream ${downstream}`,
    `breaker    ${breakerLine}`,
    `/healthz   ${paint(stateStyle(report.status), report.status)} · ${checks}`,
    `budget     SLO ${SLO * 100} % fresh · ${paint(left.style, left.text)} of the error budget left`,
    paint('dim', `── ${position.phase} phase so far ${'─'.repeat(Math.max(0, 40 - position.phase.length))}`),
    `requests   ${phase.requests} · ${perSecond === undefined ? '–' : Math.round(perSecond)} req/s · ${stats.inFlight} in flight`,
    `answers    ${paint('green', `${phase.ok} fresh`)} · ${paint('yellow', `${phase.fallback} fallback`)} · ${r.rate_limited} rate limited (429)${phase.errors > 0 ? paint('red', ` · ${phase.errors} errors`) : ''}`,
    `rejected   ${r.rate_limited} rate limited · ${r.bulkhead_full} bulkhead full · ${r.breaker_open} breaker open`,
    `           ${r.timeout} timed out · ${r.failed} failed after retries`,
    `retries    ${phase.retries} scheduled · ${plural(phase.attemptTimeouts, 'attempt')} cut by the timeout`,
    `latency    p50 ${formatMs(recent.quantile(0.5))} · p99 ${formatMs(recent.quantile(0.99))} ${paint('dim', '(last 2–4 s)')}`,
  ];
}
