import type { Clock, TimerHandle } from './clock.js';
import { MinHeap } from './heap.js';
import { checkNumber, readOptions } from './options.js';

/**
 * A clock that only moves when told to. Every `@x/*` package accepts it as `clock`, so tests run
 * timeouts, backoffs and open circuits without sleeping.
 */
export interface VirtualClock extends Clock {
  /**
   * Moves time forward by `ms`, firing every timer that falls due on the way in time order (ties
   * in scheduling order), including timers scheduled while advancing. Pending promise callbacks
   * run before the first timer, between timers and at the end, so awaited code progresses as it
   * would in real time.
   */
  advance(ms: number): Promise<void>;
  /**
   * Fires timers until none is left. Rejects instead of firing timer number `maxTimers + 1` (a
   * timer loop); that timer and every other unfired one stay pending, so `pendingTimers` and a
   * later `advance` still see them.
   */
  runAll(maxTimers?: number): Promise<void>;
  /** Lets pending promise callbacks run without moving time. */
  flush(): Promise<void>;
  /** How many timers are scheduled and not yet fired or cleared. */
  readonly pendingTimers: number;
}

interface Timer {
  readonly at: number;
  readonly seq: number;
  readonly callback: () => void;
  cancelled: boolean;
}

/** Due time first, then scheduling order. */
const before = (a: Timer, b: Timer) => a.at < b.at || (a.at === b.at && a.seq < b.seq);

const isLive = (timer: Timer) => !timer.cancelled;

type Immediate = (callback: () => void) => unknown;

/** One macrotask turn: every queued promise callback (however long the chain) runs before it. */
function nextTurn(): Promise<void> {
  const immediate = (globalThis as { setImmediate?: Immediate }).setImmediate;
  return new Promise((resolve) => (immediate ? immediate(resolve) : globalThis.setTimeout(resolve, 0)));
}

/** Options of {@link createVirtualClock}. */
export interface VirtualClockOptions {
  /** Starting time in epoch milliseconds. Defaults to 2026-01-01T00:00:00Z. */
  readonly now?: number;
}

/**
 * Creates a {@link VirtualClock}.
 *
 * @example
 * ```ts
 * const clock = createVirtualClock();
 * const breaker = createBreaker({ clock, openMs: 1_000 });
 * await clock.advance(1_000); // now half-open, without waiting a second
 * ```
 */
export function createVirtualClock(options?: VirtualClockOptions): VirtualClock {
  const o = readOptions('createVirtualClock', options, ['now']);
  let now = o.now === undefined ? Date.UTC(2026, 0, 1) : checkNumber('createVirtualClock', 'now', o.now);
  let seq = 0;
  let live = 0;
  const queue = new MinHeap<Timer>(before);

  function popDue(limit: number): Timer | undefined {
    for (;;) {
      const next = queue.peek();
      if (next === undefined || next.at > limit) return undefined;
      queue.pop();
      if (!next.cancelled) return next;
    }
  }

  async function fire(timer: Timer): Promise<void> {
    if (timer.at > now) now = timer.at;
    timer.cancelled = true;
    live--;
    timer.callback();
    await nextTurn();
  }

  return {
    now: () => now,
    setTimeout(callback: () => void, ms: number): TimerHandle {
      const delay = Number.isFinite(ms) && ms > 0 ? ms : 0;
      const timer: Timer = { at: now + delay, seq: seq++, callback, cancelled: false };
      queue.push(timer);
      live++;
      return timer;
    },
    clearTimeout(handle: TimerHandle): void {
      const timer = handle as Timer | undefined;
      if (timer && typeof timer === 'object' && 'cancelled' in timer && !timer.cancelled) {
        timer.cancelled = true;
        live--;
        if (queue.size > 64 && live < queue.size / 2) queue.retain(isLive); // clearing never accumulates cancelled timers
      }
    },
    async advance(ms: number): Promise<void> {
      if (!(ms >= 0) || !Number.isFinite(ms)) throw new RangeError(`advance: ms must be a finite number >= 0, got ${ms}`);
      const target = now + ms;
      await nextTurn();
      for (let timer = popDue(target); timer !== undefined; timer = popDue(target)) await fire(timer);
      now = target;
      await nextTurn();
    },
    async runAll(maxTimers = 100_000): Promise<void> {
      await nextTurn();
      let fired = 0;
      for (let timer = popDue(Infinity); timer !== undefined; timer = popDue(Infinity)) {
        if (++fired > maxTimers) {
          // Put back the timer it will not fire: it stays pending, counted and due, for a later advance.
          queue.push(timer);
          throw new Error(`runAll: more than ${maxTimers} timers fired; is a timer rescheduling itself?`);
        }
        await fire(timer);
      }
    },
    flush: nextTurn,
    get pendingTimers() {
      return live;
    },
  };
}
