import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runDemo } from './demo.js';
import type { DemoSummary, DemoUrls } from './demo.js';

/** Collects what the demo writes. */
function buffer(isTTY = false) {
  const chunks: string[] = [];
  return {
    output: { isTTY, columns: 120, write: (text: string) => chunks.push(text) },
    text: () => chunks.join(''),
  };
}

/** Node process warnings (MaxListenersExceeded and the like) raised while a test runs. */
let warnings: Error[] = [];
const onWarning = (warning: Error) => warnings.push(warning);
beforeEach(() => {
  warnings = [];
  process.on('warning', onWarning);
});
afterEach(() => {
  process.off('warning', onWarning);
});

const TCP = (info: string) => info.startsWith('TCP');

describe('runDemo, shortened', () => {
  it('tells the story: the breaker opens while the downstream fails and closes once it recovers', async () => {
    const out = buffer();
    const scraped: { metrics?: string; healthStatus?: number; health?: unknown; runningUrls?: DemoUrls } = {};
    const tcpBefore = process.getActiveResourcesInfo().filter(TCP).length;

    const summary: DemoSummary = await runDemo({
      // 1 s healthy, 2 s failing, 2 s recovering: room for the breaker to open and to close on a
      // busy machine (it opens after about 0.5 s of failures; its open period is 400 ms here).
      durationMs: 5_000,
      phases: { healthy: 0.2, failing: 0.4, recovering: 0.4 },
      output: out.output,
      onRunning: (urls) => {
        scraped.runningUrls = urls;
      },
      beforeClose: async (urls) => {
        const metrics = await fetch(urls.metrics);
        scraped.metrics = await metrics.text();
        const health = await fetch(urls.healthz);
        scraped.healthStatus = health.status;
        scraped.health = await health.json();
      },
    });

    // Every phase saw traffic, and every request got an HTTP answer.
    expect(summary.phases.map((p) => p.phase)).toEqual(['healthy', 'failing', 'recovering']);
    for (const phase of summary.phases) expect(phase.requests).toBeGreaterThan(15);
    expect(summary.total.errors).toBe(0);
    expect(summary.limiter).toBe('memory');
    expect(summary.stoppedEarly).toBe(false);

    // Healthy: nearly everything fresh. Failing: nothing fresh, the breaker opened.
    const [healthy, failing, recovering] = summary.phases as [DemoSummary['phases'][0], DemoSummary['phases'][0], DemoSummary['phases'][0]];
    expect(healthy.ok / healthy.requests).toBeGreaterThan(0.8);
    expect(failing.ok / failing.requests).toBeLessThan(0.2);
    expect(summary.breaker.openedDuringFailing).toBe(true);
    expect(failing.rejected.breaker_open).toBeGreaterThan(0);
    expect(failing.retries).toBeGreaterThan(0);
    expect(summary.total.fallback).toBeGreaterThan(0);
    // Recovering: the circuit closed again and stayed closed.
    expect(recovering.breakerChanges.some((c) => c.to === 'closed')).toBe(true);
    expect(summary.breaker.finalState).toBe('closed');
    expect(recovering.ok / recovering.requests).toBeGreaterThan(0.4);

    for (const p of [...summary.phases, summary.total]) {
      expect(p.p50Ms).toBeGreaterThan(0);
      expect(p.p99Ms).toBeGreaterThanOrEqual(p.p50Ms as number);
    }

    // /metrics and /healthz answered while the server ran.
    expect(scraped.runningUrls?.metrics).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    expect(scraped.metrics).toContain('x_circuit_breaker_state{name="downstream"}');
    expect(scraped.metrics).toMatch(/x_circuit_breaker_requests_total\{name="downstream",result="rejected"\} [1-9]/);
    expect(scraped.metrics).toContain('x_ratelimit_requests_total');
    expect(scraped.metrics).toContain('x_retry_attempts_total');
    expect([200, 503]).toContain(scraped.healthStatus);
    expect(scraped.health).toMatchObject({
      name: 'demo-api',
      checks: { downstream: expect.any(Object), breaker: expect.any(Object), error_budget: expect.any(Object) },
    });

    // The output: start banner, progress lines, summary; nothing alarming.
    const text = out.text();
    expect(text).toContain(scraped.runningUrls?.healthz);
    expect(text).toContain('in memory');
    expect(text).toContain('a retried call counts once');
    expect(text).toMatch(/\d\.\d s  healthy\S* +\d+ req\/s  fresh /); // a progress line every ~2 s
    expect(text).toContain('Summary (5.0 s');
    expect(text).not.toMatch(/\x1b\[/); // no ANSI codes when the output is not a terminal
    expect(text).not.toMatch(/Error|Warning|\n\s+at /);
    expect(warnings).toEqual([]);

    // Everything it opened is closed: no server or socket left behind. Sockets finish closing on
    // the next turns of the event loop, so give them a moment.
    await expect.poll(() => process.getActiveResourcesInfo().filter(TCP).length, { timeout: 2_000 }).toBeLessThanOrEqual(tcpBefore);
  });

  it('redraws a live view in place on a terminal, and a stop signal ends the run early with a summary', async () => {
    const out = buffer(true);
    const stop = new AbortController();
    const timer = setTimeout(() => stop.abort(), 1_500);
    const summary = await runDemo({ durationMs: 6_000, output: out.output, color: false, signal: stop.signal });
    clearTimeout(timer);

    expect(summary.stoppedEarly).toBe(true);
    expect(summary.durationMs).toBeLessThan(4_000);
    expect(summary.total.requests).toBeGreaterThan(0);
    const text = out.text();
    expect(text).toMatch(/\x1b\[\d+F\x1b\[J/); // cursor back over the previous frame, erase, redraw
    expect(text).toContain('breaker    CLOSED');
    expect(text).toContain('stopped early after');
    // The first frame already knows the downstream's health and does not claim 0 req/s.
    const first = text.split(/\x1b\[\d+F\x1b\[J/)[0] ?? '';
    expect(first).toContain('/healthz');
    expect(first).not.toMatch(/unknown/);
    expect(first).not.toMatch(/\b0 req\/s/);
    expect(text).not.toMatch(/\b1 attempts\b|-\d+ % of the error budget/);
    expect(warnings).toEqual([]);
  });

  it('rejects options that make no sense', async () => {
    await expect(runDemo({ durationMs: 10, quiet: true })).rejects.toThrow(/durationMs/);
    await expect(runDemo({ rate: Number.NaN, quiet: true })).rejects.toThrow(/rate/);
    await expect(runDemo({ phases: { failing: 0 }, quiet: true })).rejects.toThrow(/failing/);
  });
});
