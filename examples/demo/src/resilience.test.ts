import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createEventBus } from '@x/core';
import type { XEventMap } from '@x/core';
import { afterEach, describe, expect, it } from 'vitest';
import { seededRandom } from './random.js';
import { createDemoResilience, RESILIENCE_FILE } from './resilience.js';

let dir: string | undefined;
afterEach(() => {
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

describe('the demo’s policies come from resilience.yaml', () => {
  it('builds the documented stack from the file, with the run’s open period', async () => {
    const demo = await createDemoResilience({ events: createEventBus(), openMs: 400, redisPrefix: 'x-demo', random: seededRandom(1) });
    try {
      expect(demo.resilience.stats().operations.downstream?.layers).toEqual([
        'fallback:last-known-quote',
        'rate_limit:api',
        'bulkhead:downstream',
        'breaker:downstream',
        'retry:downstream',
        'timeout:downstream',
      ]);
      expect(demo.limitPerSecond()).toBe(45);
      expect(demo.resilience.config.breakers.downstream?.open_duration).toBe(400);
      expect(demo.resilience.get('timeout', 'downstream')?.timeoutMs).toBe(250);
    } finally {
      demo.close();
    }
  });

  it('editing the file while it runs changes the rate limit live, on the same limiter', async () => {
    dir = mkdtempSync(join(tmpdir(), 'x-demo-'));
    const file = join(dir, 'resilience.yaml');
    copyFileSync(RESILIENCE_FILE, file);
    const events = createEventBus();
    const demo = await createDemoResilience({ events, openMs: 400, redisPrefix: 'x-demo', random: seededRandom(1), file });
    try {
      const limiter = demo.resilience.get('rate_limiter', 'api');
      const changed = new Promise<XEventMap['resilience.change_applied']>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no reload within 5 s')), 5_000);
        events.on('resilience.change_applied', (e) => {
          clearTimeout(timer);
          resolve(e);
        });
      });
      writeFileSync(file, readFileSync(file, 'utf8').replace('limit: 45 ', 'limit: 80 '));
      const change = await changed;
      expect(change).toMatchObject({ kind: 'rate_limiter', name: 'api', setting: 'limit', from: 45, to: 80, mode: 'in_place' });
      expect(demo.resilience.get('rate_limiter', 'api')).toBe(limiter);
      expect(limiter?.rule.limit).toBe(80);
      expect(demo.limitPerSecond()).toBe(80);
      // The run's own open period survives the reload (it is passed as an override).
      expect(demo.resilience.config.breakers.downstream?.open_duration).toBe(400);
      expect(demo.reloads).toEqual(['resilience.yaml: rate_limiter api limit 45 → 80 (in place)']);
    } finally {
      demo.close();
    }
  });
});
