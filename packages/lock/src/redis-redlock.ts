import { InvalidOptionsError, readOptions } from '@x/core';
import { COMMON_KEYS, RedisNode, commonSettings, failureText } from './redis-node.js';
import type { LockRedisClient, NodeAnswer, NodeGrant, RedisStoreCommonOptions } from './redis-node.js';
import type { LockStore, LockStoreExtend, LockStoreGrant, LockStoreRelease, LockStoreRequest } from './store.js';

/** Options of {@link redlockStore}. */
export type RedlockStoreOptions = RedisStoreCommonOptions;

const OWNER = 'redlockStore';

type Failed = { readonly kind: 'failed'; readonly error: unknown; readonly timedOut: boolean };

/** Tallies one operation's answers as they arrive and settles once the outcome is certain. */
class Round<A> {
  readonly answers: (A | undefined)[];
  answered = 0;
  settled = false;
  constructor(readonly size: number) {
    this.answers = new Array<A | undefined>(size);
  }
}

class RedlockStore implements LockStore {
  readonly kind = 'redlock';
  readonly #nodes: readonly RedisNode[];
  readonly #quorum: number;
  readonly #driftFactor: number;
  /** Highest fence proposed or seen: the next proposal is above it (and above the clock). */
  #last = 0;

  constructor(clients: readonly LockRedisClient[], options: RedlockStoreOptions | undefined) {
    if (!Array.isArray(clients) || clients.length === 0) {
      throw new InvalidOptionsError(OWNER, 'clients', clients, 'a non-empty array of ioredis clients, one per independent Redis server');
    }
    if (new Set(clients).size !== clients.length) {
      throw new InvalidOptionsError(OWNER, 'clients', clients, 'distinct clients: the same client twice is one server counted twice, which breaks the quorum');
    }
    const o = readOptions<RedlockStoreOptions>(OWNER, options, COMMON_KEYS);
    const settings = commonSettings(OWNER, o, { name: 'redlock', timeoutMs: 50 });
    this.#nodes = clients.map((client, i) => new RedisNode(OWNER, client, settings, `${settings.name}[${i}]`));
    this.#quorum = Math.floor(clients.length / 2) + 1;
    this.#driftFactor = settings.driftFactor;
  }

