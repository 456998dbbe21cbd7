import type { LockStore, LockStoreExtend, LockStoreGrant, LockStoreRelease, LockStoreRequest } from './store.js';

interface Holder {
  token: string;
  expiresAt: number;
}

const HELD: LockStoreGrant = { granted: false, reason: 'held' };

/**
 * The in-process store: one `Map` per kind of lease, expiry computed from timestamps on each
 * access (no timer ever runs), answers given synchronously. Fences come from one counter per
 * store, so they strictly increase per key (and across keys). Entries left behind by leases
 * that expired without a release are swept as the maps grow (amortised, no timer).
 */
class MemoryLockStore implements LockStore {
  readonly kind = 'memory';
  #fence = 0;
  readonly #locks = new Map<string, Holder>();
  readonly #slots = new Map<string, Map<string, number>>();
  #sweepAt = 1024;

  drift(): number {
    return 0;
  }

  acquire(request: LockStoreRequest): LockStoreGrant {
    const { key, token, now } = request;
    if (request.limit !== undefined) return this.#acquireSlot(request);
    const holder = this.#locks.get(key);
    if (holder !== undefined && holder.token !== token && holder.expiresAt > now) {
      return { granted: false, reason: 'held', retryAfterMs: holder.expiresAt - now };
    }
    if (holder === undefined) {
      if (this.#locks.size >= this.#sweepAt) this.#sweep(now);
      this.#locks.set(key, { token, expiresAt: now + request.ttlMs });
    } else {
      holder.token = token;
      holder.expiresAt = now + request.ttlMs;
    }
    return { granted: true, fence: ++this.#fence };
  }

  extend(request: LockStoreRequest): LockStoreExtend {
    const { key, token, now } = request;
    if (request.limit !== undefined) {
      const slots = this.#slots.get(key);
      const expiresAt = slots?.get(token);
      if (slots === undefined || expiresAt === undefined || expiresAt <= now) return 'not_held';
      slots.set(token, now + request.ttlMs);
      return 'extended';
    }
    const holder = this.#locks.get(key);
    if (holder === undefined || holder.token !== token || holder.expiresAt <= now) return 'not_held';
    holder.expiresAt = now + request.ttlMs;
    return 'extended';
  }

  release(request: LockStoreRequest): LockStoreRelease {
    const { key, token, now } = request;
    if (request.limit !== undefined) {
      const slots = this.#slots.get(key);
      const expiresAt = slots?.get(token);
      if (slots === undefined || expiresAt === undefined) return 'expired';
      slots.delete(token);
      if (slots.size === 0) this.#slots.delete(key);
      return expiresAt > now ? 'released' : 'expired';
    }
    const holder = this.#locks.get(key);
    if (holder === undefined || holder.token !== token) return 'expired';
    this.#locks.delete(key);
    return holder.expiresAt > now ? 'released' : 'expired';
  }

  #acquireSlot(request: LockStoreRequest): LockStoreGrant {
    const { key, token, now } = request;
    const limit = request.limit as number;
    let slots = this.#slots.get(key);
    if (slots === undefined) {
      if (this.#slots.size >= this.#sweepAt) this.#sweep(now);
      slots = new Map();
      this.#slots.set(key, slots);
    }
    // Expired holders are reclaimed first, so a crashed holder's slot comes back at its TTL.
    let earliest = Infinity;
    for (const [other, expiresAt] of slots) {
      if (expiresAt <= now) slots.delete(other);
      else if (expiresAt < earliest) earliest = expiresAt;
    }
    if (!slots.has(token) && slots.size >= limit) {
      return earliest === Infinity ? HELD : { granted: false, reason: 'held', retryAfterMs: earliest - now };
    }
    slots.set(token, now + request.ttlMs);
    return { granted: true, fence: ++this.#fence };
  }

  /** Drops expired entries; the next sweep waits until the maps double, so sweeping is O(1) amortised. */
  #sweep(now: number): void {
    for (const [key, holder] of this.#locks) if (holder.expiresAt <= now) this.#locks.delete(key);
    for (const [key, slots] of this.#slots) {
      for (const [token, expiresAt] of slots) if (expiresAt <= now) slots.delete(token);
      if (slots.size === 0) this.#slots.delete(key);
    }
    this.#sweepAt = Math.max(1024, 2 * Math.max(this.#locks.size, this.#slots.size));
  }
}

/**
 * A lock store in this process's memory: the default store, the test double, and what a single
 * process (or a browser tab) needs. Expiry is computed from the lock's clock on each access, so a
 * virtual clock moves it and no timer ever runs; answers are synchronous.
 *
 * @example
 * ```ts
 * const store = memoryLockStore();
 * const lock = createLock({ name: 'jobs', store, ttlMs: 5_000 });
 * const sem = createSemaphore({ name: 'exports', store, limit: 3, ttlMs: 60_000 });
 * ```
 */
export function memoryLockStore(): LockStore {
  return new MemoryLockStore();
}
