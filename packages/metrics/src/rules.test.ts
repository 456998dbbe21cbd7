import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createBreaker } from '@x/breaker';
import { createBulkhead } from '@x/bulkhead';
import { createEventBus } from '@x/core';
import { createVirtualClock } from '@x/core/testing';
import { createBurnRateMonitor, createErrorBudget, createHealthMonitor } from '@x/health';
import { createRateLimiter } from '@x/ratelimit';
import { createRetry } from '@x/retry';
import { createTimeout } from '@x/timeout';
import { load } from 'js-yaml';
import { Registry } from 'prom-client';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from './cli-run.js';
import { TESTED_ALERTS } from './rules-tests.js';
import { alertRuleTestsYaml, alertRules, alertRulesYaml, collectMetrics, dashboardQueries, grafanaDashboard, metricNames, promDuration } from './index.js';
import type { NamingId } from './index.js';
import { inCI, promtool, promtoolAvailable } from './test-promtool.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const read = (path: string) => readFileSync(join(root, path), 'utf8');
const dir = mkdtempSync(join(tmpdir(), 'x-metrics-rules-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const withPromtool = promtoolAvailable || inCI ? it : it.skip;

describe('shipped files', () => {
  it('are exactly what the generators print for the default prefix (regenerate with x-metrics, never by hand)', () => {
    expect(read('alerts/x-resilience.rules.yml')).toBe(alertRulesYaml());
    expect(read('alerts/x-resilience.rules.test.yml')).toBe(alertRuleTestsYaml());
    expect(JSON.parse(read('dashboards/x-resilience.json'))).toEqual(grafanaDashboard());
  });

  it('test every alert rule in at least one promtool scenario', () => {
    const names = alertRules()[0]?.rules.map((r) => r.alert) ?? [];
    expect(names.length).toBeGreaterThanOrEqual(16);
    expect([...TESTED_ALERTS].sort()).toEqual([...names].sort());
  });
});

describe('rules for any prefix and naming', () => {
  it('use the prefix, the naming’s names and labels, and scaled durations', () => {
    const [dwcp] = alertRules({ prefix: 'dwcp' });
    expect(dwcp?.name).toBe('dwcp_resilience');
    const open = dwcp?.rules.find((r) => r.alert === 'CircuitBreakerOpen');
    expect(open).toMatchObject({ expr: 'min_over_time(dwcp_circuit_breaker_state[2m]) > 0', for: '3m' });
    expect(JSON.stringify(dwcp)).not.toMatch(/\bx_/);

    const [cachex] = alertRules({ naming: 'go-cachex' });
    const flapping = cachex?.rules.find((r) => r.alert === 'CircuitBreakerFlapping');
    expect(flapping?.expr).toMatch(/^sum by \(component\) \(\(\(circuit_breaker_state_changes_total\{to_state="open"\}/);
    expect(flapping?.annotations.summary).toContain('{{ $labels.component }}');

    const [fast] = alertRules({ timeScale: 1 / 30 });
    expect(fast?.rules.find((r) => r.alert === 'CircuitBreakerOpen')).toMatchObject({ expr: 'min_over_time(x_circuit_breaker_state[4s]) > 0', for: '6s' });
    expect(promDuration(0.0333)).toBe('33ms');
    expect(promDuration(5400)).toBe('90m');
  });

  it('reject a bad prefix, naming or time scale with INVALID_OPTIONS', () => {
    expect(() => alertRules({ prefix: '9x' })).toThrow(/prefix/);
    expect(() => alertRules({ naming: 'prom' as NamingId })).toThrow(/naming/);
    expect(() => alertRules({ timeScale: 0 })).toThrow(/timeScale/);
    expect(() => grafanaDashboard({ prefix: 'a-b' })).toThrow(/prefix/);
  });

  it('and a dashboard whose every query names only metrics of that prefix and naming', () => {
    for (const [prefix, naming] of [
      ['dwcp', 'x'],
      [undefined, 'go-cachex'],
      [undefined, 'dwcp'],
    ] as const) {
      const names = new Set(metricNames(prefix, naming));
      for (const { expr } of dashboardQueries({ ...(prefix !== undefined && { prefix }), naming })) {
        // Metric names: identifiers left once label lists (`by (…)`, `{…}`), functions and numbers are gone.
        const bare = expr.replace(/\bby \([^)]*\)/g, '').replace(/\{[^}]*\}/g, '').replace(/\[[^\]]*\]/g, '');
        const used = [...bare.matchAll(/\b([a-z_][a-z0-9_]*)\b(?!\s*\()/g)]
          .map((m) => (m[1] as string).replace(/_(bucket|sum|count)$/, ''))
          .filter((name) => !['and', 'or', 'unless', 'on'].includes(name));
        expect(used.length, expr).toBeGreaterThan(0);
        for (const name of used) expect(names, `${naming}/${prefix}: ${expr}`).toContain(name);
      }
    }
    const cachex = JSON.stringify(grafanaDashboard({ naming: 'go-cachex' }));
    expect(cachex).toContain('sum by (component, result) (rate(circuit_breaker_requests_total');
    expect(JSON.stringify(grafanaDashboard({ naming: 'dwcp' }))).toContain('sum by (bulkhead) (rate(dwcp_bulkhead_rejected_total');
  });
});

describe('promtool', () => {
  withPromtool('check rules accepts the shipped rules and those generated for other prefixes and namings', () => {
    const shipped = promtool(['check', 'rules', join(root, 'alerts/x-resilience.rules.yml')]);
    expect(shipped.status, shipped.output).toBe(0);
    expect(shipped.output).toMatch(/SUCCESS: 16 rules found/);
    for (const options of [{ prefix: 'dwcp' }, { naming: 'go-cachex' as const }, { prefix: '' }, { timeScale: 1 / 30 }]) {
      const file = join(dir, `check-${JSON.stringify(options).replace(/\W/g, '')}.yml`);
      writeFileSync(file, alertRulesYaml(options));
      const result = promtool(['check', 'rules', file]);
      expect(result.status, `${JSON.stringify(options)}: ${result.output}`).toBe(0);
    }
  });

  withPromtool('test rules passes the shipped unit tests (outage with probes, flapping from the first open, a store degrading once, …)', () => {
    const result = promtool(['test', 'rules', join(root, 'alerts/x-resilience.rules.test.yml')]);
    expect(result.status, result.output).toBe(0);
    expect(result.output).toContain('SUCCESS');
  });

  withPromtool('test rules passes the same scenarios for prefix dwcp and for go-cachex naming', () => {
    for (const options of [{ prefix: 'dwcp' }, { naming: 'go-cachex' as const }]) {
      const tag = JSON.stringify(options).replace(/\W/g, '');
      writeFileSync(join(dir, `${tag}.rules.yml`), alertRulesYaml(options));
      writeFileSync(join(dir, `${tag}.test.yml`), alertRuleTestsYaml({ ...options, ruleFile: `${tag}.rules.yml` }));
      const result = promtool(['test', 'rules', join(dir, `${tag}.test.yml`)]);
      expect(result.status, `${tag}: ${result.output}`).toBe(0);
    }
  });

  withPromtool('the unit tests fail against the old rules (state == 2 with for:, increase() alone, a sum over two families)', () => {
    const old = alertRulesYaml()
      .replace('min_over_time(x_circuit_breaker_state[2m]) > 0\n        for: 3m', 'x_circuit_breaker_state == 2\n        for: 5m')
      .replace(/\(\(\((x_ratelimit_store_degraded_total) unless \1 offset 10m\) or (increase\(\1\[10m\]\))\)\)/, '($2)')
      .replace(/sum \(\(\((x_metrics_errors_total) unless \1 offset 15m\) or increase\(\1\[15m\]\)\)\) > 0/, 'sum(increase(x_event_listener_errors_total[15m])) + sum(increase(x_metrics_errors_total[15m])) > 0')
      .replace('x_health_check_status == 0 and on (checker, check) x_health_check_critical == 1', 'x_health_check_status == 0');
    writeFileSync(join(dir, 'old.rules.yml'), old);
    writeFileSync(join(dir, 'old.test.yml'), alertRuleTestsYaml({ ruleFile: 'old.rules.yml' }));
    const result = promtool(['test', 'rules', join(dir, 'old.test.yml')]);
    expect(result.status).not.toBe(0);
    for (const alert of ['CircuitBreakerOpen', 'RateLimiterStoreDegraded', 'MetricsExporterErrors', 'HealthCheckFailing']) {
      expect(result.output).toContain(`alertname: ${alert}`);
    }
  });

  withPromtool('check metrics accepts a real scrape of every package (default and go-cachex naming)', async () => {
    for (const naming of ['x', 'go-cachex'] as const) {
      const text = await realScrape(naming);
      expect(text).toContain(naming === 'x' ? 'x_circuit_breaker_state_changes_total' : 'circuit_breaker_failures_total');
      const result = promtool(['check', 'metrics'], text);
      // promtool lints too: exit 0 means the exposition parses and no lint problem was found.
      expect(result.status, `${naming}: ${result.output}`).toBe(0);
    }
  });
});

/** A scrape of an exporter following every package, each driven through success and failure. */
async function realScrape(naming: NamingId): Promise<string> {
  const clock = createVirtualClock({ now: 0 });
  const bus = createEventBus();
  const registry = new Registry();
  const collector = collectMetrics({ registry, bus, naming, durations: true });
  try {
    const breaker = createBreaker({ name: 'pricing', failureThreshold: 1, openMs: 1_000, clock, events: bus });
    await breaker.execute(() => 1);
    await breaker.execute(() => Promise.reject(new Error('down'))).catch(() => {});
    const retry = createRetry({ name: 'pricing', maxAttempts: 2, backoff: 10, clock, events: bus });
    const retried = retry.execute(() => Promise.reject(new Error('down'))).catch(() => {});
    await clock.advance(10);
    await retried;
    const timeout = createTimeout(5, { name: 'pricing', strategy: 'aggressive', clock, events: bus });
    const timed = timeout.execute(() => new Promise(() => {})).catch(() => {});
    await clock.advance(5);
    await timed;
    createBulkhead({ name: 'db', maxConcurrent: 1, clock, events: bus });
    const limiter = createRateLimiter({ name: 'api', limit: 1, periodMs: 1_000, clock, events: bus });
    await limiter.limit('k');
    await limiter.limit('k');
    const monitor = createHealthMonitor({ name: 'api', clock, events: bus });
    monitor.register({ name: 'db', check: () => true });
    monitor.register({ name: 'budget', check: () => false, critical: false });
    await monitor.runOnce();
    const budget = createErrorBudget({ name: 'api', slo: 0.9, windowMs: 60_000, clock, events: bus });
    budget.recordMany(1, 9);
    const burn = createBurnRateMonitor({ name: 'api', slo: 0.99, clock, events: bus });
    burn.recordMany(10, 90);
    return await registry.metrics();
  } finally {
    collector.stop();
  }
}

describe('x-metrics (the package bin)', () => {
  const run = (...args: string[]) => {
    let out = '';
    let err = '';
    const code = runCli(args, { write: (t: string) => (out += t) }, { write: (t: string) => (err += t) });
    return { code, out, err };
  };

  it('prints rules, rules-tests, dashboard and names for a prefix', () => {
    const rules = run('rules', '--prefix', 'dwcp');
    expect(rules.code).toBe(0);
    expect(rules.out).toBe(alertRulesYaml({ prefix: 'dwcp' }));
    expect((load(rules.out) as { groups: Array<{ name: string }> }).groups[0]?.name).toBe('dwcp_resilience');
    expect(run('dashboard', '--prefix=dwcp').out).toBe(`${JSON.stringify(grafanaDashboard({ prefix: 'dwcp' }), null, 2)}\n`);
    expect(run('rules-tests', '--naming', 'go-cachex', '--rule-file', 'r.yml').out).toBe(alertRuleTestsYaml({ naming: 'go-cachex', ruleFile: 'r.yml' }));
    expect(run('names', '--naming', 'go-cachex').out.split('\n')).toContain('circuit_breaker_successes_total');
    expect(run('rules', '--time-scale', '0.5').out).toContain('for: 90s');
    expect(run('--help')).toMatchObject({ code: 0, out: expect.stringContaining('Usage: x-metrics') });
  });

  it('fails with usage on a bad command, flag or value', () => {
    expect(run()).toMatchObject({ code: 2, err: expect.stringContaining('Usage') });
    expect(run('rulez')).toMatchObject({ code: 2, err: expect.stringContaining('unknown command rulez') });
    expect(run('rules', '--prefx', 'a')).toMatchObject({ code: 2, err: expect.stringContaining('unknown argument --prefx') });
    expect(run('rules', '--prefix')).toMatchObject({ code: 2, err: expect.stringContaining('--prefix needs a value') });
    expect(run('rules', '--prefix', '1bad')).toMatchObject({ code: 2, err: expect.stringContaining('prefix') });
    expect(run('rules', '--naming', 'prometheus')).toMatchObject({ code: 2, err: expect.stringContaining('naming') });
    expect(run('dashboard', '--time-scale', '2')).toMatchObject({ code: 2 });
  });

  it('runs as a process through the bin entry', () => {
    const pkg = JSON.parse(read('package.json')) as { bin: Record<string, string> };
    expect(pkg.bin['x-metrics']).toBe('./dist/cli.js');
    // tsx is a dependency of the demo: `--import` resolves it from the working directory.
    const cwd = join(root, '../../examples/demo');
    const result = spawnSync(process.execPath, ['--conditions=@x/source', '--import', 'tsx', join(root, 'src/cli.ts'), 'rules', '--prefix', 'dwcp'], {
      cwd,
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout).toBe(alertRulesYaml({ prefix: 'dwcp' }));
    const bad = spawnSync(process.execPath, ['--conditions=@x/source', '--import', 'tsx', join(root, 'src/cli.ts'), 'nope'], { cwd, encoding: 'utf8', timeout: 30_000 });
    expect(bad.status).toBe(2);
  }, 40_000);
});