  drift(ttlMs: number): number {
    return Math.floor(ttlMs * this.#driftFactor) + 2;
  }

  async acquire(request: LockStoreRequest): Promise<LockStoreGrant> {
    const first = await this.#acquireRound(request);
    // Nodes had issued higher fences (another client's clock runs ahead): propose above them once more.
    if (!first.granted && first.reason === 'fence') return this.#acquireRound(request);
    return first;
  }

  #acquireRound(request: LockStoreRequest): Promise<LockStoreGrant> {
    const proposal = Math.max(Math.floor(request.now), this.#last + 1);
    this.#last = proposal;
    const nodes = this.#nodes;
    const quorum = this.#quorum;
    const round = new Round<NodeGrant>(nodes.length);
    return new Promise<LockStoreGrant>((resolve) => {
      let granted = 0;
      let held = 0;
      let behind = 0;
      let failed = 0;
      const settle = (grant: LockStoreGrant): void => {
        round.settled = true;
        // Partial grants, including late ones. Queued before the caller hears the outcome: a fence
        // retry reuses the token at once, and its acquire must reach each node after this release
        // (redis-scripted.test.ts checks the order).
        if (!grant.granted) this.#releaseAll(request);
        resolve(grant);
      };
      nodes.forEach((node, i) => {
        void node.acquire(request, String(proposal)).then((answer) => {
          round.answers[i] = answer;
          round.answered++;
          if (answer.kind === 'granted') granted++;
          else if (answer.kind === 'held') held++;
          else if (answer.kind === 'behind') {
            behind++;
            if (answer.last > this.#last) this.#last = answer.last;
          } else failed++;
          if (round.settled) return;
          if (granted >= quorum) return settle({ granted: true, fence: proposal });
          if (nodes.length - held - behind - failed >= quorum) return;
          const reason = failed > nodes.length - quorum ? 'store_unavailable' : held > 0 ? 'held' : behind > 0 ? 'fence' : 'store_unavailable';
          const detail = this.#detail(round, granted);
          const firstError = round.answers.find((a): a is Failed => a?.kind === 'failed')?.error;
          let retryAfterMs: number | undefined;
          for (const a of round.answers) if (a?.kind === 'held' && (retryAfterMs === undefined || a.retryAfterMs < retryAfterMs)) retryAfterMs = a.retryAfterMs;
          settle({
            granted: false,
            reason,
            detail,
            ...(retryAfterMs !== undefined && { retryAfterMs }),
            ...(reason === 'store_unavailable' && firstError !== undefined && { error: firstError }),
          });
        });
      });
    });
  }

  #detail(round: Round<NodeGrant>, granted: number): string {
    const parts = round.answers.map((a, i) => {
      if (a === undefined) return `node ${i} no answer yet`;
      if (a.kind === 'granted') return `node ${i} granted`;
      if (a.kind === 'held') return `node ${i} held (${Math.ceil(a.retryAfterMs)} ms left)`;
      if (a.kind === 'behind') return `node ${i} has issued fence ${a.last}`;
      return `node ${i} ${failureText(a)}`;
    });
    return `${granted} of ${round.size} nodes granted, quorum ${this.#quorum}: ${parts.join(', ')}`;
  }

  #releaseAll(request: LockStoreRequest): void {
    for (const node of this.#nodes) void node.release(request);
  }

  extend(request: LockStoreRequest): Promise<LockStoreExtend> {
    return this.#vote((node) => node.extend(request), 'extended', 'not_held');
  }

  release(request: LockStoreRequest): Promise<LockStoreRelease> {
    return this.#vote((node) => node.release(request), 'released', 'expired');
  }

  /**
   * Sends one operation to every node: `yes` once a quorum said yes; `no` once so many said no
   * that a quorum of yes is impossible even if every failed node had said yes; otherwise
   * `'unavailable'` (decided as soon as a quorum of yes became impossible).
   */
  #vote<Y extends string, N extends string>(send: (node: RedisNode) => Promise<NodeAnswer>, yes: Y, no: N): Promise<Y | N | 'unavailable'> {
    const nodes = this.#nodes;
    const quorum = this.#quorum;
    return new Promise((resolve) => {
      let ayes = 0;
      let noes = 0;
      let failed = 0;
      let settled = false;
      for (const node of nodes) {
        void send(node).then((answer) => {
          if (answer === 'yes') ayes++;
          else if (answer === 'no') noes++;
          else failed++;
          if (settled) return;
          if (ayes >= quorum) {
            settled = true;
            resolve(yes);
          } else if (nodes.length - noes - failed < quorum) {
            settled = true;
            resolve(noes > nodes.length - quorum ? no : 'unavailable');
          }
        });
      }
    });
  }
}

/**
 * A lock store over a Redlock quorum: N independent Redis servers (not replicas of each other,
 * not one Cluster), one ioredis client each. Each operation goes to every node in parallel, once
 * (one round trip per node), each call with its own small deadline (`timeoutMs`, default 50 ms)
 * and breaker. A lease is granted only by a majority, and only if validity is left:
 * `ttl − elapsed − drift > 0`, with elapsed measured from the start of the attempt that
 * succeeded. A failed attempt releases whatever it was granted. Extend and release are owner
 * checked (compare-and-pexpire, compare-and-delete) and need a majority; a node that lost the key
 * (restarted empty) is never given it back by an extension (delayed-restart safety).
 *
 * Fences: the client proposes one value per attempt (above its clock in ms and above every fence
 * it has seen) and a node grants only if the value is above every fence it issued for the key, so
 * the granting majority all store it. Any later grant needs a majority too, which overlaps this
 * one, so its fence is higher, as long as no node of the overlap lost its data (a node restarted
 * empty forgets its fences; keep it out for longer than your longest TTL, or run it with `appendfsync
 * always`). The fence says nothing about time: it orders grants, and only a resource that
 * rejects lower fences turns that order into safety. Semaphores cannot run on a quorum (each
 * node would count its own holders), so `createSemaphore` refuses this store.
 *
 * @example
 * ```ts
 * const nodes = [new Redis(6380), new Redis(6381), new Redis(6382)];
 * const lock = createLock({ name: 'ledger', store: redlockStore(nodes, { timeoutMs: 50 }) });
 * ```
 */
export function redlockStore(clients: readonly LockRedisClient[], options?: RedlockStoreOptions): LockStore {
  return new RedlockStore(clients, options);
}
