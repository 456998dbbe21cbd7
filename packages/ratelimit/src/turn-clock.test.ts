import { describe, expect, it } from 'vitest';
import { TURN_CLOCK_AVAILABLE, exactNow, turnNow } from './turn-clock.js';

function spin(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // let real time pass inside this turn
  }
}

describe('turnNow', () => {
  it('caches in Node', () => {
    expect(TURN_CLOCK_AVAILABLE).toBe(true);
  });

  it('returns one time for the rest of a turn, re-read every 64 calls', async () => {
    await new Promise((resolve) => setImmediate(resolve)); // start from a fresh turn
    const first = turnNow();
    spin(2);
    for (let i = 1; i < 63; i++) expect(turnNow()).toBe(first);
    spin(2);
    expect(turnNow()).toBe(first);
    const refreshed = turnNow();
    expect(refreshed).toBeGreaterThan(first + 1.5);
    expect(turnNow()).toBe(refreshed);
  });

  it('reads the clock again in the next turn, and never goes back', async () => {
    const before = turnNow();
    spin(2);
    await new Promise((resolve) => setImmediate(resolve));
    const after = turnNow();
    expect(after).toBeGreaterThan(before + 1.5);
    expect(exactNow()).toBeGreaterThanOrEqual(after);
  });
});
