// The Redis stores against scripted in-process "servers" that run the same operations as the
// Lua scripts, in the order the calls arrive: deterministic orderings a real server only shows
// under load (which call of one connection reaches the server first).
import { createEventBus } from '@x/core';
import { createVirtualClock } from '@x/core/testing';
import type { VirtualClock } from '@x/core/testing';
import { unhandledRejections } from '@x/test-support';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLock } from './index.js';
import type { Lease } from './index.js';
import { redlockStore } from './redis.js';
import { ACQUIRE_LOCK, EXTEND_LOCK, RELEASE_LOCK } from './redis-scripts.js';

/** One Redis server holding locks and fence counters, answering like the lock scripts. */
class ScriptedServer {
  readonly status = 'ready';
  readonly locks = new Map<string, string>();
  readonly fences = new Map<string, number>();
  /** Every script call in arrival order: op and the tokens it carried. */
  readonly calls: { op: string; tokens: string[] }[] = [];

  evalsha(sha: string, numkeys: number, ...rest: (string | number)[]): Promise<unknown> {
    const keys = rest.slice(0, numkeys).map(String);
    const args = rest.slice(numkeys).map(String);
    const out: number[] = [];
    if (sha === ACQUIRE_LOCK.sha) {
      const tokens: string[] = [];
      for (let i = 0; i < keys.length / 2; i++) {
        const lock = keys[2 * i] as string;
        const fk = keys[2 * i + 1] as string;
        const token = args[3 * i] as string;
        const proposal = args[3 * i + 2] as string;
        tokens.push(token);
        const holder = this.locks.get(lock);
        if (holder !== undefined && holder !== token) {
          out.push(0, 100);
          continue;
        }
        const last = this.fences.get(fk) ?? 0;
        const f = proposal === '' ? last + 1 : Number(proposal);
        if (f <= last) {
          out.push(2, last);
          continue;
        }
        this.fences.set(fk, f);
        this.locks.set(lock, token);
        out.push(1, f);
      }
      this.calls.push({ op: 'acquire', tokens });
    } else if (sha === RELEASE_LOCK.sha || sha === EXTEND_LOCK.sha) {
      const release = sha === RELEASE_LOCK.sha;
      const width = release ? 1 : 2;
      const tokens: string[] = [];
      keys.forEach((key, i) => {
        const token = args[width * i] as string;
        tokens.push(token);
        const mine = this.locks.get(key) === token;
        if (mine && release) this.locks.delete(key);
        out.push(mine ? 1 : 0);
      });
      this.calls.push({ op: release ? 'release' : 'extend', tokens });
    } else {
      return Promise.reject(new Error(`unknown script ${sha}`));
    }
    return Promise.resolve(out);
  }

  holds(token: string): boolean {
    for (const holder of this.locks.values()) if (holder === token) return true;
    return false;
  }
}

let clock: VirtualClock;
const watch = unhandledRejections();
beforeEach(() => {
  clock = createVirtualClock({ now: 1_000 });
  watch.start();
});
afterEach(() => {
  watch.stop();
  expect(watch.reasons).toEqual([]);
});

const hops = async (n: number) => {
  for (let i = 0; i < n; i++) await Promise.resolve();
};

describe('redlockStore against scripted servers', () => {
  it('a fence retry never lets the first round\'s release of a token overtake the second round\'s grant (batches of different scripts on one connection)', async () => {
    // Another client's clock runs far ahead: every node has issued a fence above our proposal, so
    // the first round is refused ('fence'), its releases go out, and a second round proposes above.
    // Other requests on the same nodes (a second key, started a few microtasks later) keep an
    // acquire batch open at that moment; whatever the timing, the lease must end up held by a quorum.
    for (let delay = 0; delay < 40; delay++) {
      const servers = [new ScriptedServer(), new ScriptedServer(), new ScriptedServer()];
      for (const server of servers) server.fences.set('{lk:k}:f', 5_000_000);
      const events = createEventBus();
      const store = redlockStore(servers, { prefix: 'lk', clock, events });
      const lock = createLock({ store, clock, events, ttlMs: 10_000 });
      const other = createLock({ store, clock, events, ttlMs: 10_000 });
      const leasing = lock.tryLock('k');
      const busy = hops(delay).then(() => other.tryLock(`other${delay}`));
      const lease = (await leasing) as Lease;
      await busy;
      expect(lease).not.toBeNull();
      expect(lease.fence).toBeGreaterThan(5_000_000);
      const token = (lease as unknown as { token: string }).token;
      const holding = servers.filter((s) => s.holds(token)).length;
      expect({ delay, holding, calls: servers.map((s) => s.calls.filter((c) => c.tokens.includes(token)).map((c) => c.op)) }).toMatchObject({ holding: 3 });
      expect(await lease.release()).toBe('released');
    }
  });
});
