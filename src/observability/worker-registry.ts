import type { Redis } from 'ioredis';
import { z } from 'zod';

export const workerHeartbeatSchema = z
  .object({
    id: z.string(),
    hostname: z.string(),
    pid: z.int(),
    /** The backend its training processes run on, and the device. */
    backend: z.string().nullable(),
    device: z.string().nullable(),
    deviceClass: z.enum(['cpu', 'gpu']).describe('The jobs it takes: resources.device of its class, and any'),
    queues: z.array(z.string()),
    concurrency: z.int(),
    trainingThreads: z.int().nullable(),
    runningJobs: z.array(z.string()),
    startedAt: z.iso.datetime(),
    lastSeenAt: z.iso.datetime(),
  })
  .meta({ id: 'Worker', description: 'A training worker, as its last heartbeat said' });
export type WorkerHeartbeat = z.infer<typeof workerHeartbeatSchema>;

const keyOf = (prefix: string, id: string) => `${prefix}:workers:${id}`;
// The ids of workers that have beaten, scored by when their entry lapses: listing them costs the
// number of workers, where a SCAN for their keys cost the whole Redis keyspace.
const indexKey = (prefix: string) => `${prefix}:worker-index`;
// Outlives the heartbeats: when the last worker of a class was seen, for jobs waiting on that class.
const lastSeenKey = (prefix: string, deviceClass: string) => `${prefix}:worker-class-last-seen:${deviceClass}`;

/**
 * Training workers announce themselves in Redis every `intervalMs`; an entry expires after three
 * missed beats, so GET /v1/workers shows the workers alive now, across every machine.
 */
export class WorkerRegistry {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly intervalMs: number,
  ) {}

  async beat(heartbeat: Omit<WorkerHeartbeat, 'lastSeenAt'>): Promise<void> {
    const entry: WorkerHeartbeat = { ...heartbeat, lastSeenAt: new Date().toISOString() };
    const lapsesAt = Date.now() + this.intervalMs * 3;
    await this.redis
      .multi()
      .set(keyOf(this.prefix, heartbeat.id), JSON.stringify(entry), 'PX', this.intervalMs * 3)
      .zadd(indexKey(this.prefix), lapsesAt, heartbeat.id)
      .set(lastSeenKey(this.prefix, heartbeat.deviceClass), entry.lastSeenAt)
      .exec();
  }

  /** Whether a worker of the class is alive now, and when one last beat. */
  async presence(deviceClass: WorkerHeartbeat['deviceClass']): Promise<{ alive: boolean; lastSeenAt: string | null }> {
    const [workers, lastSeenAt] = await Promise.all([this.list(), this.redis.get(lastSeenKey(this.prefix, deviceClass))]);
    return { alive: workers.some((worker) => worker.deviceClass === deviceClass), lastSeenAt };
  }

  async remove(id: string): Promise<void> {
    await this.redis.multi().del(keyOf(this.prefix, id)).zrem(indexKey(this.prefix), id).exec();
  }

  async list(): Promise<WorkerHeartbeat[]> {
    const now = Date.now();
    const [, ids] = ((await this.redis.multi().zremrangebyscore(indexKey(this.prefix), '-inf', now).zrangebyscore(indexKey(this.prefix), now, '+inf').exec()) ?? []) as [
      unknown,
      [Error | null, string[]] | undefined,
    ];
    const alive = ids?.[1] ?? [];
    if (alive.length === 0) return [];
    const values = await this.redis.mget(alive.map((id) => keyOf(this.prefix, id)));
    return values
      .flatMap((value) => {
        if (!value) return [];
        const parsed = workerHeartbeatSchema.safeParse(JSON.parse(value));
        return parsed.success ? [parsed.data] : [];
      })
      .sort((a, b) => a.id.localeCompare(b.id));
  }
}
