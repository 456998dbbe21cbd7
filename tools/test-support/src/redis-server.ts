import { execFileSync, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, waitFor } from './ports.js';
import { pingRedis, redisRequired } from './redis.js';

/**
 * Decides whether tests that start their own Redis (`startRedisServer`, and with `cluster: true`
 * `startRedisCluster`, which also needs `redis-cli`) run: true when the binaries answer
 * `--version`. When they do not: throws if Redis is required (`CI=true` or `REQUIRE_REDIS=1`, as
 * {@link redisAvailable}), otherwise prints a loud warning naming `suite` and returns false, for
 * `describe.skipIf(!installed)`. Synchronous, so it can decide at collection time.
 *
 * @example
 * ```ts
 * const installed = redisServerInstalled('ratelimit', { cluster: true });
 * describe.skipIf(!installed)('redisStore on a Redis Cluster', () => { ... });
 * ```
 */
export function redisServerInstalled(suite: string, options: { cluster?: boolean; env?: NodeJS.ProcessEnv } = {}): boolean {
  const env = options.env ?? process.env;
  const binaries = [env.REDIS_SERVER ?? 'redis-server', ...(options.cluster === true ? [env.REDIS_CLI ?? 'redis-cli'] : [])];
  const missing = binaries.filter((binary) => {
    try {
      execFileSync(binary, ['--version'], { stdio: 'ignore' });
      return false;
    } catch {
      return true;
    }
  });
  if (missing.length === 0) return true;
  const message = `${missing.join(' and ')} not installed`;
  const what = options.cluster === true ? 'Redis Cluster and fault' : 'Redis fault';
  if (redisRequired(env)) throw new Error(`${message}; the ${what} tests of ${suite} need it (CI=true or REQUIRE_REDIS=1)`);
  console.warn(`\n!!! ${message}: SKIPPING the ${what} tests of ${suite}. Install redis-server or set REDIS_SERVER / REDIS_CLI.\n`);
  return false;
}

/** Options of {@link startRedisServer}. */
export interface RedisServerOptions {
  /** Port to listen on; default a free one. */
  readonly port?: number;
  /** The `redis-server` binary; default `REDIS_SERVER` or `redis-server` on the PATH. */
  readonly binary?: string;
  /** Extra `redis-server` arguments, e.g. `['--maxmemory', '10mb']`. */
  readonly args?: readonly string[];
  /** How long to wait for the server to answer PING, ms. Default 10 000. */
  readonly startTimeoutMs?: number;
}

/**
 * A `redis-server` that belongs to one test: no persistence, its own temporary directory, on
 * 127.0.0.1. Stop it, kill it or restart it on the same port to test outages and recovery.
 */
export interface RedisServer {
  readonly host: string;
  /** The port; kept across `stop()` / `start()`. */
  readonly port: number;
  /** `redis://127.0.0.1:<port>`. */
  readonly url: string;
  /** The process id while running, else undefined. */
  readonly pid: number | undefined;
  readonly running: boolean;
  /** Starts the server again on the same port (after `stop` or `kill`); waits until it answers PING. */
  start(): Promise<void>;
  /** Graceful stop (SIGTERM): clients see the connection close. Resolves once the process exited. */
  stop(): Promise<void>;
  /** Abrupt stop (SIGKILL), like a crash. Resolves once the process exited. */
  kill(): Promise<void>;
  /** Stops the server (if running) and removes its directory. Idempotent. */
  dispose(): Promise<void>;
}

class Server implements RedisServer {
  readonly host = '127.0.0.1';
  #child: ChildProcess | undefined;
  #exited: Promise<void> | undefined;
  #disposed = false;

  constructor(
    public port: number,
    readonly binary: string,
    readonly args: readonly string[],
    readonly dir: string,
    readonly startTimeoutMs: number,
  ) {}

  get url(): string {
    return `redis://${this.host}:${this.port}`;
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  get running(): boolean {
    return this.#child !== undefined;
  }

  async start(): Promise<void> {
    if (this.#disposed) throw new Error('startRedisServer: the server was disposed');
    if (this.#child !== undefined) return;
    const child = spawn(
      this.binary,
      ['--port', String(this.port), '--bind', this.host, '--save', '', '--appendonly', 'no', '--dir', this.dir, ...this.args],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8');
    });
    this.#child = child;
    this.#exited = new Promise((resolve) => {
      child.once('exit', () => {
        if (this.#child === child) this.#child = undefined;
        resolve();
      });
      child.once('error', (error) => {
        stderr += String(error);
        if (this.#child === child) this.#child = undefined;
        resolve();
      });
    });
    try {
      await waitFor(
        async () => {
          if (this.#child !== child) throw new Error(`redis-server exited while starting: ${stderr.trim()}`);
          return pingRedis(this.url, 200);
        },
        { timeoutMs: this.startTimeoutMs, message: `redis-server on port ${this.port} answering PING` },
      );
    } catch (error) {
      await this.kill();
      throw error;
    }
  }

  async #signal(signal: NodeJS.Signals): Promise<void> {
    const child = this.#child;
    if (child === undefined) return;
    const exited = this.#exited;
    child.kill(signal);
    await exited;
  }

  stop(): Promise<void> {
    return this.#signal('SIGTERM');
  }

  kill(): Promise<void> {
    return this.#signal('SIGKILL');
  }

  async dispose(): Promise<void> {
    if (this.#disposed) return;
    await this.kill();
    this.#disposed = true;
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * Starts a throwaway `redis-server` on a free port (or `options.port`) and waits until it answers
 * PING. Always `dispose()` it (e.g. in `afterAll`). Throws when the binary is missing or the
 * server does not come up, with its stderr in the message.
 *
 * @example
 * ```ts
 * const server = await startRedisServer();
 * const redis = new Redis(server.port, { enableOfflineQueue: false });
 * await server.stop();   // outage
 * await server.start();  // same port again
 * await server.dispose();
 * ```
 */
export async function startRedisServer(options: RedisServerOptions = {}): Promise<RedisServer> {
  const binary = options.binary ?? process.env.REDIS_SERVER ?? 'redis-server';
  const dir = mkdtempSync(join(tmpdir(), 'x-redis-'));
  const attempts = options.port === undefined ? 3 : 1;
  let lastError: unknown;
  for (let attempt = 0; attempt < attempts; attempt++) {
    const port = options.port ?? (await freePort());
    const server = new Server(port, binary, options.args ?? [], dir, options.startTimeoutMs ?? 10_000);
    try {
      await server.start();
      return server;
    } catch (error) {
      // Most likely the port was taken between freePort() and the bind: try another one.
      lastError = error;
    }
  }
  rmSync(dir, { recursive: true, force: true });
  throw lastError;
}
