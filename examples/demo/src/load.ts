import { Agent, request } from 'node:http';
import { sleep } from '@x/core';
import type { Timeline } from './phases.js';
import type { Random } from './random.js';
import { OUTCOME_HEADER, REASON_HEADER } from './server.js';
import { isFallbackReason } from './stats.js';
import type { ResponseKind, RunStats } from './stats.js';

export interface LoadOptions {
  readonly url: string;
  /** Concurrent virtual users. */
  readonly users: number;
  /** Target requests per second over all users. */
  readonly rate: number;
  readonly timeline: Timeline;
  /** Milliseconds since the run started. */
  readonly elapsed: () => number;
  readonly stats: RunStats;
  readonly random: Random;
}

/** A running load: resolves `done` when every user has stopped and the agent is closed. */
export interface Load {
  readonly done: Promise<void>;
  /** Stops sending new requests; the ones in flight finish and are counted. */
  stop(): void;
}

/**
 * Drives the API with `users` virtual users until the timeline ends or `stop()` is called. Each
 * user sends one request at a time, paced to `rate / users` per second with ±20 % jitter, over
 * one keep-alive agent. A user whose answer came late does not fire a burst to catch up: like a
 * real client, a slow service gets fewer requests (so throughput dips while calls hang, before
 * the breaker opens).
 */
export function startLoad(options: LoadOptions): Load {
  const { users, rate, timeline, elapsed, stats, random } = options;
  const agent = new Agent({ keepAlive: true, maxSockets: users });
  const interval = (users * 1_000) / rate;
  let stopped = false;

  const user = async (): Promise<void> => {
    let next = elapsed() + random() * interval; // spread the users' first requests
    for (;;) {
      // Sleep in short steps so stop() takes effect quickly without a listener per user.
      while (!stopped && elapsed() < next) await sleep(Math.min(next - elapsed(), 100));
      if (stopped || elapsed() >= timeline.durationMs) return;
      const phase = timeline.at(elapsed()).phase;
      const started = performance.now();
      stats.inFlight++;
      const response = await get(agent, options.url);
      stats.inFlight--;
      stats.recordResponse(phase, response, performance.now() - started);
      next += interval * (0.8 + 0.4 * random());
      if (next < elapsed()) next = elapsed();
    }
  };

  const done = Promise.all(Array.from({ length: users }, user)).then(
    () => agent.destroy(),
    (error: unknown) => {
      agent.destroy();
      throw error;
    },
  );
  return {
    done,
    stop() {
      stopped = true;
    },
  };
}

/** One GET; never rejects: a transport failure comes back as `{ kind: 'error' }`. */
function get(agent: Agent, url: string): Promise<ResponseKind> {
  return new Promise((resolve) => {
    const req = request(url, { agent }, (res) => {
      res.resume(); // the body is not needed; drain it so the socket returns to the agent
      res.once('end', () => resolve(classify(res.statusCode ?? 0, res.headers)));
      res.once('error', (error) => resolve({ kind: 'error', detail: error.message }));
    });
    // Every layer bounds its wait, so an answer takes ~1 s at worst; 10 s means something broke.
    req.setTimeout(10_000, () => req.destroy(new Error('no answer within 10 s')));
    req.once('error', (error: NodeJS.ErrnoException) => resolve({ kind: 'error', detail: error.code ?? error.message }));
    req.end();
  });
}

function classify(status: number, headers: Record<string, string | string[] | undefined>): ResponseKind {
  if (status === 429) return { kind: 'rate_limited' };
  if (status !== 200) return { kind: 'error', detail: `HTTP ${status}` };
  if (headers[OUTCOME_HEADER] !== 'fallback') return { kind: 'ok' };
  const reason = headers[REASON_HEADER];
  return isFallbackReason(reason) ? { kind: 'fallback', reason } : { kind: 'error', detail: `unknown fallback reason ${String(reason)}` };
}
