import { z } from 'zod';
import { jobEventTypes } from '../../jobs/job-types.js';

/**
 * What the websocket streams send, one JSON object per text message. `kind` tells events from
 * heartbeats; an event carries its job's sequence number, which a reconnecting client passes
 * back as `?after=`.
 */
export const streamEventMessageSchema = z
  .object({
    kind: z.literal('event'),
    jobId: z.uuid(),
    seq: z.int().min(1),
    type: z.enum(jobEventTypes),
    data: z.record(z.string(), z.unknown()),
    createdAt: z.iso.datetime().describe('When the event was recorded'),
    emittedAt: z.iso.datetime().describe("When training produced it; equal to createdAt for the service's own events"),
  })
  .meta({ id: 'StreamEventMessage' });

export const streamHeartbeatMessageSchema = z
  .object({ kind: z.literal('heartbeat'), time: z.iso.datetime() })
  .meta({ id: 'StreamHeartbeatMessage', description: 'Sent every STREAM_HEARTBEAT_MS; a client that misses two can assume the connection is dead' });

export const streamMessageSchema = z.discriminatedUnion('kind', [streamEventMessageSchema, streamHeartbeatMessageSchema]).meta({ id: 'StreamMessage' });
export type StreamMessage = z.infer<typeof streamMessageSchema>;

/** Close codes a client can act on. */
export const streamCloseCodes = {
  /** The job finished: its last status event was sent. */
  jobFinished: 1000,
  serverShutdown: 1001,
  internalError: 1011,
  /** PostgreSQL or Redis went away: reconnect after a while with ?after=<last seq>. */
  tryAgainLater: 1013,
  /** The client read too slowly: reconnect with ?after=<last seq> to catch up from the log. */
  tooSlow: 4008,
} as const;
