import { connect, createServer } from 'node:net';
import type { AddressInfo, Server, Socket } from 'node:net';
import Redis from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectRedisCluster, freePort, pingRedis, redisServerInstalled, startRedisCluster, startRedisServer, startTcpProxy, waitFor } from './index.js';
import type { RedisServer } from './index.js';

const redisServerReady = redisServerInstalled('test-support', { cluster: true });

/** An echo server: what the proxy tests forward to. */
async function echoServer(): Promise<{ server: Server; port: number }> {
  const server = createServer((socket) => socket.pipe(socket));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port };
}

/** A client that collects what it receives. */
async function client(port: number): Promise<{ socket: Socket; received: () => string; closed: Promise<string> }> {
  const socket = connect({ host: '127.0.0.1', port });
  let data = '';
  socket.on('data', (chunk) => {
    data += chunk.toString('utf8');
  });
  const closed = new Promise<string>((resolve) => {
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
    socket.once('close', () => resolve('closed'));
  });
  await Promise.race([new Promise<void>((resolve) => socket.once('connect', () => resolve())), closed]);
  return { socket, received: () => data, closed };
}

describe('freePort and waitFor', () => {
  it('returns a port that can be bound', async () => {
    const port = await freePort();
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    expect((server.address() as AddressInfo).port).toBe(port);
    server.close();
  });

  it('waits until the condition holds and fails with the message after the timeout', async () => {
    let calls = 0;
    await waitFor(() => ++calls >= 3, { intervalMs: 1 });
    expect(calls).toBe(3);
    await expect(waitFor(() => false, { timeoutMs: 30, intervalMs: 5, message: 'never' })).rejects.toThrow(
      'waitFor: never not met within 30 ms',
    );
  });
});

describe.skipIf(!redisServerReady)('startRedisServer', () => {
  let server: RedisServer;
  beforeAll(async () => {
    server = await startRedisServer();
  });
  afterAll(async () => {
    await server?.dispose();
  });

  it('starts a server that answers PING on its own port', async () => {
    expect(server.running).toBe(true);
    expect(server.url).toBe(`redis://127.0.0.1:${server.port}`);
    await expect(pingRedis(server.url)).resolves.toBe(true);
  });

  it('stops, kills and starts again on the same port, data gone (no persistence)', async () => {
    const redis = new Redis(server.port, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => 20 });
    // Reconnecting to the stopped server fails on purpose: without a listener ioredis prints
    // "[ioredis] Unhandled error event" into the test run.
    redis.on('error', () => {});
    await redis.connect();
    await redis.set('k', 'v');
    await server.stop();
    expect(server.running).toBe(false);
    await expect(pingRedis(server.url, 200)).resolves.toBe(false);
    await server.start();
    await waitFor(() => redis.status === 'ready');
    await expect(redis.get('k')).resolves.toBeNull();
    const pid = server.pid;
    await server.kill();
    await expect(pingRedis(server.url, 200)).resolves.toBe(false);
    await server.start();
    expect(server.pid).not.toBe(pid);
    await expect(pingRedis(server.url)).resolves.toBe(true);
    redis.disconnect();
  });

  it('passes extra arguments to redis-server', async () => {
    const other = await startRedisServer({ args: ['--maxmemory', '7mb'] });
    try {
      const redis = new Redis(other.port);
      redis.on('error', () => {}); // the server is disposed right after: its goodbye is not news
      await expect(redis.config('GET', 'maxmemory')).resolves.toEqual(['maxmemory', String(7 * 1024 * 1024)]);
      redis.disconnect();
    } finally {
      await other.dispose();
    }
  });

  it('reports a server that cannot start, with its stderr', async () => {
    await expect(startRedisServer({ args: ['--no-such-option', 'x'], startTimeoutMs: 2_000 })).rejects.toThrow(
      /redis-server exited while starting/,
    );
  });

  it('is disposed once; a disposed server cannot start', async () => {
    const other = await startRedisServer();
    await other.dispose();
    await other.dispose();
    expect(other.running).toBe(false);
    await expect(other.start()).rejects.toThrow('disposed');
  });
});

