import { MinHeap } from '@x/core';
import type {
  ClaimResult,
  ClaimedEntry,
  DeadLetterState,
  DeadLetterStore,
  OverflowPolicy,
  QueueStore,
  StoreAddOutcome,
  StoreContext,
  StoreSizes,
  StoredEntry,
  StoredPage,
} from './types.js';

interface Entry {
  readonly id: string;
  /** Order of entry into its current state (pending or dead); lists and drop-oldest follow it. */
  seq: number;
  doc: string;
  readonly idem: string | undefined;
  state: 'waiting' | 'inflight' | 'dead';
  dueAt: number;
  since: number;
  token: string;
  leaseUntil: number;
  deliveries: number;
  /** Bumped on every reschedule, so stale heap slots are skipped. */
  version: number;
}

interface Slot {
  readonly at: number;
  readonly order: number;
  readonly entry: Entry;
  readonly version: number;
}

/** Due time first, then scheduling order. */
const before = (a: Slot, b: Slot) => a.at < b.at || (a.at === b.at && a.order < b.order);

/** The items of one queue name in one memory store. */
class QueueState {
  readonly entries = new Map<string, Entry>();
  /** Pending entries (waiting and in flight), in order of becoming pending. */
  readonly live = new Map<string, Entry>();
  /** Dead entries, in order of death. */
  readonly dead = new Map<string, Entry>();
  /** In-flight entries, in order of their lease. */
  readonly inflight = new Map<string, Entry>();
  readonly idem = new Map<string, string>();
  /** Waiting entries by due time (lazy deletion: a rescheduled or removed entry leaves a stale slot). */
  readonly heap = new MinHeap<Slot>(before);
  nextId = 1;
  seq = 0;
  order = 0;
  leases = 0;

  /** The earliest live slot, dropping stale ones on the way. */
  nextDue(): Slot | undefined {
    for (;;) {
      const top = this.heap.peek();
      if (top === undefined || (top.entry.state === 'waiting' && top.entry.version === top.version)) return top;
      this.heap.pop();
    }
  }

  schedule(entry: Entry, dueAt: number): void {
    entry.state = 'waiting';
    entry.dueAt = dueAt;
    entry.version++;
    this.heap.push({ at: dueAt, order: this.order++, entry, version: entry.version });
  }

  remove(entry: Entry): void {
    this.entries.delete(entry.id);
    this.live.delete(entry.id);
    this.dead.delete(entry.id);
    this.inflight.delete(entry.id);
    if (entry.idem !== undefined && this.idem.get(entry.idem) === entry.id) this.idem.delete(entry.idem);
    entry.state = 'dead';
    entry.version++;
  }

  lease(entry: Entry, now: number, visibilityMs: number): ClaimedEntry {
    entry.state = 'inflight';
    entry.token = `${entry.id}.${++this.leases}`;
    entry.leaseUntil = now + visibilityMs;
    entry.deliveries++;
    this.inflight.delete(entry.id);
    this.inflight.set(entry.id, entry);
    return { id: entry.id, token: entry.token, doc: entry.doc, deliveries: entry.deliveries };
  }

  sizes(): StoreSizes {
    return {
      pending: this.live.size,
      inFlight: this.inflight.size,
      dead: this.dead.size,
      oldestPendingSince: first(this.live)?.since,
      oldestDeadSince: first(this.dead)?.since,
    };
  }

  view(entry: Entry): StoredEntry {
    const dead = entry.state === 'dead';
    return {
      id: entry.id,
      doc: entry.doc,
      state: dead ? 'dead' : 'pending',
      inFlight: entry.state === 'inflight',
      since: entry.since,
      dueAt: entry.state === 'waiting' ? entry.dueAt : undefined,
    };
  }
}

function first(map: Map<string, Entry>): Entry | undefined {
  for (const entry of map.values()) return entry;
  return undefined;
}

class MemoryQueueStore implements QueueStore {
  readonly #s: QueueState;

  constructor(state: QueueState) {
    this.#s = state;
  }

  add(doc: string, idempotencyKey: string | undefined, now: number, dueAt: number, maxSize: number, overflow: OverflowPolicy): Promise<StoreAddOutcome> {
    const s = this.#s;
    if (idempotencyKey !== undefined) {
      const existing = s.idem.get(idempotencyKey);
      if (existing !== undefined) return Promise.resolve({ kind: 'duplicate', id: existing });
    }
    let dropped: { id: string; doc: string } | undefined;
    if (s.live.size + s.dead.size >= maxSize) {
      if (overflow === 'reject') return Promise.resolve({ kind: 'full' });
      // Never an item a worker holds: it would be processed and reported dropped both.
      let pending: Entry | undefined;
      for (const entry of s.live.values()) {
        if (entry.state !== 'inflight') {
          pending = entry;
          break;
        }
      }
      const dead = first(s.dead);
      const victim = pending === undefined ? dead : dead === undefined || pending.seq < dead.seq ? pending : dead;
      // Everything held is in flight: nothing can make room.
      if (victim === undefined) return Promise.resolve({ kind: 'full' });
      s.remove(victim);
      dropped = { id: victim.id, doc: victim.doc };
    }
    const id = String(s.nextId++);
    const entry: Entry = {
      id,
      seq: ++s.seq,
      doc,
      idem: idempotencyKey,
      state: 'waiting',
      dueAt,
      since: now,
      token: '',
      leaseUntil: 0,
      deliveries: 0,
      version: 0,
    };
    s.entries.set(id, entry);
    s.live.set(id, entry);
    if (idempotencyKey !== undefined) s.idem.set(idempotencyKey, id);
    s.schedule(entry, dueAt);
    return Promise.resolve({ kind: 'added', id, dropped });
  }

