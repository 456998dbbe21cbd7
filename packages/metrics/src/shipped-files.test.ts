import { readFileSync } from 'node:fs';
import { load } from 'js-yaml';
import { describe, expect, it } from 'vitest';
import { metricNames } from './index.js';

const read = (path: string) => readFileSync(new URL(`../${path}`, import.meta.url), 'utf8');

/** Metric names a PromQL expression references, histogram series folded to their family. */
function referenced(expr: string): string[] {
  return [...expr.matchAll(/\bx_[a-z_]+\b/g)].map((m) => m[0].replace(/_(bucket|sum|count)$/, ''));
}

interface Rule {
  alert: string;
  expr: string;
  labels?: { severity?: string };
  annotations?: { summary?: string };
}

const exported = new Set(metricNames('x'));

describe('alert rules', () => {
  const file = load(read('alerts/x-resilience.rules.yml')) as { groups: Array<{ name: string; rules: Rule[] }> };
  const rules = file.groups.flatMap((g) => g.rules);

  it('reference only metrics the exporter produces', () => {
    expect(rules.length).toBeGreaterThanOrEqual(10);
    for (const rule of rules) {
      const names = referenced(rule.expr);
      expect(names.length, `${rule.alert} references no metric`).toBeGreaterThan(0);
      for (const name of names) expect(exported, `${rule.alert}: ${name}`).toContain(name);
    }
  });

  it('each have a severity and a summary, and unique names', () => {
    for (const rule of rules) {
      expect(['page', 'ticket']).toContain(rule.labels?.severity);
      expect(rule.annotations?.summary).toBeTruthy();
    }
    expect(new Set(rules.map((r) => r.alert)).size).toBe(rules.length);
  });

  it('cover the DWCP alerts (open breaker, failure rate, failing check, budget)', () => {
    const names = rules.map((r) => r.alert);
    for (const alert of ['CircuitBreakerOpen', 'HighFailureRate', 'HealthCheckFailing', 'ErrorBudgetNearlyExhausted']) {
      expect(names).toContain(alert);
    }
  });
});

describe('Grafana dashboard', () => {
  const dashboard = JSON.parse(read('dashboards/x-resilience.json')) as {
    panels: Array<{ title: string; type: string; targets?: Array<{ expr: string }> }>;
  };
  const exprs = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, expr: t.expr })));

  it('queries only metrics the exporter produces', () => {
    expect(exprs.length).toBeGreaterThan(10);
    for (const { panel, expr } of exprs) {
      const names = referenced(expr);
      expect(names.length, `${panel} references no metric`).toBeGreaterThan(0);
      for (const name of names) expect(exported, `${panel}: ${name}`).toContain(name);
    }
  });

  it('shows every family the exporter produces', () => {
    const shown = new Set(exprs.flatMap(({ expr }) => referenced(expr)));
    for (const name of exported) expect(shown, name).toContain(name);
  });
});
