// A real Prometheus (Debian's `prometheus` package) scraping the demo every second while the demo
// runs its outage, with the shipped alert rules compressed in time (this test only). Checks through
// Prometheus' HTTP API that the target is up, that the outage pages (CircuitBreakerOpen fires while
// half-open probes keep failing), and that every dashboard query returns data or is documented as
// event-driven. Skipped loudly without prometheus locally; fails in CI (CI=true), which installs it.
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { alertRulesYaml, dashboardQueries } from '@x/metrics';
import { afterAll, describe, expect, it } from 'vitest';
import { runDemo } from './demo.js';
import { PROMETHEUS_OUTAGE } from './outage.js';

const available = spawnSync('prometheus', ['--version'], { encoding: 'utf8', timeout: 10_000 }).status === 0;
const inCI = process.env.CI === 'true' || process.env.CI === '1';
if (!available) {
  const message = 'prometheus not found: the Prometheus end-to-end test is skipped (apt-get install -y prometheus to run it)';
  if (inCI) throw new Error(`${message}; CI=true requires it`);
  console.warn(`\n\u001b[33m!!! ${message}\u001b[0m\n`);
}

/** Packages the demo does not use: their dashboard queries have nothing to show here. */
const NOT_IN_DEMO = new Set(['lock', 'bloom', 'dlq', 'cache']);
/** Windows and `for:` durations of the rules, scaled: a 5-minute condition becomes 12 s. */
const TIME_SCALE = 0.04;

const dir = mkdtempSync(join(tmpdir(), 'x-demo-prometheus-'));
let prometheus: ChildProcess | undefined;
let log = '';

afterAll(async () => {
  if (prometheus !== undefined && prometheus.exitCode === null) {
    const exited = new Promise((resolve) => prometheus?.once('exit', resolve));
    prometheus.kill('SIGTERM');
    const timer = setTimeout(() => prometheus?.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  }
  rmSync(dir, { recursive: true, force: true });
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** GET on Prometheus' API, bounded to 5 s. */
async function api<T>(base: string, path: string): Promise<T> {
  const response = await fetch(`${base}${path}`, { signal: AbortSignal.timeout(5_000) });
  const body = (await response.json()) as { status: string; data: T; error?: string };
  if (body.status !== 'success') throw new Error(`${path}: ${body.error ?? response.status}`);
  return body.data;
}

interface Alert {
  readonly labels: Record<string, string>;
  readonly state: 'pending' | 'firing';
}

const describeIf = available || inCI ? describe : describe.skip;

describeIf('the demo scraped by a real Prometheus', () => {
  it('target up, the outage alert fires through half-open probes, every dashboard query has data or is event-driven', async () => {
    const [promPort, demoPort] = [await freePort(), await freePort()];
    const base = `http://127.0.0.1:${promPort}`;
    writeFileSync(join(dir, 'rules.yml'), alertRulesYaml({ timeScale: TIME_SCALE }));
    writeFileSync(
      join(dir, 'prometheus.yml'),
      [
        'global:',
        '  scrape_interval: 1s',
        '  evaluation_interval: 1s',
        'rule_files:',
        '  - rules.yml',
        'scrape_configs:',
        '  - job_name: demo',
        '    scrape_timeout: 900ms',
        '    static_configs:',
        `      - targets: ['127.0.0.1:${demoPort}']`,
        '',
      ].join('\n'),
    );
    prometheus = spawn(
      'prometheus',
      [
        `--config.file=${join(dir, 'prometheus.yml')}`,
        `--storage.tsdb.path=${join(dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${promPort}`,
        '--log.level=warn',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    prometheus.stdout?.on('data', (d: Buffer) => (log += d.toString()));
    prometheus.stderr?.on('data', (d: Buffer) => (log += d.toString()));
    const ready = Date.now() + 20_000;
    for (;;) {
      if (prometheus.exitCode !== null) throw new Error(`prometheus exited: ${log}`);
      if (await fetch(`${base}/-/ready`, { signal: AbortSignal.timeout(1_000) }).then((r) => r.ok, () => false)) break;
      if (Date.now() > ready) throw new Error(`prometheus not ready in 20 s: ${log}`);
      await sleep(200);
    }

    // Watch the alerts while the demo runs; the breaker is open or half-open through the failing phase.
    let firing: Alert | undefined;
    let pendingSeen = false;
    let watching = true;
    const watcher = (async () => {
      while (watching && firing === undefined) {
        const { alerts } = await api<{ alerts: Alert[] }>(base, '/api/v1/alerts').catch(() => ({ alerts: [] as Alert[] }));
        const open = alerts.filter((a) => a.labels['alertname'] === 'CircuitBreakerOpen');
        pendingSeen ||= open.some((a) => a.state === 'pending');
        firing = open.find((a) => a.state === 'firing');
        await sleep(500);
      }
    })();

    const failures: string[] = [];
    let targetUp = false;
    const summary = await runDemo({
      ...PROMETHEUS_OUTAGE,
      port: demoPort,
      quiet: true,
      beforeClose: async () => {
        // The load has ended; the API still serves /metrics. Everything is asserted now.
        const targets = await api<{ activeTargets: Array<{ health: string; lastError: string }> }>(base, '/api/v1/targets');
        targetUp = targets.activeTargets.length === 1 && targets.activeTargets[0]?.health === 'up';
        if (!targetUp) failures.push(`target: ${JSON.stringify(targets.activeTargets)}`);
        const up = await api<{ result: unknown[] }>(base, '/api/v1/query?query=up%7Bjob%3D%22demo%22%7D%20%3D%3D%201');
        if (up.result.length !== 1) failures.push('up{job="demo"} is not 1');
        for (const query of dashboardQueries()) {
          if (NOT_IN_DEMO.has(query.package)) continue;
          const expr = query.expr.replaceAll('$__rate_interval', '30s');
          const { result } = await api<{ result: unknown[] }>(base, `/api/v1/query?query=${encodeURIComponent(expr)}`);
          if (result.length === 0 && query.eventDriven === undefined) failures.push(`no data: ${expr}`);
        }
      },
    });
    watching = false;
    await watcher;

    expect(summary.stoppedEarly).toBe(false);
    expect(failures).toEqual([]);
    expect(targetUp).toBe(true);
    expect(pendingSeen || firing !== undefined).toBe(true);
    expect(firing, `CircuitBreakerOpen never fired; prometheus log: ${log}`).toBeDefined();
    expect(firing?.labels).toMatchObject({ alertname: 'CircuitBreakerOpen', name: 'downstream', severity: 'page' });
    // The breaker really went through half-open probes while the alert was building up.
    const probes = summary.phases[1]?.breakerChanges.filter((c) => c.from === 'half_open' && c.to === 'open') ?? [];
    expect(probes.length).toBeGreaterThan(0);
  }, 90_000);
});
