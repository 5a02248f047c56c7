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
    await this.redis
      .multi()
      .set(keyOf(this.prefix, heartbeat.id), JSON.stringify(entry), 'PX', this.intervalMs * 3)
      .set(lastSeenKey(this.prefix, heartbeat.deviceClass), entry.lastSeenAt)
      .exec();
  }

  /** Whether a worker of the class is alive now, and when one last beat. */
  async presence(deviceClass: WorkerHeartbeat['deviceClass']): Promise<{ alive: boolean; lastSeenAt: string | null }> {
    const [workers, lastSeenAt] = await Promise.all([this.list(), this.redis.get(lastSeenKey(this.prefix, deviceClass))]);
    return { alive: workers.some((worker) => worker.deviceClass === deviceClass), lastSeenAt };
  }

  async remove(id: string): Promise<void> {
    await this.redis.del(keyOf(this.prefix, id));
  }

  async list(): Promise<WorkerHeartbeat[]> {
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, found] = await this.redis.scan(cursor, 'MATCH', keyOf(this.prefix, '*'), 'COUNT', 200);
      cursor = next;
      keys.push(...found);
    } while (cursor !== '0');
    if (keys.length === 0) return [];
    const values = await this.redis.mget(keys);
    return values
      .flatMap((value) => {
        if (!value) return [];
        const parsed = workerHeartbeatSchema.safeParse(JSON.parse(value));
        return parsed.success ? [parsed.data] : [];
      })
      .sort((a, b) => a.id.localeCompare(b.id));
  }
}