describe.skipIf(!redisServerReady)('startRedisCluster', () => {
  it('starts masters that share the slots and serve keys of every slot', async () => {
    const cluster = await startRedisCluster();
    try {
      expect(cluster.nodes).toHaveLength(3);
      const redis = new Redis.Cluster([...cluster.startupNodes]);
      redis.on('error', () => {}); // nodes stop at teardown: their errors are expected
      for (let i = 0; i < 50; i++) await redis.set(`key-${i}`, String(i));
      await expect(redis.get('key-42')).resolves.toBe('42');
      // Keys of one hash tag share a slot, so a multi-key command works.
      await expect(redis.mget('{t}a', '{t}b')).resolves.toEqual([null, null]);
      await expect(redis.mget('a', 'b')).rejects.toThrow(/CROSSSLOT|same slot/i);
      const owners = new Set<number>();
      for (const node of redis.nodes('master')) if ((await node.dbsize()) > 0) owners.add((node.options.port as number) ?? 0);
      expect(owners.size).toBe(3);
      redis.disconnect();
    } finally {
      await cluster.dispose();
    }
    expect(cluster.nodes.every((n) => !n.running)).toBe(true);
  }, 30_000);

  it('refuses fewer than three masters', async () => {
    await expect(startRedisCluster({ masters: 2 })).rejects.toThrow(RangeError);
  });

  it('connectRedisCluster: a ready client, more clients on demand, one dispose for all', async () => {
    const env = await connectRedisCluster();
    try {
      expect(env.redis.status).toBe('ready');
      expect(env.redis.options).toMatchObject({ enableOfflineQueue: false, redisOptions: { maxRetriesPerRequest: 1 } });
      await env.redis.set('{t}k', 'v');
      const other = await env.client({ enableOfflineQueue: true });
      expect(other.status).toBe('ready');
      await expect(other.get('{t}k')).resolves.toBe('v');
    } finally {
      await env.dispose();
      await env.dispose();
    }
    expect(['close', 'end']).toContain(env.redis.status);
    expect(env.cluster.nodes.every((n) => !n.running)).toBe(true);
  }, 60_000);
});

describe('startTcpProxy', () => {
  let echo: { server: Server; port: number };
  beforeAll(async () => {
    echo = await echoServer();
  });
  afterAll(() => {
    echo.server.close();
  });

  it('forwards both ways', async () => {
    const proxy = await startTcpProxy({ targetPort: echo.port });
    const c = await client(proxy.port);
    c.socket.write('hello');
    await waitFor(() => c.received() === 'hello');
    expect(proxy.connections).toBe(1);
    c.socket.destroy();
    await waitFor(() => proxy.connections === 0);
    await proxy.close();
  });

  it('adds latency per direction and keeps the order of chunks', async () => {
    const proxy = await startTcpProxy({ targetPort: echo.port, latencyMs: 60 });
    const c = await client(proxy.port);
    const started = Date.now();
    c.socket.write('a');
    await new Promise((resolve) => setTimeout(resolve, 20));
    proxy.setLatency(0);
    c.socket.write('b');
    await waitFor(() => c.received().length === 2, { intervalMs: 2 });
    // 'a' waited 60 ms on the way in; 'b' had no latency but is never delivered before 'a'.
    expect(c.received()).toBe('ab');
    expect(Date.now() - started).toBeGreaterThanOrEqual(55);
    expect(() => proxy.setLatency(-1)).toThrow(RangeError);
    await proxy.close();
  });

  it('stalls without closing anything while paused and delivers the held bytes on resume', async () => {
    const proxy = await startTcpProxy({ targetPort: echo.port });
    const c = await client(proxy.port);
    proxy.pause();
    c.socket.write('held');
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(c.received()).toBe('');
    expect(c.socket.destroyed).toBe(false);
    proxy.resume();
    await waitFor(() => c.received() === 'held');
    await proxy.close();
  });

  it('resets open connections on dropConnections and keeps accepting new ones', async () => {
    const proxy = await startTcpProxy({ targetPort: echo.port });
    const c = await client(proxy.port);
    proxy.dropConnections();
    await expect(c.closed).resolves.toBe('ECONNRESET');
    const again = await client(proxy.port);
    again.socket.write('x');
    await waitFor(() => again.received() === 'x');
    await proxy.close();
    await expect(again.closed).resolves.toBe('ECONNRESET');
  });

  it('refuses new connections while asked to, then accepts again', async () => {
    const proxy = await startTcpProxy({ targetPort: echo.port });
    proxy.refuseConnections(true);
    const refused = await client(proxy.port);
    await expect(refused.closed).resolves.toMatch(/ECONNRESET|closed/);
    proxy.refuseConnections(false);
    const c = await client(proxy.port);
    c.socket.write('ok');
    await waitFor(() => c.received() === 'ok');
    await proxy.close();
    await proxy.close();
  });

  it('closes the client side when the target closes the connection', async () => {
    const sockets: Socket[] = [];
    const target = createServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => target.listen(0, '127.0.0.1', resolve));
    const proxy = await startTcpProxy({ targetPort: (target.address() as AddressInfo).port });
    const c = await client(proxy.port);
    await waitFor(() => sockets.length === 1);
    (sockets[0] as Socket).destroy();
    await expect(c.closed).resolves.toBe('closed');
    await waitFor(() => proxy.connections === 0);
    await proxy.close();
    target.close();
  });
});
