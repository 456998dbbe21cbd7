// createInvalidationBus on structural fakes of ioredis (virtual clock): loss detection without Redis.
import { createEventBus } from '@x/core';
import { createVirtualClock } from '@x/core/testing';
import type { VirtualClock } from '@x/core/testing';
import { unhandledRejections } from '@x/test-support';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { InvalidationInfo } from './index.js';
import { createInvalidationBus } from './redis.js';

const watch = unhandledRejections();
beforeEach(watch.start);
afterEach(() => {
  watch.stop();
  expect(watch.reasons).toEqual([]);
});

/** One pub/sub channel: publisher clients that can be cut off, subscriber clients that receive. */
function fakeRedis() {
  const subscribers = new Set<FakeSubscriber>();
  class FakeSubscriber {
    readonly listeners = new Map<string, Set<(...args: unknown[]) => void>>();
    channels = new Set<string>();
    on(event: string, fn: (...args: unknown[]) => void) {
      let set = this.listeners.get(event);
      if (set === undefined) this.listeners.set(event, (set = new Set()));
      set.add(fn);
      return this;
    }
    removeListener(event: string, fn: (...args: unknown[]) => void) {
      this.listeners.get(event)?.delete(fn);
      return this;
    }
    subscribe(channel: string) {
      this.channels.add(channel);
      subscribers.add(this);
      return Promise.resolve(1);
    }
    unsubscribe(channel: string) {
      this.channels.delete(channel);
      return Promise.resolve(0);
    }
    emit(event: string, ...args: unknown[]) {
      for (const fn of this.listeners.get(event) ?? []) fn(...args);
    }
  }
  const publisher = () => {
    const client = {
      status: 'ready',
      up: true,
      publish(channel: string, message: string): Promise<number> {
        if (!client.up) return Promise.reject(new Error('Connection is closed.'));
        let n = 0;
        for (const s of subscribers) {
          if (!s.channels.has(channel)) continue;
          n++;
          s.emit('message', channel, message);
        }
        return Promise.resolve(n);
      },
    };
    return client;
  };
  return { subscriber: () => new FakeSubscriber(), publisher };
}

async function settle(clock: VirtualClock): Promise<void> {
  for (let i = 0; i < 5; i++) await clock.advance(0);
}

describe('createInvalidationBus (fakes)', () => {
  it('reveals a failed publish to subscribers as soon as the publisher is back, without another invalidation', async () => {
    const clock = createVirtualClock();
    const events = createEventBus();
    const redis = fakeRedis();
    const pub = redis.publisher();
    const a = createInvalidationBus(redis.subscriber(), pub, { channel: 'c', clock, events, failureThreshold: 100 });
    const b = createInvalidationBus(redis.subscriber(), redis.publisher(), { channel: 'c', clock, events });
    const seen: [readonly string[], InvalidationInfo][] = [];
    b.subscribeInvalidations((keys, info) => void seen.push([keys, info]));
    await settle(clock);
    seen.length = 0; // the subscription's confirmation
    expect(await a.publishInvalidation('k1')).toBe(true);
    expect(seen).toEqual([[['k1'], {}]]);
    pub.up = false;
    expect(await a.publishInvalidation('k2')).toBe(false); // lost: b still trusts its copy of k2
    await clock.advance(2_000); // the publisher keeps trying (backing off) while it is cut off
    const tries = a.stats().syncs;
    expect(tries).toBeGreaterThanOrEqual(3);
    expect(tries).toBeLessThanOrEqual(6); // 100, 200, 400, 800 ms: not a tight loop
    await clock.advance(10_000);
    expect(a.stats().syncs - tries).toBeLessThanOrEqual(3);
    expect(seen).toEqual([[['k1'], {}]]);
    pub.up = true;
    await clock.advance(20_000);
    await settle(clock);
    expect(seen.at(-1)).toEqual([[], { resync: 'gap' }]);
    expect(b.stats().gaps).toBe(1);
    // Nothing owed any more: no more keyless messages.
    const sent = a.stats().published;
    await clock.advance(60_000);
    expect(a.stats().published).toBe(sent);
  });

  it('a later successful invalidation reveals the hole itself: no keyless message is sent', async () => {
    const clock = createVirtualClock();
    const events = createEventBus();
    const redis = fakeRedis();
    const pub = redis.publisher();
    const a = createInvalidationBus(redis.subscriber(), pub, { channel: 'c', clock, events });
    const b = createInvalidationBus(redis.subscriber(), redis.publisher(), { channel: 'c', clock, events });
    const infos: InvalidationInfo[] = [];
    b.subscribeInvalidations((_keys, info) => void infos.push(info));
    await settle(clock);
    await a.publishInvalidation('k1');
    pub.up = false;
    await a.publishInvalidation('k2');
    pub.up = true;
    await a.publishInvalidation('k3');
    await clock.advance(60_000);
    expect(a.stats().syncs).toBe(0);
    expect(infos.filter((i) => i.resync === 'gap')).toHaveLength(1);
  });

  it('resyncs once the subscription is confirmed, and on every reconnect of the subscriber', async () => {
    const clock = createVirtualClock();
    const events = createEventBus();
    const redis = fakeRedis();
    const sub = redis.subscriber();
    const bus = createInvalidationBus(sub, redis.publisher(), { channel: 'c', clock, events });
    const infos: InvalidationInfo[] = [];
    bus.subscribeInvalidations((_keys, info) => void infos.push(info));
    expect(infos).toEqual([]);
    await settle(clock);
    expect(infos).toEqual([{ resync: 'reconnect' }]);
    sub.emit('close');
    sub.emit('ready');
    expect(infos.filter((i) => i.resync === 'reconnect')).toHaveLength(3); // down, then back
    expect(bus.stats().epoch).toBe(1);
  });
});
