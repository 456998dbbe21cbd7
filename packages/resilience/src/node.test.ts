import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createEventBus, isXError } from '@x/core';
import type { XEventMap } from '@x/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createResilience } from './index.js';
import type { ReloadReport } from './index.js';
import { loadResilienceConfigFile, watch } from './node.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'x-resilience-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const yaml = (limit: number) => `preset: none\noperations:\n  api:\n    rate_limit:\n      limit: ${limit}\n      period: 1s\n`;

/** Resolves with the next value `register` hands its callback, or rejects after `ms` (real time: fs events). */
function next<T>(register: (resolve: (value: T) => void) => void, ms = 5_000): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`nothing within ${ms} ms`)), ms);
    register((value) => {
      clearTimeout(timer);
      resolve(value);
    });
  });
}

describe('loadResilienceConfigFile', () => {
  it('reads YAML and JSON files by extension and applies process.env overrides unless env is given', async () => {
    writeFileSync(join(dir, 'resilience.yaml'), yaml(7));
    writeFileSync(join(dir, 'resilience.json'), JSON.stringify({ preset: 'none', operations: { api: { timeout: '1s' } } }));
    expect((await loadResilienceConfigFile(join(dir, 'resilience.yaml'))).rateLimiters.api?.limit).toBe(7);
    expect((await loadResilienceConfigFile(join(dir, 'resilience.json'))).timeouts.api?.duration).toBe(1_000);
    process.env.X_RESILIENCE__OPERATIONS__API__RATE_LIMIT__LIMIT = '9';
    try {
      expect((await loadResilienceConfigFile(join(dir, 'resilience.yaml'))).rateLimiters.api?.limit).toBe(9);
      expect((await loadResilienceConfigFile(join(dir, 'resilience.yaml'), { env: {} })).rateLimiters.api?.limit).toBe(7);
    } finally {
      delete process.env.X_RESILIENCE__OPERATIONS__API__RATE_LIMIT__LIMIT;
    }
  });

  it('a missing file rejects; a bad path is INVALID_OPTIONS', async () => {
    await expect(loadResilienceConfigFile(join(dir, 'missing.yaml'))).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(loadResilienceConfigFile('')).rejects.toMatchObject({ code: 'INVALID_OPTIONS' });
  });
});

describe('watch', () => {
  it('applies a saved change to the live rate limiter, in place', async () => {
    const file = join(dir, 'resilience.yaml');
    writeFileSync(file, yaml(5));
    const events = createEventBus();
    const resilience = createResilience(await loadResilienceConfigFile(file, { env: {} }), { events });
    const limiter = resilience.get('rate_limiter', 'api');
    let onReload!: (report: ReloadReport) => void;
    const watcher = watch(resilience, file, { env: {}, debounceMs: 20, events, onReload: (r) => onReload(r) });
    try {
      const reloaded = next<ReloadReport>((resolve) => (onReload = resolve));
      writeFileSync(file, yaml(50));
      const report = await reloaded;
      expect(report.applied.map((c) => [c.setting, c.from, c.to])).toEqual([['limit', 5, 50]]);
      expect(resilience.get('rate_limiter', 'api')).toBe(limiter);
      expect(limiter?.rule.limit).toBe(50);
    } finally {
      watcher.close();
    }
  });

  it('sees an editor that saves by renaming a temporary file over it', async () => {
    const file = join(dir, 'resilience.yaml');
    writeFileSync(file, yaml(5));
    const resilience = createResilience(await loadResilienceConfigFile(file, { env: {} }), { events: createEventBus() });
    let onReload!: (report: ReloadReport) => void;
    const watcher = watch(resilience, file, { env: {}, debounceMs: 20, onReload: (r) => onReload(r) });
    try {
      const reloaded = next<ReloadReport>((resolve) => (onReload = resolve));
      writeFileSync(join(dir, '.resilience.yaml.tmp'), yaml(12));
      renameSync(join(dir, '.resilience.yaml.tmp'), file);
      await reloaded;
      expect(resilience.get('rate_limiter', 'api')?.rule.limit).toBe(12);
    } finally {
      watcher.close();
    }
  });

  it('an invalid save is reported (event and onError) and the running config stays', async () => {
    const file = join(dir, 'resilience.yaml');
    writeFileSync(file, yaml(5));
    const events = createEventBus();
    const resilience = createResilience(await loadResilienceConfigFile(file, { env: {} }), { events });
    const failed: XEventMap['resilience.reload_failed'][] = [];
    events.on('resilience.reload_failed', (e) => failed.push(e));
    let onError!: (error: unknown) => void;
    const watcher = watch(resilience, file, { env: {}, debounceMs: 20, events, onError: (e) => onError(e) });
    try {
      const errored = next<unknown>((resolve) => (onError = resolve));
      writeFileSync(file, yaml(0));
      const error = await errored;
      expect(isXError(error, 'INVALID_OPTIONS')).toBe(true);
      expect(String((error as Error).message)).toMatch(/operations\.api\.rate_limit\.limit: must be an integer in \[1, 1000000000\], got 0/);
      expect(failed).toHaveLength(1);
      expect(resilience.get('rate_limiter', 'api')?.rule.limit).toBe(5);
    } finally {
      watcher.close();
    }
  });

  it('reload() applies the file now; after close() nothing reloads', async () => {
    const file = join(dir, 'resilience.json');
    writeFileSync(file, JSON.stringify({ preset: 'none', operations: { api: { rate_limit: { limit: 5 } } } }));
    const resilience = createResilience(await loadResilienceConfigFile(file, { env: {} }), { events: createEventBus() });
    const watcher = watch(resilience, file, { env: {}, debounceMs: 10_000 });
    writeFileSync(file, JSON.stringify({ preset: 'none', operations: { api: { rate_limit: { limit: 8 } } } }));
    const report = await watcher.reload();
    expect(report?.applied).toHaveLength(1);
    expect(resilience.get('rate_limiter', 'api')?.rule.limit).toBe(8);
    watcher.close();
    watcher.close();
    expect(await watcher.reload()).toBeUndefined();
  });

  it('refuses bad arguments', () => {
    const resilience = createResilience({}, { events: createEventBus() });
    expect(() => watch({} as never, join(dir, 'x.yaml'))).toThrow(/Resilience/);
    expect(() => watch(resilience, '')).toThrow(/path/);
    expect(() => watch(resilience, join(dir, 'x.yaml'), { debounceMs: -1 })).toThrow(/debounceMs/);
    expect(() => watch(resilience, join(dir, 'x.yaml'), { debounce: 1 } as never)).toThrow(/did you mean "debounceMs"/);
  });
});