  claim(_consumer: string, count: number, now: number, visibilityMs: number): Promise<ClaimResult> {
    const s = this.#s;
    const out: ClaimedEntry[] = [];
    // Leases that expired (a processor that hung past visibilityMs): delivered again.
    let expired: Entry[] | undefined;
    for (const entry of s.inflight.values()) {
      if (out.length + (expired?.length ?? 0) >= count || entry.leaseUntil > now) break;
      (expired ??= []).push(entry);
    }
    if (expired !== undefined) for (const entry of expired) out.push(s.lease(entry, now, visibilityMs));
    while (out.length < count) {
      const top = s.nextDue();
      if (top === undefined || top.at > now) break;
      s.heap.pop();
      top.entry.deliveries = 0;
      out.push(s.lease(top.entry, now, visibilityMs));
    }
    const due = s.nextDue()?.at;
    const lease = first(s.inflight)?.leaseUntil;
    const nextDueAt = due === undefined ? lease : lease === undefined || due < lease ? due : lease;
    return Promise.resolve({ entries: out, nextDueAt, sizes: s.sizes() });
  }

  #held(id: string, token: string): Entry | undefined {
    const entry = this.#s.entries.get(id);
    return entry !== undefined && entry.state === 'inflight' && entry.token === token ? entry : undefined;
  }

  complete(id: string, token: string): Promise<boolean> {
    const entry = this.#held(id, token);
    if (entry !== undefined) this.#s.remove(entry);
    return Promise.resolve(entry !== undefined);
  }

  reschedule(id: string, token: string, doc: string, dueAt: number): Promise<boolean> {
    const entry = this.#held(id, token);
    if (entry === undefined) return Promise.resolve(false);
    this.#s.inflight.delete(id);
    entry.doc = doc;
    this.#s.schedule(entry, dueAt);
    return Promise.resolve(true);
  }

  bury(id: string, token: string, doc: string, now: number): Promise<boolean> {
    const entry = this.#held(id, token);
    if (entry === undefined) return Promise.resolve(false);
    const s = this.#s;
    s.inflight.delete(id);
    s.live.delete(id);
    entry.doc = doc;
    entry.state = 'dead';
    entry.version++;
    entry.seq = ++s.seq;
    entry.since = now;
    s.dead.set(id, entry);
    return Promise.resolve(true);
  }

  get(id: string): Promise<StoredEntry | undefined> {
    const entry = this.#s.entries.get(id);
    return Promise.resolve(entry === undefined ? undefined : this.#s.view(entry));
  }

  list(state: DeadLetterState, limit: number, cursor: string | undefined): Promise<StoredPage> {
    const s = this.#s;
    const after = cursor === undefined ? 0 : Number(cursor);
    const entries: StoredEntry[] = [];
    let more = false;
    for (const entry of (state === 'dead' ? s.dead : s.live).values()) {
      if (entry.seq <= after) continue;
      if (entries.length === limit) {
        more = true;
        break;
      }
      entries.push(s.view(entry));
    }
    const last = s.entries.get(entries[entries.length - 1]?.id ?? '');
    return Promise.resolve({ entries, cursor: more && last !== undefined ? String(last.seq) : undefined });
  }

  revive(id: string, doc: string | undefined, dueAt: number, now: number): Promise<boolean> {
    const s = this.#s;
    const entry = s.entries.get(id);
    if (entry === undefined || entry.state === 'inflight') return Promise.resolve(false);
    // A new doc was computed from the dead record: it only applies while the item is still dead.
    if (doc !== undefined && entry.state !== 'dead') return Promise.resolve(false);
    if (doc !== undefined) entry.doc = doc;
    if (entry.state === 'dead') {
      s.dead.delete(id);
      entry.seq = ++s.seq;
      entry.since = now;
      entry.deliveries = 0;
      s.live.set(id, entry);
    }
    s.schedule(entry, dueAt);
    return Promise.resolve(true);
  }

  discard(id: string): Promise<boolean> {
    const entry = this.#s.entries.get(id);
    if (entry !== undefined) this.#s.remove(entry);
    return Promise.resolve(entry !== undefined);
  }

  sizes(): Promise<StoreSizes> {
    return Promise.resolve(this.#s.sizes());
  }

  close(): void {}
}

/**
 * A store that keeps items in this process's memory: no dependency, browser-safe, and the
 * default. Items survive nothing (a reload, a crash, a deploy): use `redisDlqStore` from
 * `@x/dlq/redis` when they must. Queues with the same name on one memory store share their items,
 * like processes sharing a Redis. Items are kept as JSON, exactly as on Redis, so both stores
 * behave alike.
 *
 * @example
 * ```ts
 * const store = memoryDlqStore();
 * const dlq = createDeadLetterQueue({ name: 'emails', store, process: sendEmail });
 * ```
 */
export function memoryDlqStore(): DeadLetterStore {
  const queues = new Map<string, QueueState>();
  return {
    kind: 'memory',
    bind(context: StoreContext): QueueStore {
      let state = queues.get(context.queue);
      if (state === undefined) {
        state = new QueueState();
        queues.set(context.queue, state);
      }
      return new MemoryQueueStore(state);
    },
  };
}
