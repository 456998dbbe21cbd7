import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { connect } from 'node:net';
import type { Cluster, ClusterOptions } from 'ioredis';
import { waitFor } from './ports.js';
import { startRedisServer } from './redis-server.js';
import type { RedisServer } from './redis-server.js';

/** Options of {@link startRedisCluster}. */
export interface RedisClusterOptions {
  /** Master nodes (no replicas), at least 3 (Redis' minimum). Default 3. */
  readonly masters?: number;
  /** The `redis-cli` binary; default `REDIS_CLI` or `redis-cli` on the PATH. */
  readonly cli?: string;
  /** Extra `redis-server` arguments for every node. */
  readonly args?: readonly string[];
  /** How long to wait for the cluster to report `cluster_state:ok`, ms. Default 20 000. */
  readonly startTimeoutMs?: number;
}

/** A throwaway Redis Cluster of masters on 127.0.0.1, slots spread evenly. */
export interface RedisCluster {
  /** Each master; stop or kill one to test a node outage. */
  readonly nodes: readonly RedisServer[];
  /** What `new Redis.Cluster(startupNodes)` takes. */
  readonly startupNodes: readonly { host: string; port: number }[];
  /** Stops every node and removes their directories. Idempotent. */
  dispose(): Promise<void>;
}

/** Sends one inline command over a raw socket and returns the reply text. */
function command(port: number, line: string, timeoutMs = 1_000): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    let reply = '';
    const done = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(reply);
    };
    const timer = setTimeout(done, timeoutMs);
    socket.once('error', done);
    socket.once('connect', () => socket.write(`${line}\r\n`));
    socket.on('data', (chunk) => {
      reply += chunk.toString('utf8');
      // A bulk reply: "$<len>\r\n<body>\r\n".
      const header = /^\$(\d+)\r\n/.exec(reply);
      if (header !== null && reply.length >= header[0].length + Number(header[1]) + 2) done();
      else if (/^[+-:]/.test(reply) && reply.endsWith('\r\n')) done();
    });
  });
}

/**
 * Starts a Redis Cluster of `masters` fresh `redis-server`s (cluster mode, no persistence) and
 * joins them with `redis-cli --cluster create`; resolves once every node reports
 * `cluster_state:ok`. Always `dispose()` it.
 *
 * @example
 * ```ts
 * const cluster = await startRedisCluster();
 * const redis = new Redis.Cluster(cluster.startupNodes);
 * // ...
 * redis.disconnect();
 * await cluster.dispose();
 * ```
 */
export async function startRedisCluster(options: RedisClusterOptions = {}): Promise<RedisCluster> {
  const masters = options.masters ?? 3;
  if (!Number.isInteger(masters) || masters < 3) throw new RangeError(`startRedisCluster: masters must be an integer >= 3, got ${masters}`);
  const nodes: RedisServer[] = [];
  const dispose = async () => {
    await Promise.all(nodes.map((node) => node.dispose()));
  };
  try {
    for (let i = 0; i < masters; i++) {
      nodes.push(
        await startRedisServer({
          args: ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', '2000', ...(options.args ?? [])],
        }),
      );
    }
    const cli = options.cli ?? process.env.REDIS_CLI ?? 'redis-cli';
    await new Promise<void>((resolve, reject) => {
      execFile(
        cli,
        ['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', '0', '--cluster-yes'],
        { timeout: options.startTimeoutMs ?? 20_000 },
        (error, stdout, stderr) => (error ? reject(new Error(`redis-cli --cluster create failed: ${stderr || stdout || error.message}`)) : resolve()),
      );
    });
    await waitFor(
      async () => {
        const states = await Promise.all(nodes.map((n) => command(n.port, 'CLUSTER INFO')));
        return states.every((s) => s.includes('cluster_state:ok'));
      },
      { timeoutMs: options.startTimeoutMs ?? 20_000, intervalMs: 50, message: 'cluster_state:ok on every node' },
    );
  } catch (error) {
    await dispose();
    throw error;
  }
  return { nodes, startupNodes: nodes.map((n) => ({ host: n.host, port: n.port })), dispose };
}

/** Options of {@link connectRedisCluster}: the cluster's, plus the client's. */
export interface ConnectedRedisClusterOptions extends RedisClusterOptions {
  /**
   * Options of the `redis` client. Default `{ enableOfflineQueue: false, redisOptions: {
   * maxRetriesPerRequest: 1 } }`: a call fails instead of waiting for a reconnect.
   */
  readonly clientOptions?: ClusterOptions;
  /** How long to wait for each client's `ready`, ms. Default 20 000. */
  readonly readyTimeoutMs?: number;
}

/** A throwaway Redis Cluster with a ready ioredis client (see {@link connectRedisCluster}). */
export interface ConnectedRedisCluster {
  readonly cluster: RedisCluster;
  /** A ready client with `clientOptions`. */
  readonly redis: Cluster;
  /**
   * Another client of the same cluster (default: the `clientOptions` of `redis`), resolved once
   * ready; `dispose()` disconnects it.
   */
  client(options?: ClusterOptions): Promise<Cluster>;
  /** Disconnects every client, then stops the nodes. Idempotent. */
  dispose(): Promise<void>;
}

const DEFAULT_CLIENT_OPTIONS: ClusterOptions = { enableOfflineQueue: false, redisOptions: { maxRetriesPerRequest: 1 } };
const load = createRequire(import.meta.url);

/** Resolves once `client` is ready; rejects after `timeoutMs`. */
function ready(client: Cluster, timeoutMs: number): Promise<void> {
  if (client.status === 'ready') return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      client.removeListener('ready', onReady);
      reject(new Error(`connectRedisCluster: the client was not ready within ${timeoutMs} ms (status ${client.status})`));
    }, timeoutMs);
    const onReady = () => {
      clearTimeout(timer);
      resolve();
    };
    client.once('ready', onReady);
  });
}

/**
 * {@link startRedisCluster}, then an ioredis `Cluster` client connected to it and ready. Both go
 * in one `dispose()` (clients first, so no client sees its nodes stop); on a failed start,
 * everything started is disposed before the error is thrown. Use it in `beforeAll` (allow about
 * a minute on a busy machine) with `redisServerInstalled(suite, { cluster: true })` to skip.
 *
 * @example
 * ```ts
 * let env: ConnectedRedisCluster;
 * beforeAll(async () => { env = await connectRedisCluster(); }, 60_000);
 * afterAll(() => env?.dispose());
 * it('...', async () => { await env.redis.set('k', 'v'); });
 * ```
 */
export async function connectRedisCluster(options: ConnectedRedisClusterOptions = {}): Promise<ConnectedRedisCluster> {
  const { default: Redis } = load('ioredis') as typeof import('ioredis');
  const { clientOptions = DEFAULT_CLIENT_OPTIONS, readyTimeoutMs = 20_000, ...clusterOptions } = options;
  const cluster = await startRedisCluster(clusterOptions);
  const clients: Cluster[] = [];
  let disposed: Promise<void> | undefined;
  const dispose = () =>
    (disposed ??= (async () => {
      for (const c of clients) c.disconnect();
      await cluster.dispose();
    })());
  const client = async (o: ClusterOptions = clientOptions): Promise<Cluster> => {
    const c = new Redis.Cluster([...cluster.startupNodes], o);
    clients.push(c);
    await ready(c, readyTimeoutMs);
    return c;
  };
  try {
    const redis = await client();
    return { cluster, redis, client, dispose };
  } catch (error) {
    await dispose();
    throw error;
  }
}
