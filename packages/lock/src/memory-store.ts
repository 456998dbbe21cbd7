import type { LockStore, LockStoreExtend, LockStoreGrant, LockStoreRelease, LockStoreRequest } from './store.js';

interface Holder {
  /** The generic path's owner; undefined for a grant made by `grantLock` (or a freed entry). */
  token: string | undefined;
  /** The grant's fence: unique in this store, so it names the grant as surely as a token. */
  fence: number;
  expiresAt: number;
}

const HELD: LockStoreGrant = { granted: false, reason: 'held' };

/**
 * The in-process store: one `Map` per kind of lease, expiry computed from timestamps on each
 * access (no timer ever runs), answers given synchronously. Fences come from one counter per
 * store, so they strictly increase per key (and across keys). A released key keeps its entry,
 * marked free, and the next grant on it reuses it; freed entries and those left by leases that
 * expired without a release are swept as the maps grow (amortised, no timer).
 *
 * @internal Exported for the lock's synchronous path (`grantLock` / `extendLock` /
 * `releaseLock`), which names a grant by its fence instead of a token. Both paths share the same
 * entries, so a lock on the fast path and one reaching the store through a wrapper still exclude
 * each other.
 */
export class MemoryLockStore implements LockStore {
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
    return { granted: true, fence: this.#grant(holder, key, token, request.ttlMs, now) };
  }

  /**
   * @internal The lock's synchronous acquire: the new fence, or 0 when the key is held. The grant
   * has no token; `extendLock` / `releaseLock` name it by its fence.
   */
  grantLock(key: string, ttlMs: number, now: number): number {
    const holder = this.#locks.get(key);
    if (holder !== undefined && holder.expiresAt > now) return 0;
    return this.#grant(holder, key, undefined, ttlMs, now);
  }

  /**
   * Records a grant. A released or expired key's entry is reused, so an uncontended lock costs no
   * Map insert and delete (V8 rehashes a Map that keeps emptying and refilling).
   */
  #grant(holder: Holder | undefined, key: string, token: string | undefined, ttlMs: number, now: number): number {
    const fence = ++this.#fence;
    if (holder === undefined) {
      if (this.#locks.size >= this.#sweepAt) this.#sweep(now);
      this.#locks.set(key, { token, fence, expiresAt: now + ttlMs });
    } else {
      holder.token = token;
      holder.fence = fence;
      holder.expiresAt = now + ttlMs;
    }
    return fence;
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
    if (holder === undefined || holder.token !== token) return 'not_held';
    return this.#extend(holder, request.ttlMs, now);
  }

  /** @internal `extend` for a grant of `grantLock`, named by its fence. */
  extendLock(key: string, fence: number, ttlMs: number, now: number): LockStoreExtend {
    const holder = this.#locks.get(key);
    if (holder === undefined || holder.fence !== fence || holder.token !== undefined) return 'not_held';
    return this.#extend(holder, ttlMs, now);
  }

  #extend(holder: Holder, ttlMs: number, now: number): LockStoreExtend {
    if (holder.expiresAt <= now) return 'not_held';
    holder.expiresAt = now + ttlMs;
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
    return this.#free(holder, now);
  }

  /** @internal `release` for a grant of `grantLock`, named by its fence. */
  releaseLock(key: string, fence: number, now: number): LockStoreRelease {
    const holder = this.#locks.get(key);
    if (holder === undefined || holder.fence !== fence || holder.token !== undefined) return 'expired';
    return this.#free(holder, now);
  }

  /** Frees the entry without deleting it: it matches no fence or token, and is swept as expired. */
  #free(holder: Holder, now: number): LockStoreRelease {
    const result = holder.expiresAt > now ? 'released' : 'expired';
    holder.token = undefined;
    holder.fence = 0;
    holder.expiresAt = -Infinity;
    return result;
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
