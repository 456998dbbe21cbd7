export { pingRedis, redisAvailable, redisRequired, redisUrl, testKeyPrefix } from './redis.js';
