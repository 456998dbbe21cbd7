import { connect, createServer } from 'node:net';
import type { AddressInfo, Server, Socket } from 'node:net';

/** Options of {@link startTcpProxy}. */
export interface TcpProxyOptions {
  /** Where connections are forwarded. */
  readonly targetPort: number;
  readonly targetHost?: string;
  /** Port to listen on; default a free one. */
  readonly port?: number;
  /** Delay added to every chunk in each direction, ms. Default 0. */
  readonly latencyMs?: number;
}

/**
 * A TCP proxy in front of a server (Redis or anything else) that injects faults a real network
 * produces: latency, a stall that delivers nothing without closing anything (a half-open or
 * partitioned link: the "hangs forever" case), connection resets, and refused connections.
 */
export interface TcpProxy {
  readonly host: string;
  readonly port: number;
  /** `redis://127.0.0.1:<port>`, for Redis clients. */
  readonly url: string;
  /** Open client connections. */
  readonly connections: number;
  /** Adds `ms` of delay per chunk, each direction, from now on (order is kept). */
  setLatency(ms: number): void;
  /**
   * Stalls every connection: bytes are held, nothing is closed, so clients wait with no error.
   * `resume()` delivers what was held, in order (like TCP retransmissions after a partition heals).
   * New connections are accepted but stall too.
   */
  pause(): void;
  resume(): void;
  /** Resets every open connection (clients see ECONNRESET). The proxy keeps accepting new ones. */
  dropConnections(): void;
  /** While true, new connections are reset at once (the server looks down); open ones go on. */
  refuseConnections(refuse: boolean): void;
  /** Closes the listener and every connection. Idempotent. */
  close(): Promise<void>;
}

/** One direction of a connection: chunks wait in order until their due time and while paused. */
class Pipe {
  readonly #queue: { at: number; chunk: Buffer }[] = [];
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    readonly proxy: Proxy,
    readonly to: Socket,
  ) {}

  push(chunk: Buffer): void {
    const latency = this.proxy.latencyMs;
    if (latency === 0 && !this.proxy.paused && this.#queue.length === 0) {
      this.to.write(chunk);
      return;
    }
    this.#queue.push({ at: Date.now() + latency, chunk });
    this.flush();
  }

  flush(): void {
    if (this.#timer !== undefined || this.proxy.paused) return;
    const now = Date.now();
    while (this.#queue.length > 0) {
      const head = this.#queue[0] as { at: number; chunk: Buffer };
      if (head.at > now) {
        this.#timer = setTimeout(() => {
          this.#timer = undefined;
          this.flush();
        }, head.at - now);
        return;
      }
      this.#queue.shift();
      if (!this.to.destroyed) this.to.write(head.chunk);
    }
  }

  stop(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#queue.length = 0;
  }
}

class Proxy implements TcpProxy {
  readonly host = '127.0.0.1';
  port = 0;
  latencyMs: number;
  paused = false;
  #refusing = false;
  readonly #pairs = new Set<{ client: Socket; upstream: Socket; pipes: Pipe[] }>();
  readonly #server: Server;

  constructor(readonly options: TcpProxyOptions) {
    this.latencyMs = options.latencyMs ?? 0;
    this.#server = createServer((client) => this.#accept(client));
  }

  listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(this.options.port ?? 0, this.host, () => {
        this.port = (this.#server.address() as AddressInfo).port;
        resolve();
      });
    });
  }

  get url(): string {
    return `redis://${this.host}:${this.port}`;
  }

  get connections(): number {
    return this.#pairs.size;
  }

  #accept(client: Socket): void {
    if (this.#refusing) {
      client.resetAndDestroy();
      return;
    }
    const upstream = connect({ host: this.options.targetHost ?? '127.0.0.1', port: this.options.targetPort });
    const toUpstream = new Pipe(this, upstream);
    const toClient = new Pipe(this, client);
    const pair = { client, upstream, pipes: [toUpstream, toClient] };
    this.#pairs.add(pair);
    client.on('data', (chunk: Buffer) => toUpstream.push(chunk));
    upstream.on('data', (chunk: Buffer) => toClient.push(chunk));
    const end = () => {
      if (!this.#pairs.delete(pair)) return;
      toUpstream.stop();
      toClient.stop();
      client.destroy();
      upstream.destroy();
    };
    client.on('close', end);
    upstream.on('close', end);
    client.on('error', end);
    upstream.on('error', end);
  }

  setLatency(ms: number): void {
    if (!(ms >= 0) || !Number.isFinite(ms)) throw new RangeError(`setLatency: ms must be a finite number >= 0, got ${ms}`);
    this.latencyMs = ms;
  }

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    this.paused = false;
    for (const pair of this.#pairs) for (const pipe of pair.pipes) pipe.flush();
  }

  dropConnections(): void {
    for (const pair of [...this.#pairs]) {
      this.#pairs.delete(pair);
      for (const pipe of pair.pipes) pipe.stop();
      pair.client.resetAndDestroy();
      pair.upstream.destroy();
    }
  }

  refuseConnections(refuse: boolean): void {
    this.#refusing = refuse;
  }

  close(): Promise<void> {
    this.dropConnections();
    if (!this.#server.listening) return Promise.resolve();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}

/**
 * Starts a {@link TcpProxy} on 127.0.0.1 in front of `targetHost:targetPort`. Close it in
 * `afterAll`.
 *
 * @example
 * ```ts
 * const proxy = await startTcpProxy({ targetPort: 6379 });
 * const redis = new Redis(proxy.port);
 * proxy.setLatency(200); // slow Redis
 * proxy.pause();         // Redis stops answering, no error anywhere
 * proxy.dropConnections(); // ECONNRESET
 * await proxy.close();
 * ```
 */
export async function startTcpProxy(options: TcpProxyOptions): Promise<TcpProxy> {
  const proxy = new Proxy(options);
  await proxy.listen();
  return proxy;
}
