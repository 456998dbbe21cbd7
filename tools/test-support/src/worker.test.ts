import { describe, expect, it } from 'vitest';
import { forkTestWorker } from './index.js';

const fixture = new URL('./test-fixtures/echo-worker.ts', import.meta.url);
// `--import tsx` resolves from the worker's cwd: a package that has tsx (test-support itself does not).
const cwd = new URL('../../../packages/ratelimit/', import.meta.url);

describe('forkTestWorker', () => {
  it('runs the module in its own process and answers calls in order', async () => {
    const worker = forkTestWorker<[string, number]>(fixture, { cwd });
    try {
      await worker.ready;
      const [a, b] = await Promise.all([worker.call<{ pid: number; args: unknown[] }>('a', 1), worker.call<{ pid: number; args: unknown[] }>('b', 2)]);
      expect(a).toEqual({ pid: worker.child.pid, args: ['a', 1] });
      expect(b?.args).toEqual(['b', 2]);
      expect(a?.pid).not.toBe(process.pid);
    } finally {
      worker.child.kill();
    }
  }, 20_000);

  it("rejects with the child's error, and pending calls when the child exits", async () => {
    const worker = forkTestWorker(fixture, { cwd });
    try {
      await worker.ready;
      await expect(worker.call('fail')).rejects.toThrow(/asked to fail/);
      await expect(worker.call('exit')).rejects.toThrow(/test worker exited \(3\)/);
    } finally {
      worker.child.kill();
    }
  }, 20_000);

  it('rejects ready when the module cannot load', async () => {
    const worker = forkTestWorker(new URL('./test-fixtures/missing.ts', import.meta.url), { cwd });
    await expect(worker.ready).rejects.toThrow(/test worker exited/);
  }, 20_000);
});
