import type { Clock, EventBus } from '@x/core';
// The event types must be in this entry's program for the bus to accept them (declaration merging).
import type {} from './events.js';

/**
 * What the in-memory filters (plain, counting, scalable) share: their name, clock and bus, the
 * batch calls built on `add` / `has`, and the false-positive count with its event. Internal (not
 * exported from the package).
 */
export abstract class MemoryFilter {
  readonly name: string;
  readonly #clock: Clock;
  readonly #events: EventBus;
  #falsePositives = 0;

  constructor(name: string, clock: Clock, events: EventBus) {
    this.name = name;
    this.#clock = clock;
    this.#events = events;
  }

  abstract add(key: string): boolean;
  abstract has(key: string): boolean;

  protected get clock(): Clock {
    return this.#clock;
  }

  protected get events(): EventBus {
    return this.#events;
  }

  /** False positives reported through {@link recordFalsePositive} (or restored). */
  protected get falsePositives(): number {
    return this.#falsePositives;
  }

  protected set falsePositives(count: number) {
    this.#falsePositives = count;
  }

  addMany(keys: Iterable<string>): boolean[] {
    const out: boolean[] = [];
    for (const key of keys) out.push(this.add(key));
    return out;
  }

  hasMany(keys: Iterable<string>): boolean[] {
    const out: boolean[] = [];
    for (const key of keys) out.push(this.has(key));
    return out;
  }

  recordFalsePositive(): void {
    this.#falsePositives++;
    if (!this.#events.hasListeners('bloom.false_positive')) return;
    this.#events.emit({ type: 'bloom.false_positive', source: 'bloom', name: this.name, time: this.#clock.now(), falsePositives: this.#falsePositives });
  }
}
