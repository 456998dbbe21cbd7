import { unrefTimer } from '../clock.js';
import type { Clock } from '../clock.js';

/** Something with a deadline that the queue expires unless it settled first. */
export interface Deadlined {
  /** Absolute time (clock ms) at which `expire` is called. */
  readonly deadline: number;
  /** True once the item is done; the queue then drops it without calling `expire`. */
  readonly settled: boolean;
  expire(): void;
}

/**
 * Deadlines for many in-flight calls on one timer. Every call of a store gets the same timeout,
 * so arrival order is deadline order: a FIFO array is the whole priority queue, and one timer
 * armed for the oldest unsettled call serves all of them (no timer per call).
 *
 * When the timer finds overdue calls it waits one more timer turn before expiring them. If the
 * event loop was blocked, replies may already sit in the socket; Node runs timers before I/O, so
 * expiring at once would fail calls whose answers had arrived. The extra turn lets them through.
 *
 * The timer is unref'd: it only guards calls that hold the process open by themselves.
 *
 * @example
 * ```ts
 * const deadlines = new DeadlineQueue(clock);
 * deadlines.add(call); // call.expire() runs at call.deadline unless call.settled by then
 * ```
 */
export class DeadlineQueue {
  readonly #clock: Clock;
  #items: Deadlined[] = [];
  #head = 0;
  #timer: unknown = undefined;
  #grace = false;
  #running = false;
  readonly #fire = (): void => this.#onTimer();

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /** Items not yet dropped (settled items are dropped lazily). */
  get length(): number {
    return this.#items.length - this.#head;
  }

  add(item: Deadlined): void {
    this.#items.push(item);
    if (this.#timer === undefined && !this.#running) this.#arm(item.deadline - this.#clock.now());
  }

  #arm(delay: number): void {
    this.#timer = unrefTimer(this.#clock.setTimeout(this.#fire, delay > 0 ? delay : 0));
  }

  #onTimer(): void {
    this.#timer = undefined;
    const now = this.#clock.now();
    const items = this.#items;
    let head = this.#head;
    // Drop what settled; stop at the first live item.
    while (head < items.length && (items[head] as Deadlined).settled) head++;
    if (head < items.length && (items[head] as Deadlined).deadline <= now) {
      if (!this.#grace) {
        this.#head = head;
        this.#grace = true;
        this.#arm(0);
        return;
      }
      while (head < items.length) {
        const item = items[head] as Deadlined;
        if (item.settled) {
          head++;
          continue;
        }
        if (item.deadline > now) break;
        head++;
        this.#running = true;
        try {
          item.expire();
        } catch {
          // One failing handler must not leave the calls behind it without a deadline.
        }
        this.#running = false;
      }
    }
    this.#grace = false;
    if (head >= items.length) {
      this.#items = [];
      this.#head = 0;
      return;
    }
    if (head > 1024 && head * 2 > items.length) {
      this.#items = items.slice(head);
      head = 0;
    }
    this.#head = head;
    this.#arm((this.#items[head] as Deadlined).deadline - now);
  }
}
