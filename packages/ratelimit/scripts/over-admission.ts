// Measures how far two processes sharing one Redis limit exceed it in the moments issue 11 named:
// a cold start, one stall of the link with calls in flight, and a link that flaps. Each "process"
// is a limiter on its own ioredis client, as in two processes. Prints a Markdown table.
//
//   cd packages/ratelimit && npx tsx scripts/over-admission.ts
import { createEventBus } from '@x/core';
import { redisUrl, startTcpProxy } from '@x/test-support';
import type { TcpProxy } from '@x/test-support';
import Redis from 'ioredis';
import { createRateLimiter } from '../src/index.js';
import type { RateLimiter } from '../src/index.js';
import { redisStore } from '../src/redis.js';

const LIMIT = 20;
const target = new URL(redisUrl());
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
let run = 0;

async function pair(proxy: TcpProxy, connect: boolean): Promise<{ limiters: RateLimiter[]; close(): void }> {
  const prefix = `xmeasure:${process.pid}:${run++}`;
  const clients = [0, 1].map(() => {
    const redis = new Redis(proxy.url, { enableOfflineQueue: false, maxRetriesPerRequest: 1, lazyConnect: connect, retryStrategy: () => 20 });
    redis.on('error', () => {});
    return redis;
  });
  if (connect) await Promise.all(clients.map((c) => c.connect()));
  const limiters = clients.map((redis) => {
    const store = redisStore(redis, { prefix, timeoutMs: 50, onStoreError: 'local', instances: 2, cooldownMs: 200, events: createEventBus() });
    return createRateLimiter({ name: 'measure', limit: LIMIT, periodMs: 60_000, store, events: createEventBus() });
  });
  return { limiters, close: () => clients.forEach((c) => c.disconnect()) };
}

async function decide(limiters: RateLimiter[], n: number): Promise<{ admitted: number; degraded: number }> {
  const decisions = await Promise.all(Array.from({ length: n }, (_, i) => (limiters[i % 2] as RateLimiter).limit('k')));
  return { admitted: decisions.filter((d) => d.allowed).length, degraded: decisions.filter((d) => d.degraded !== undefined).length };
}

const rows: string[] = [];
const proxy = await startTcpProxy({ targetPort: Number(target.port || 6379), targetHost: target.hostname });
try {
  {
    const { limiters, close } = await pair(proxy, false);
    const r = await decide(limiters, 60);
    rows.push(`| cold start: 60 decisions at once, clients still connecting | ${r.admitted} | ${r.degraded} | ${r.admitted - LIMIT} |`);
    close();
  }
  {
    const { limiters, close } = await pair(proxy, true);
    let admitted = (await decide(limiters, 10)).admitted;
    proxy.pause();
    const inFlight = decide(limiters, 30);
    await sleep(88);
    proxy.resume();
    const during = await inFlight;
    admitted += during.admitted;
    const after = await decide(limiters, 30);
    admitted += after.admitted;
    rows.push(`| one 88 ms stall of the link, 30 decisions in flight (timeoutMs 50), then 30 more | ${admitted} | ${during.degraded + after.degraded} | ${admitted - LIMIT} |`);
    close();
  }
  {
    const { limiters, close } = await pair(proxy, true);
    let admitted = (await decide(limiters, LIMIT)).admitted; // the whole limit, through Redis
    let degraded = 0;
    for (let flap = 0; flap < 5; flap++) {
      proxy.refuseConnections(true);
      proxy.dropConnections();
      for (let i = 0; i < 10; i++) {
        const r = await decide(limiters, 4);
        admitted += r.admitted;
        degraded += r.degraded;
        await sleep(30);
      }
      proxy.refuseConnections(false);
      for (let i = 0; i < 10; i++) {
        const r = await decide(limiters, 4);
        admitted += r.admitted;
        degraded += r.degraded;
        await sleep(30);
      }
    }
    rows.push(`| limit spent through Redis, then 5 flaps (300 ms down, 300 ms up), 400 decisions | ${admitted} | ${degraded} | ${admitted - LIMIT} |`);
    close();
  }
} finally {
  await proxy.close();
}
console.log(`limit ${LIMIT} per minute shared by two processes (instances: 2, onStoreError 'local')\n`);
console.log('| scenario | admitted | decided without Redis | over the limit |');
console.log('|---|---|---|---|');
for (const row of rows) console.log(row);
process.exit(0);
