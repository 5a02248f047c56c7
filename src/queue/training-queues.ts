import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { DeviceRequest } from '../spec/job-spec.js';
import { Batcher } from '../infra/batcher.js';

/**
 * A queue per device request, so a worker takes only jobs it can run: a GPU worker consumes
 * `training-gpu` and `training`, a CPU worker `training-cpu` and `training`.
 */
export const queueNames = { any: 'training', cpu: 'training-cpu', gpu: 'training-gpu' } as const satisfies Record<DeviceRequest, string>;
export type TrainingQueueName = (typeof queueNames)[DeviceRequest];

/** Every queue and the payload its jobs carry, so producers and consumers cannot drift apart. */
export type QueuePayloads = Record<TrainingQueueName, { jobId: string }>;
export type TrainingPayload = QueuePayloads[TrainingQueueName];
export type TrainingQueue = Queue<TrainingPayload>;

/** The device classes a worker can be; `any` is a request, not a class. */
export type DeviceClass = Exclude<DeviceRequest, 'any'>;

/** The queues a worker of this class takes jobs from. */
export function queuesServedBy(deviceClass: DeviceClass): DeviceRequest[] {
  return [deviceClass, 'any'];
}

type QueueState = Awaited<ReturnType<TrainingQueue['getJobState']>>;

/** The three training queues; a job lives in the one of its `resources.device`. */
export class TrainingQueues {
  readonly byDevice: Record<DeviceRequest, TrainingQueue>;

  constructor(connection: Redis, prefix: string) {
    const create = (name: TrainingQueueName) => {
      const queue = new Queue<TrainingPayload>(name, {
        connection,
        prefix,
        defaultJobOptions: {
          // The database, not Redis, is the record of a job; keep Redis small.
          removeOnComplete: true,
          removeOnFail: 1000,
          attempts: 1,
        },
      });
      // The connection's errors are logged where it is made (src/infra/services.ts); without a
      // listener BullMQ prints each one to stderr, every reconnect attempt of an outage.
      queue.on('error', () => undefined);
      return queue;
    };
    this.byDevice = { any: create(queueNames.any), cpu: create(queueNames.cpu), gpu: create(queueNames.gpu) };
  }

  get any(): TrainingQueue {
    return this.byDevice.any;
  }

  all(): TrainingQueue[] {
    return Object.values(this.byDevice);
  }

  /**
   * The BullMQ job id is the Trainyard job id: enqueueing the same job twice is a no-op. Lower
   * priority runs first. Concurrent submissions to a queue go as one addBulk (one MULTI).
   */
  async enqueue(jobId: string, device: DeviceRequest, priority: number): Promise<void> {
    await this.additions[device].call({ jobId, priority });
  }

  private readonly additions = Object.fromEntries(
    (['any', 'cpu', 'gpu'] as const).map((device) => [
      device,
      new Batcher(async (items: { jobId: string; priority: number }[]) => {
        await this.byDevice[device].addBulk(items.map(({ jobId, priority }) => ({ name: 'train', data: { jobId }, opts: { jobId, priority } })));
        return items.map(() => undefined);
      }),
    ]),
  ) as Record<DeviceRequest, Batcher<{ jobId: string; priority: number }, undefined>>;

  /**
   * Queues a job again (resume, retry): an entry BullMQ keeps for a failed job would make the new
   * one a no-op, so a finished entry goes first.
   */
  async requeue(jobId: string, device: DeviceRequest, priority: number): Promise<void> {
    const state = await this.state(jobId);
    if (state === 'completed' || state === 'failed') await this.remove(jobId);
    await this.enqueue(jobId, device, priority);
  }

  /** The job's state in whichever queue holds it; `unknown` when none does. */
  async state(jobId: string): Promise<QueueState> {
    for (const queue of this.all()) {
      const state = await queue.getJobState(jobId);
      if (state !== 'unknown') return state;
    }
    return 'unknown';
  }

  async remove(jobId: string): Promise<void> {
    await Promise.all(this.all().map((queue) => queue.remove(jobId)));
  }

  async close(): Promise<void> {
    await Promise.all(this.all().map((queue) => queue.close()));
  }
}
