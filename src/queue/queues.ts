import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';

/** Every queue and the payload its jobs carry, so producers and consumers cannot drift apart. */
export const queueNames = { training: 'training' } as const;

export interface QueuePayloads {
  [queueNames.training]: { jobId: string };
}

export type TrainingQueue = Queue<QueuePayloads['training']>;

export function createTrainingQueue(connection: Redis, prefix: string): TrainingQueue {
  return new Queue<QueuePayloads['training']>(queueNames.training, {
    connection,
    prefix,
    defaultJobOptions: {
      // The database, not Redis, is the record of a job; keep Redis small.
      removeOnComplete: true,
      removeOnFail: 1000,
      attempts: 1,
    },
  });
}

/** The BullMQ job id is the Trainyard job id: enqueueing the same job twice is a no-op. Lower priority runs first. */
export async function enqueueTraining(queue: TrainingQueue, jobId: string, priority: number): Promise<void> {
  await queue.add('train', { jobId }, { jobId, priority });
}
