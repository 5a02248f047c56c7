import type { Redis } from 'ioredis';

/** Every process that caches keys hears here which one was revoked (by its hash). */
export const keyRevocationsChannel = (prefix: string) => `${prefix}:key-revocations`;

export async function announceKeyRevocation(redis: Redis, prefix: string, hash: string): Promise<void> {
  await redis.publish(keyRevocationsChannel(prefix), hash);
}

/** Subscribes `subscriber` (a connection of its own) and calls `onRevoked` with each revoked key's hash. */
export async function listenForKeyRevocations(subscriber: Redis, prefix: string, onRevoked: (hash: string) => void): Promise<void> {
  const channel = keyRevocationsChannel(prefix);
  subscriber.on('message', (from: string, hash: string) => {
    if (from === channel && /^[0-9a-f]{64}$/.test(hash)) onRevoked(hash);
  });
  // After a reconnect ioredis resubscribes by itself; what was revoked meanwhile lapses with the cache's TTL.
  await subscriber.subscribe(channel);
}
