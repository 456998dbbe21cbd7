import { describe, expect, it } from 'vitest';
import { coarseNow, systemClock } from './index.js';
import { createVirtualClock } from './testing.js';

const spin = (ms: number) => {
  const until = performance.now() + ms;
  while (performance.now() < until) {}
};
const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

describe('coarseNow', () => {
  it('reads any clock other than the system clock every time', async () => {
    const clock = createVirtualClock({ now: 1_000 });
    expect(coarseNow(clock)).toBe(1_000);
    await clock.advance(5);
    expect(coarseNow(clock)).toBe(1_005);
  });

  it('serves the system time read at the start of the turn, then re-reads in the next turn', async () => {
    await nextTurn();
    const first = coarseNow(systemClock);
    spin(3);
    expect(coarseNow(systemClock)).toBe(first);
    await nextTurn();
    const later = coarseNow(systemClock);
    expect(later).toBeGreaterThanOrEqual(first + 3);
    expect(Math.abs(later - systemClock.now())).toBeLessThan(50);
  });

  it('re-reads within a long turn after 64 cached reads, so staleness stays bounded', async () => {
    await nextTurn();
    const first = coarseNow(systemClock);
    spin(2);
    let refreshed = first;
    for (let i = 0; i < 64; i++) refreshed = coarseNow(systemClock);
    expect(refreshed).toBeGreaterThan(first);
  });
});
