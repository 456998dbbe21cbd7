import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { isXError } from '@x/core';
import type { Downstream } from './downstream.js';
import type { Observability } from './observability.js';
import type { FreshAnswer, Policies } from './policies.js';

/** Where the running API answers. */
export interface DemoUrls {
  readonly api: string;
  readonly metrics: string;
  readonly healthz: string;
}

export interface ApiServer {
  readonly urls: DemoUrls;
  /** Stops listening and closes every connection, idle or not. */
  close(): Promise<void>;
}

export interface ApiServerOptions {
  readonly policies: Policies;
  readonly downstream: Downstream;
  readonly observability: Observability;
  /** 0 picks a free port. */
  readonly port: number;
}

/** Header telling the load generator how a 200 was produced: `ok` or `fallback`. */
export const OUTCOME_HEADER = 'x-demo-outcome';
/** Header naming why a fallback was served (`breaker_open`, `timeout`, ...). */
export const REASON_HEADER = 'x-demo-reason';

/**
 * The demo's HTTP API on 127.0.0.1:
 *
 * - `GET /api/quote`: the downstream's quote through the policy stack; 200 fresh or stale
 *   (fallback), 429 when rate limited;
 * - `GET /metrics`: Prometheus text;
 * - `GET /healthz`: the health monitor's report, 200 when healthy and 503 when not.
 */
export async function startServer(options: ApiServerOptions): Promise<ApiServer> {
  const { policies, downstream, observability } = options;
  const { registry, health, budget } = observability;

  const fresh = (quote: FreshAnswer['quote']): FreshAnswer => ({ stale: false, quote });

  async function quote(res: ServerResponse): Promise<void> {
    // A client that hangs up aborts its call: the layers stop waiting and the fallback does not
    // compute a value nobody will read.
    const controller = new AbortController();
    res.once('close', () => {
      if (!res.writableFinished) controller.abort(new Error('client closed the connection'));
    });
    try {
      const answer = await policies.pipeline.execute(({ signal }) => downstream.call(signal).then(fresh), {
        signal: controller.signal,
      });
      budget.record(!answer.stale);
      const headers: Record<string, string> = { [OUTCOME_HEADER]: answer.stale ? 'fallback' : 'ok' };
      if (answer.stale) headers[REASON_HEADER] = answer.reason;
      json(res, 200, answer, headers);
    } catch (error) {
      if (controller.signal.aborted) return;
      if (isXError(error, 'RATE_LIMITED')) {
        // Not counted against the SLO: refusing excess load is the limiter doing its job.
        const seconds = Math.max(1, Math.ceil(error.retryAfterMs / 1000));
        json(res, 429, { error: 'rate limited', retryAfterMs: Math.ceil(error.retryAfterMs) }, { 'retry-after': String(seconds) });
        return;
      }
      // The fallback handles everything else, so this is a bug worth seeing in the summary.
      budget.record(false);
      json(res, 500, { error: error instanceof Error ? error.message : String(error) });
    }
  }

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?', 1)[0];
    if (req.method !== 'GET') return json(res, 405, { error: 'GET only' });
    switch (path) {
      case '/api/quote':
        return quote(res);
      case '/metrics':
        res.writeHead(200, { 'content-type': registry.contentType });
        res.end(await registry.metrics());
        return;
      case '/healthz': {
        // Reuses the monitor's latest run, so scraping /healthz often never pings the downstream
        // more often than the monitor's interval.
        const report = await health.runOnce({ maxAgeMs: observability.healthMaxAgeMs });
        return json(res, report.healthy ? 200 : 503, report);
      }
      default:
        return json(res, 404, { error: 'not found', try: ['/api/quote', '/metrics', '/healthz'] });
    }
  }

  const server = createServer((req, res) => {
    route(req, res).catch((error: unknown) => {
      if (!res.headersSent) json(res, 500, { error: error instanceof Error ? error.message : String(error) });
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const base = `http://127.0.0.1:${port}`;
  return {
    urls: { api: `${base}/api/quote`, metrics: `${base}/metrics`, healthz: `${base}/healthz` },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections(); // keep-alive sockets would hold close() open otherwise
      }),
  };
}

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}
