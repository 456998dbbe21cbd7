import type { Clock, TimerHandle } from '@x/core';

/** Something waiting for a deadline; the queue links entries intrusively (no node objects). */
export interface DeadlineEntry {
  /** Absolute time (`clock.now()` units) at which `expire` must run. */
  readonly deadline: number;
  prev: DeadlineEntry | undefined;
  next: DeadlineEntry | undefined;
  queued: boolean;
  /** Called once, from the timer, at or after `deadline`. The entry is already unlinked. */
  expire(): void;
}

// Node and browsers fire a delay above 2^31 - 1 ms at once; longer waits re-arm on wake-up.
const MAX_DELAY = 0x7fffffff;

/**
 * The deadlines of every pending call of one timeout policy, in deadline order, served by ONE
 * clock timer armed for the earliest of them. Calls of one policy mostly share the same `ms`, so
 * a new deadline is nearly always the latest and is appended in O(1); removal is O(1).
 *
 * The timer is not re-armed when the head leaves early (that would cost a clear + set per call):
 * it wakes at the old time, finds nothing due and re-arms for the new head. It is cleared as soon
 * as the queue is empty, so an idle policy holds no timer and nothing keeps a process alive.
 */
export class DeadlineQueue {
  #head: DeadlineEntry | undefined = undefined;
  #tail: DeadlineEntry | undefined = undefined;
  #timer: TimerHandle | undefined = undefined;
  /** When the armed timer fires (`Infinity` when none is armed). Never later than the head's deadline. */
  #armedAt = Infinity;
  readonly #clock: Clock;
  readonly #onTimer = (): void => this.#fire();

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /** Whether no entry is waiting. */
  get empty(): boolean {
    return this.#head === undefined;
  }

  /** Queues `entry`; `now` is the current `clock.now()` (the caller has it already). */
  add(entry: DeadlineEntry, now: number): void {
    const deadline = entry.deadline;
    // Walk back from the tail past later deadlines; equal deadlines keep their arrival order.
    let before = this.#tail;
    while (before !== undefined && before.deadline > deadline) before = before.prev;
    entry.prev = before;
    if (before === undefined) {
      entry.next = this.#head;
      this.#head = entry;
    } else {
      entry.next = before.next;
      before.next = entry;
    }
    if (entry.next === undefined) this.#tail = entry;
    else entry.next.prev = entry;
    entry.queued = true;
    if (deadline < this.#armedAt) this.#arm(deadline, now);
  }

  /** Removes a queued entry; clears the timer when nothing is left. */
  remove(entry: DeadlineEntry): void {
    this.#unlink(entry);
    if (this.#head === undefined && this.#timer !== undefined) {
      this.#clock.clearTimeout(this.#timer);
      this.#timer = undefined;
      this.#armedAt = Infinity;
    }
  }

  #unlink(entry: DeadlineEntry): void {
    const { prev, next } = entry;
    if (prev === undefined) this.#head = next;
    else prev.next = next;
    if (next === undefined) this.#tail = prev;
    else next.prev = prev;
    entry.prev = undefined;
    entry.next = undefined;
    entry.queued = false;
  }

  #arm(at: number, now: number): void {
    const clock = this.#clock;
    if (this.#timer !== undefined) clock.clearTimeout(this.#timer);
    const delay = Math.min(Math.max(at - now, 0), MAX_DELAY);
    this.#armedAt = now + delay;
    this.#timer = clock.setTimeout(this.#onTimer, delay);
  }

  #fire(): void {
    const armedAt = this.#armedAt;
    this.#timer = undefined;
    this.#armedAt = Infinity;
    const now = this.#clock.now();
    // What the timer was armed for is due when it fires, even if the clock reads a fraction of a
    // millisecond earlier: Node starts a timer from the loop's cached millisecond time, so it can
    // fire up to ~1 ms early by `performance.now()`, and re-arming for the rest would cost a whole
    // extra millisecond (the minimum delay), leaving the signal un-aborted well past the deadline.
    const due = armedAt > now ? armedAt : now;
    try {
      // `expire` may add or remove entries (user abort listeners run synchronously): re-read the head.
      for (let entry = this.#head; entry !== undefined && entry.deadline <= due; entry = this.#head) {
        this.#unlink(entry);
        entry.expire();
      }
    } finally {
      const head = this.#head;
      if (head !== undefined && head.deadline < this.#armedAt) this.#arm(head.deadline, now);
    }
  }
}
