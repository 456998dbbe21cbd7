import { gc } from '@x/test-support';
import { describe, expect, it } from 'vitest';
import { createVirtualClock } from './testing.js';

describe('createVirtualClock', () => {
  it('starts at the given time and only moves when advanced', async () => {
    const clock = createVirtualClock({ now: 1_000 });
    expect(clock.now()).toBe(1_000);
    await clock.advance(250);
    expect(clock.now()).toBe(1_250);
  });

  it('fires due timers in time order, ties in scheduling order, each at its own time', async () => {
    const clock = createVirtualClock({ now: 0 });
    const fired: string[] = [];
    clock.setTimeout(() => fired.push(`c@${clock.now()}`), 30);
    clock.setTimeout(() => fired.push(`a@${clock.now()}`), 10);
    clock.setTimeout(() => fired.push(`b1@${clock.now()}`), 20);
    clock.setTimeout(() => fired.push(`b2@${clock.now()}`), 20);
    clock.setTimeout(() => fired.push('late'), 31);
    await clock.advance(30);
    expect(fired).toEqual(['a@10', 'b1@20', 'b2@20', 'c@30']);
    expect(clock.pendingTimers).toBe(1);
  });

  it('includes timers scheduled during the advance when they fall due within it', async () => {
    const clock = createVirtualClock({ now: 0 });
    const fired: number[] = [];
    const tick = () => {
      fired.push(clock.now());
      if (fired.length < 10) clock.setTimeout(tick, 10);
    };
    clock.setTimeout(tick, 10);
    await clock.advance(35);
    expect(fired).toEqual([10, 20, 30]);
    await clock.advance(5);
    expect(fired).toEqual([10, 20, 30, 40]);
  });

  it('lets awaited code progress between timers as it would in real time', async () => {
    const clock = createVirtualClock({ now: 0 });
    const sleep = (ms: number) => new Promise<void>((resolve) => clock.setTimeout(resolve, ms));
    const trace: number[] = [];
    const task = (async () => {
      for (let i = 0; i < 3; i++) {
        await sleep(100);
        await Promise.resolve();
        trace.push(clock.now());
      }
      return 'done';
    })();
    await clock.advance(300);
    expect(trace).toEqual([100, 200, 300]);
    await expect(task).resolves.toBe('done');
  });

  it('runs promise callbacks queued before the advance, so timers they schedule count', async () => {
    const clock = createVirtualClock({ now: 0 });
    let fired = false;
    void Promise.resolve().then(() => clock.setTimeout(() => (fired = true), 50));
    await clock.advance(50);
    expect(fired).toBe(true);
  });

  it('does not fire cleared timers and counts only live ones', async () => {
    const clock = createVirtualClock({ now: 0 });
    let fired = 0;
    const handle = clock.setTimeout(() => fired++, 10);
    clock.setTimeout(() => fired++, 20);
    expect(clock.pendingTimers).toBe(2);
    clock.clearTimeout(handle);
    clock.clearTimeout(handle);
    clock.clearTimeout(undefined);
    expect(clock.pendingTimers).toBe(1);
    await clock.advance(100);
    expect(fired).toBe(1);
    expect(clock.pendingTimers).toBe(0);
  });

  it('does not keep cleared timers around (a long test that sets and clears stays small)', async () => {
    const clock = createVirtualClock({ now: 0 });
    gc();
    const before = process.memoryUsage().heapUsed;
    for (let i = 0; i < 200_000; i++) {
      const payload = new Array(8).fill(i); // what a real timer callback would capture
      clock.clearTimeout(clock.setTimeout(() => payload, 60_000));
    }
    gc();
    expect(clock.pendingTimers).toBe(0);
    // Kept, 200 000 timers with their closures would hold well over 20 MB.
    expect(process.memoryUsage().heapUsed - before).toBeLessThan(5_000_000);
  });

  it('treats negative, NaN and zero delays as due now', async () => {
    const clock = createVirtualClock({ now: 0 });
    const fired: number[] = [];
    clock.setTimeout(() => fired.push(1), -5);
    clock.setTimeout(() => fired.push(2), Number.NaN);
    clock.setTimeout(() => fired.push(3), 0);
    await clock.advance(0);
    expect(fired).toEqual([1, 2, 3]);
  });

  it('runAll fires everything, moving time to each timer', async () => {
    const clock = createVirtualClock({ now: 0 });
    const fired: number[] = [];
    clock.setTimeout(() => fired.push(clock.now()), 5_000);
    clock.setTimeout(() => clock.setTimeout(() => fired.push(clock.now()), 1_000), 10);
    await clock.runAll();
    expect(fired).toEqual([1_010, 5_000]);
    expect(clock.now()).toBe(5_000);
  });

  it('runAll stops a timer that reschedules itself forever', async () => {
    const clock = createVirtualClock({ now: 0 });
    const loop = () => clock.setTimeout(loop, 1);
    loop();
    await expect(clock.runAll(50)).rejects.toThrow(/more than 50 timers/);
  });

  it('runAll that stops a timer loop leaves the timer it did not fire pending, and a later advance fires it', async () => {
    const clock = createVirtualClock({ now: 0 });
    let fired = 0;
    const loop = () => {
      fired++;
      clock.setTimeout(loop, 1);
    };
    clock.setTimeout(loop, 1);
    await expect(clock.runAll(5)).rejects.toThrow(/more than 5 timers/);
    expect(fired).toBe(5);
    expect(clock.pendingTimers).toBe(1);
    await clock.advance(1);
    expect(fired).toBe(6);
    expect(clock.pendingTimers).toBe(1);
  });

  it('fires a timer scheduled during advance at the current instant within that advance, after those already due', async () => {
    const clock = createVirtualClock({ now: 0 });
    const fired: string[] = [];
    clock.setTimeout(() => {
      clock.setTimeout(() => fired.push(`inner@${clock.now()}`), 0);
      fired.push(`outer@${clock.now()}`);
    }, 10);
    clock.setTimeout(() => fired.push(`same-time@${clock.now()}`), 10);
    await clock.advance(10);
    expect(fired).toEqual(['outer@10', 'same-time@10', 'inner@10']);
  });

  it('ignores clearing a timer that already fired', async () => {
    const clock = createVirtualClock({ now: 0 });
    const first = clock.setTimeout(() => {}, 1);
    clock.setTimeout(() => {}, 50);
    await clock.advance(1);
    expect(clock.pendingTimers).toBe(1);
    clock.clearTimeout(first);
    expect(clock.pendingTimers).toBe(1);
  });

  it('rejects a NaN advance without moving time', async () => {
    const clock = createVirtualClock({ now: 1 });
    await expect(clock.advance(Number.NaN)).rejects.toThrow(RangeError);
    expect(clock.now()).toBe(1);
  });

  it('rejects a negative or infinite advance', async () => {
    const clock = createVirtualClock();
    await expect(clock.advance(-1)).rejects.toThrow(RangeError);
    await expect(clock.advance(Infinity)).rejects.toThrow(RangeError);
  });
});
