import type { Redis } from 'ioredis';

interface Counter {
  /** The window's total across every API process, as Redis last told it (our own sent counts included). */
  shared: number;
  /** Requests this process counted since it last told Redis. */
  pending: number;
  windowEndsAt: number;
}

type IncrCallback = (error: Error | null, result?: { current: number; ttl: number }) => void;

/**
 * A store for @fastify/rate-limit that keeps the count shared by every API process in Redis
 * without a round trip per request: each process counts locally and adds its counts to Redis in
 * one pipeline every `flushMs`, reading the totals back. A key's count is therefore exact within
 * a process and at most `flushMs` behind for the others' requests. Redis being down costs nothing
 * but the sharing: counting goes on locally.
 */
export function batchedRedisStore(redis: Redis, prefix: string, flushMs = 50) {
  const counters = new Map<string, Counter>();
  let timer: NodeJS.Timeout | null = null;
  let flushing = false;

  async function flush(): Promise<void> {
    timer = null;
    if (flushing) return schedule();
    const now = Date.now();
    const batch: [string, Counter, number][] = [];
    for (const [key, counter] of counters) {
      if (counter.pending > 0) batch.push([key, counter, counter.pending]);
      else if (counter.windowEndsAt <= now) counters.delete(key);
    }
    if (batch.length === 0) return;
    flushing = true;
    try {
      const pipeline = redis.pipeline();
      for (const [key, counter, sent] of batch) {
        pipeline.incrby(prefix + key, sent).pexpire(prefix + key, Math.max(1, counter.windowEndsAt - now), 'NX').pttl(prefix + key);
      }
      const results = (await pipeline.exec()) ?? [];
      batch.forEach(([, counter, sent], i) => {
        const [incrError, incremented] = results[i * 3] ?? [new Error('no reply')];
        const total = Number(incremented);
        const ttl = Number(results[i * 3 + 2]?.[1]);
        // A command that failed (a timeout under load) may or may not have counted: the requests stay
        // pending and go again, so a slow Redis can only over-count, never let requests through uncounted.
        if (incrError || !Number.isFinite(total)) return;
        counter.pending -= sent;
        counter.shared = total;
        if (Number.isFinite(ttl) && ttl > 0) counter.windowEndsAt = Date.now() + ttl;
      });
    } catch {
      // Counting goes on locally; the counts are sent with the next flush.
    } finally {
      flushing = false;
    }
    if (batch.some(([, counter]) => counter.pending > 0)) schedule();
  }

  function schedule(): void {
    if (timer) return;
    timer = setTimeout(() => void flush(), flushMs);
    timer.unref();
  }

  class BatchedRedisStore {
    incr(key: string, callback: IncrCallback, timeWindow: number, _max: number): void {
      const now = Date.now();
      let counter = counters.get(key);
      if (!counter || counter.windowEndsAt <= now) {
        counter = { shared: 0, pending: 0, windowEndsAt: now + timeWindow };
        counters.set(key, counter);
      }
      counter.pending += 1;
      schedule();
      callback(null, { current: counter.shared + counter.pending, ttl: counter.windowEndsAt - now });
    }

    child(): BatchedRedisStore {
      return this;
    }
  }
  return BatchedRedisStore;
}
