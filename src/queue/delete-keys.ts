import type { Redis } from 'ioredis';

/**
 * Deletes every key matching a SCAN glob, a page at a time: what a test run or a bench leaves
 * under its own queue prefix. SCAN, not KEYS, so a shared Redis is never blocked on a large set.
 */
export async function deleteKeysMatching(redis: Redis, glob: string): Promise<number> {
  let deleted = 0;
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', glob, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) deleted += await redis.unlink(...keys);
  } while (cursor !== '0');
  return deleted;
}
