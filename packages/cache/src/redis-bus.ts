import { InvalidOptionsError, checkClock, checkEvents, checkInteger, checkString, readOptions, unrefTimer } from '@x/core';
import type { Clock, EventBus } from '@x/core';
import { StoreCaller, StoreGuard, storeGuardOptions } from '@x/core/store';
import type { StoreClient } from '@x/core/store';
import type { InvalidationBus, InvalidationHandler, InvalidationInfo } from './types.js';

/** The publishing connection: any ioredis client (or Cluster). */
export interface BusPublisherClient extends StoreClient {
  publish?(channel: string, message: string): Promise<number>;
}

/** The subscribing connection: a dedicated ioredis client (subscriber mode takes it over). */
export interface BusSubscriberClient {
  subscribe(channel: string): Promise<unknown>;
  unsubscribe(channel: string): Promise<unknown>;
  on(event: string, listener: (...args: unknown[]) => void): unknown;
  removeListener(event: string, listener: (...args: unknown[]) => void): unknown;
}

/** Options of {@link createInvalidationBus}. */
export interface InvalidationBusOptions {
  /** Pub/sub channel; one per cache namespace. Default `'x-cache:invalidate'`. */
  readonly channel?: string;
  /** Name in events. Default the channel. */
  readonly name?: string;
  /** This bus's source id in messages (it ignores its own). Default: random. */
  readonly sourceId?: string;
  /** Deadline of each PUBLISH, ms (integer in [1, 60 000]). Default 200. */
  readonly timeoutMs?: number;
  /** Sources remembered for gap detection (integer >= 1). Default 10 000. */
  readonly maxSources?: number;
  readonly failureThreshold?: number;
  readonly cooldownMs?: number;
  readonly clock?: Clock;
  readonly events?: EventBus;
}

/** What the bus has seen. */
export interface InvalidationBusStats {
  readonly published: number;
  readonly publishFailed: number;
  readonly received: number;
  /** Sequence gaps seen (a message from a known source that was not the next one). */
  readonly gaps: number;
  /** Times the subscriber connection dropped and came back (the subscriber's reconnect epoch). */
  readonly epoch: number;
  /** Keyless messages sent only to reveal a failed publish to subscribers (see {@link createInvalidationBus}). */
  readonly syncs: number;
}

/** The Redis invalidation bus, with its stats. */
export interface RedisInvalidationBus extends InvalidationBus {
  readonly sourceId: string;
  stats(): InvalidationBusStats;
}

interface Message {
  /** Source id of the publisher. */
  readonly s: string;
  /** Publisher's sequence number, 1, 2, 3… (consumed even when a publish fails, so the loss shows as a gap). */
  readonly q: number;
  /** Keys (absent for a clear). */
  readonly k?: readonly string[];
  /** 1 for a namespace clear. */
  readonly c?: 1;
}

const OWNER = 'createInvalidationBus';
/** After a failed publish, first wait before the message that reveals it; doubles up to SYNC_MAX_MS. */
const SYNC_FIRST_MS = 100;
const SYNC_MAX_MS = 30_000;
const KEYS = ['channel', 'name', 'sourceId', 'timeoutMs', 'maxSources', 'failureThreshold', 'cooldownMs', 'clock', 'events'];

