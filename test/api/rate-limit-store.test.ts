import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { batchedRedisStore } from '../../src/api/plugins/batched-rate-limit-store.js';
import { startRedis, type ScratchRedis } from '../support/scratch-services.js';
import { waitFor } from '../support/wait.js';

/**
 * The rate limit's shared count when Redis is slow: a flush whose commands time out may or may not
 * have counted, so its requests must stay counted locally rather than vanish (a slow Redis would
 * otherwise let a client through uncounted). On a Redis of its own, paused on purpose.
 */

let redis: ScratchRedis;
let client: Redis;
beforeAll(async () => {
  redis = await startRedis();
  // As the API connects: commands fail after a short timeout instead of waiting.
  client = new Redis(redis.url, { maxRetriesPerRequest: 0, enableOfflineQueue: false, commandTimeout: 100, lazyConnect: true });
  await client.connect();
});
afterAll(async () => {
  client?.disconnect();
  await redis?.dispose();
});

const count = (Store: ReturnType<typeof batchedRedisStore>, key: string) =>
  new Promise<number>((resolve, reject) => new Store().incr(key, (error, result) => (error ? reject(error) : resolve(result!.current)), 60_000, 100));

describe('the batched rate limit store', () => {
  it('never loses a request when a flush times out: the counts go again and Redis ends with all of them', async () => {
    const Store = batchedRedisStore(client, 'test:', 20);
    const seen: number[] = [await count(Store, 'k')];
    await waitFor('the first flush', async () => (await redis.command('GET', 'test:k')) === '1');
    // Redis stops answering for longer than the command timeout while the next counts are flushed.
    await redis.command('CLIENT', 'PAUSE', '600', 'ALL');
    for (let i = 0; i < 4; i++) {
      seen.push(await count(Store, 'k'));
      await new Promise((resolve) => setTimeout(resolve, 40));
    }
    expect(seen).toEqual([1, 2, 3, 4, 5]);
    // Once Redis answers again, every count reaches it; a timed-out INCRBY that did land may add its share again (over-counting, never under).
    await waitFor('the counts to reach Redis', async () => Number(await redis.command('GET', 'test:k')) >= 5);
    seen.push(await count(Store, 'k'));
    expect(seen.at(-1)).toBeGreaterThanOrEqual(6);
  });
});
