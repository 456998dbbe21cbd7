import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { chromium } from 'playwright-core';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ScenarioReport } from './scenarios.js';

// Debian's package, or wherever CHROMIUM_PATH points. Locally a missing browser skips loudly; CI
// (`CI=true`, which `.ci/run` sets and where it installs Chromium) or REQUIRE_BROWSER=1 fails instead.
const executablePath = process.env['CHROMIUM_PATH'] ?? ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));
const required = process.env['CI'] === 'true' || process.env['REQUIRE_BROWSER'] === '1';

if (executablePath === undefined) {
  const message = 'browser-check: no Chromium found (install the `chromium` package or set CHROMIUM_PATH)';
  if (required) throw new Error(message);
  console.warn(`${message}; skipping the browser run`);
}

/** Bundles the scenarios for the browser from the packages' sources, as a browser bundler would. */
async function bundle(): Promise<string> {
  const result = await build({
    entryPoints: [fileURLToPath(new URL('./scenarios.ts', import.meta.url))],
    bundle: true,
    write: false,
    format: 'iife',
    globalName: 'xScenarios',
    platform: 'browser',
    target: 'es2022',
    conditions: ['@x/source'],
    logLevel: 'silent',
  });
  return (result.outputFiles[0] as { text: string }).text;
}

describe.skipIf(executablePath === undefined)('the packages in headless Chromium', () => {
  let browser: Browser | undefined;
  let code = '';
  let reports: ScenarioReport[] = [];
  const pageErrors: string[] = [];

  beforeAll(async () => {
    code = await bundle();
    browser = await chromium.launch({ executablePath: executablePath as string, args: ['--no-sandbox'] });
    const page = await browser.newPage();
    page.on('pageerror', (error) => pageErrors.push(error.message));
    page.on('console', (message) => {
      if (message.type() === 'error') pageErrors.push(message.text());
    });
    await page.setContent('<!doctype html><title>@x browser check</title>');
    await page.addScriptTag({ content: code });
    reports = await page.evaluate(() => (globalThis as unknown as { xScenarios: { runScenarios(): Promise<ScenarioReport[]> } }).xScenarios.runScenarios());
  });

  afterAll(async () => {
    await browser?.close();
  });

  const report = (name: string): Record<string, unknown> => {
    const found = reports.find((r) => r.name === name);
    expect(found, `scenario "${name}" did not run`).toBeDefined();
    expect(found?.error).toBeUndefined();
    return (found as ScenarioReport).observed;
  };

  it('bundles for the browser without Node built-ins or Node-only dependencies', () => {
    expect(code).not.toMatch(/require\(["']node:|from ["']node:|ioredis|prom-client/);
  });

  it('runs in a page with no Node globals, and nothing reaches the console as an error', () => {
    expect(report('environment')).toEqual({ hasProcess: false, hasWindow: true, defaultBusShared: true });
    expect(pageErrors).toEqual([]);
  });

  it('breaker: trips after two failures, rejects with BREAKER_OPEN, closes after a probe', () => {
    expect(report('breaker trips, rejects, probes and closes')).toEqual({
      rejectionCode: 'BREAKER_OPEN',
      retryAfterMs: 1_000,
      rejectionMessage: 'circuit "browser" is open; retry after 1000 ms',
      stateAfterOpenMs: 'half_open',
      probe: 'probe ok',
      finalState: 'closed',
      changes: ['closed->open', 'open->half_open', 'half_open->closed'],
      totals: expect.objectContaining({ requests: 4, successes: 1, failures: 2, rejected: 1 }),
    });
  });

  it('retry: two failures, backoff 100 + 200 ms on the virtual clock, then the value', () => {
    expect(report('retry backs off on the virtual clock and succeeds')).toEqual({ value: 'third time', attempts: 3, totalDelayMs: 300, calls: 3 });
  });

  it('timeout: aborts the signal with TIMEOUT; a caller abort passes through as its own reason', () => {
    expect(report('timeout aborts the signal and is not a caller abort')).toEqual({ sawAbort: true, code: 'TIMEOUT', callerError: 'user left' });
  });

  it('bulkhead: a second call beyond maxConcurrent 1 and no queue gets BULKHEAD_FULL', () => {
    expect(report('bulkhead refuses beyond its limit')).toEqual({
      first: 'first',
      secondCode: 'BULKHEAD_FULL',
      secondMessage: 'bulkhead "browser" is full: 1 running, 0 queued at most',
    });
  });

  it('rate limiter: 2 per second admits two, refuses the third, admits again after half a period', () => {
    expect(report('rate limiter admits the limit, then refuses until time passes')).toEqual({
      decisions: [true, true, false],
      retryAfterMs: 500,
      afterHalfPeriod: true,
    });
  });

  it('health: a 25 % failure rate exhausts a 90 % budget; a failing non-critical check keeps the report healthy', () => {
    expect(report('health monitor and error budget')).toEqual({
      budgetExhausted: true,
      healthy: true,
      checks: { ok: 'pass', broken: 'fail' },
    });
  });

  it('compose + fallback on real timers: two 20 ms timeouts, then the fallback value', () => {
    expect(report('compose and fallback on the system clock')).toEqual({
      value: 'fallback value',
      elapsedAtLeast40: true,
      elapsedUnder1000: true,
      seen: expect.arrayContaining(['retry.attempt_failed', 'retry.gave_up', 'timeout.timed_out']),
    });
  });
});