function randomId(): string {
  const crypto = (globalThis as { crypto?: { randomUUID?: () => string } }).crypto;
  if (typeof crypto?.randomUUID === 'function') return crypto.randomUUID();
  return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}-${Math.random().toString(36).slice(2)}`;
}

function parse(raw: unknown): Message | undefined {
  if (typeof raw !== 'string') return undefined;
  let message: unknown;
  try {
    message = JSON.parse(raw);
  } catch {
    return undefined;
  }
  if (typeof message !== 'object' || message === null) return undefined;
  const m = message as Partial<Message>;
  if (typeof m.s !== 'string' || typeof m.q !== 'number' || !Number.isSafeInteger(m.q)) return undefined;
  if (m.c !== 1 && !(Array.isArray(m.k) && m.k.every((k) => typeof k === 'string'))) return undefined;
  return m as Message;
}

/**
 * Keys-only invalidation between processes over Redis pub/sub, with loss detection: pub/sub
 * drops messages by design (a subscriber that reconnects, a publish that failed), so a cache
 * that trusted it would serve stale L1 entries forever.
 *
 * - Each message carries the publisher's **source id** (a process ignores its own) and a
 *   **sequence number** per publisher. A failed publish still uses its number, so subscribers see
 *   the hole at the next message: a **gap** makes every subscriber resync (every L1 entry is
 *   logically expired, kept for grace).
 * - A publish that failed is revealed without waiting for the next invalidation: the publisher
 *   keeps sending a keyless message (the next sequence number, backing off from 100 ms to 30 s)
 *   until one goes through, so a publisher whose connection dropped is noticed by every
 *   subscriber as soon as it is back. The sequence makes this exact: a message is lost only if
 *   its number was used, and the next number that arrives shows the hole.
 * - The subscriber connection's **reconnect epoch**: when it drops (`close`) and when it is back
 *   (`ready`), subscribers resync too, since anything published in between was lost. So does
 *   the first confirmation of the subscription (entries cached before it may have missed
 *   messages).
 *
 * `subscriber` must be a connection of its own (subscriber mode takes it over); `publisher` can
 * be the cache's client. Both may be a Cluster (PUBLISH reaches every node's subscribers).
 *
 * @example
 * ```ts
 * const bus = createInvalidationBus(new Redis(url), redis, { channel: 'users:invalidate' });
 * const cache = createCache<User>({ l2: redisCacheStore(redis, { prefix: 'users' }), bus });
 * ```
 */
export function createInvalidationBus(subscriber: BusSubscriberClient, publisher: BusPublisherClient, options?: InvalidationBusOptions): RedisInvalidationBus {
  const o = readOptions<InvalidationBusOptions>(OWNER, options, KEYS);
  const channel = checkString(OWNER, 'channel', o.channel ?? 'x-cache:invalidate');
  const name = o.name === undefined ? channel : checkString(OWNER, 'name', o.name);
  const sourceId = o.sourceId === undefined ? randomId() : checkString(OWNER, 'sourceId', o.sourceId);
  const timeoutMs = checkInteger(OWNER, 'timeoutMs', o.timeoutMs ?? 200, { min: 1, max: 60_000 });
  const maxSources = checkInteger(OWNER, 'maxSources', o.maxSources ?? 10_000, { min: 1, max: 10_000_000 });
  const clock = checkClock(OWNER, o.clock);
  const events = checkEvents(OWNER, o.events);
  const s = subscriber as Partial<BusSubscriberClient> | null;
  if (typeof s !== 'object' || s === null || typeof s.subscribe !== 'function' || typeof s.on !== 'function' || typeof s.removeListener !== 'function' || typeof s.unsubscribe !== 'function') {
    throw badArgument(subscriber);
  }
  const guard = new StoreGuard({ source: 'cache', name, mode: 'fallback', ...storeGuardOptions(OWNER, o), clock, events });
  const caller = new StoreCaller<BusPublisherClient>(publisher, { owner: OWNER, timeoutMs, clock, guard });

  let seq = 0;
  const lastSeq = new Map<string, number>();
  const handlers = new Set<InvalidationHandler>();
  let listening = false;
  let down = false;
  let published = 0;
  let publishFailed = 0;
  let received = 0;
  let gaps = 0;
  let epoch = 0;
  let syncs = 0;
  // The highest sequence number whose publish failed and that no later successful message has
  // revealed yet (0: nothing owed). While owed, a keyless message is sent at backing-off intervals.
  let owedUpTo = 0;
  let syncTimer: unknown;
  let syncDelay = SYNC_FIRST_MS;

  const deliver = (keys: readonly string[], info: InvalidationInfo) => {
    for (const handler of [...handlers]) {
      try {
        handler(keys, info);
      } catch {
        // one handler's failure is not the others'
      }
    }
  };
  const resync = (reason: 'gap' | 'reconnect') => {
    // After a loss, continuity is unknown for every source: start their sequences afresh.
    lastSeq.clear();
    deliver([], { resync: reason });
  };
  const onMessage = (from: string, raw: string) => {
    if (from !== channel) return;
    const message = parse(raw);
    if (message === undefined || message.s === sourceId) return;
    received++;
    const last = lastSeq.get(message.s);
    if (last !== undefined && message.q !== last + 1 && message.q > last) {
      gaps++;
      resync('gap');
    }
    if (last === undefined || message.q > last) {
      lastSeq.delete(message.s);
      lastSeq.set(message.s, message.q);
      if (lastSeq.size > maxSources) lastSeq.delete(lastSeq.keys().next().value as string);
    }
    if (message.c === 1) deliver([], { clear: true });
    else if ((message.k as readonly string[]).length > 0) deliver(message.k as readonly string[], {});
  };
  const onClose = () => {
    if (down || !listening) return;
    down = true;
    resync('reconnect');
  };
  const onReady = () => {
    if (!down) return;
    down = false;
    epoch++;
    resync('reconnect');
  };
  const subscribe = () => {
    const client = subscriber;
    client.on('message', onMessage as never);
    client.on('close', onClose as never);
    client.on('end', onClose as never);
    client.on('ready', onReady as never);
    try {
      const confirmed = client.subscribe(channel);
      if (typeof (confirmed as Promise<unknown> | undefined)?.then === 'function') {
        // Until Redis confirms the subscription, messages are not delivered: entries cached
        // before that may have missed theirs.
        (confirmed as Promise<unknown>).then(
          () => {
            if (listening) resync('reconnect');
          },
          () => undefined,
        );
      }
    } catch {
      // the subscription is retried by ioredis on reconnect (autoResubscribe)
    }
  };
  const unsubscribe = () => {
    const client = subscriber;
    client.removeListener('message', onMessage as never);
    client.removeListener('close', onClose as never);
    client.removeListener('end', onClose as never);
    client.removeListener('ready', onReady as never);
    try {
      toSettled(client.unsubscribe(channel));
    } catch {
      // closing never throws
    }
  };
  const scheduleSync = () => {
    if (syncTimer !== undefined || owedUpTo === 0) return;
    // While the guard skips a failing Redis, wait for its probe rather than knock sooner.
    const wait = guard.health === 'degraded' ? Math.max(syncDelay, guard.retryAfterMs()) : syncDelay;
    syncDelay = Math.min(syncDelay * 2, SYNC_MAX_MS);
    syncTimer = unrefTimer(
      clock.setTimeout(() => {
        syncTimer = undefined;
        if (owedUpTo === 0) return;
        syncs++;
        void send({ s: sourceId, q: ++seq, k: [] });
      }, wait),
    );
  };
  const send = async (message: Message): Promise<boolean> => {
    const result = await caller.command((c) => (c.publish as NonNullable<BusPublisherClient['publish']>)(channel, JSON.stringify(message)));
    if (result.ok) {
      published++;
      // A later number arrived: subscribers see the hole of every failed one before it.
      if (message.q > owedUpTo) {
        owedUpTo = 0;
        syncDelay = SYNC_FIRST_MS;
        if (syncTimer !== undefined) {
          clock.clearTimeout(syncTimer);
          syncTimer = undefined;
        }
      }
    } else {
      publishFailed++;
      owedUpTo = Math.max(owedUpTo, message.q);
      scheduleSync();
    }
    return result.ok;
  };

  return {
    sourceId,
    publishInvalidation(...keys: string[]) {
      if (keys.some((k) => typeof k !== 'string')) return Promise.resolve(false);
      return send({ s: sourceId, q: ++seq, k: keys });
    },
    publishClear() {
      return send({ s: sourceId, q: ++seq, c: 1 });
    },
    subscribeInvalidations(handler: InvalidationHandler) {
      if (typeof handler !== 'function') throw badArgument(handler, 'handler');
      handlers.add(handler);
      if (!listening) {
        listening = true;
        subscribe();
      }
      let closed = false;
      return () => {
        if (closed) return;
        closed = true;
        handlers.delete(handler);
        if (handlers.size === 0 && listening) {
          listening = false;
          unsubscribe();
        }
      };
    },
    stats: () => ({ published, publishFailed, received, gaps, epoch, syncs }),
  };
}

function toSettled(value: unknown): void {
  if (typeof value === 'object' && value !== null && typeof (value as Promise<unknown>).then === 'function') {
    (value as Promise<unknown>).then(undefined, () => undefined);
  }
}

function badArgument(value: unknown, option = 'subscriber'): InvalidOptionsError {
  return new InvalidOptionsError(OWNER, option, value, option === 'subscriber' ? 'a dedicated ioredis connection (subscribe, unsubscribe, on, removeListener)' : 'a function (keys, info) => void');
}
