import type { Redis } from 'ioredis';
import { z } from 'zod';
import type { Logger } from '../logging/logger.js';
import { jobControlChannel } from './channels.js';

/**
 * The cross-process relay for cancel and pause: the API publishes, the worker that runs the job
 * acts. A lost message is not fatal: workers also see the status on their next lease renewal.
 */
export const jobControlMessageSchema = z.object({ jobId: z.string(), action: z.enum(['cancel', 'pause']) });
export type JobControlMessage = z.infer<typeof jobControlMessageSchema>;

export async function publishJobControl(redis: Redis, prefix: string, message: JobControlMessage): Promise<void> {
  await redis.publish(jobControlChannel(prefix), JSON.stringify(message));
}

/** Subscribes `subscriber` (a connection of its own) and calls `onMessage` for each valid message. */
export async function listenForJobControl(
  subscriber: Redis,
  prefix: string,
  logger: Logger,
  onMessage: (message: JobControlMessage) => void,
): Promise<void> {
  const channel = jobControlChannel(prefix);
  subscriber.on('message', (from: string, raw: string) => {
    if (from !== channel) return;
    try {
      onMessage(jobControlMessageSchema.parse(JSON.parse(raw)));
    } catch (error) {
      logger.warn({ err: error }, 'ignoring malformed job control message');
    }
  });
  await subscriber.subscribe(channel);
}
