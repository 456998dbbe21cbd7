export { pingRedis, redisAvailable, redisRequired, redisUrl, testKeyPrefix } from './redis.js';
export { freePort, waitFor } from './ports.js';
export { startRedisServer } from './redis-server.js';
export type { RedisServer, RedisServerOptions } from './redis-server.js';
export { startTcpProxy } from './tcp-proxy.js';
export type { TcpProxy, TcpProxyOptions } from './tcp-proxy.js';
export { startRedisCluster } from './redis-cluster.js';
export type { RedisCluster, RedisClusterOptions } from './redis-cluster.js';
export { abortListeners, gc, heapUsed } from './memory.js';
