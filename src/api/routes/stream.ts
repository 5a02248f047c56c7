import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { WebSocket } from 'ws';
import { z } from 'zod';
import type { JobEventSubscriber } from '../../events/job-event-subscriber.js';
import type { Services } from '../../infra/services.js';
import { terminalStatuses } from '../../jobs/job-state-machine.js';
import type { JobEventRecord, JobStatus } from '../../jobs/job-types.js';
import { jobIdParamsSchema, problemSchema } from '../schemas/job-schemas.js';
import { sendProblem } from '../plugins/error-handler.js';

const streamQuerySchema = z.strictObject({
  after: z.coerce.number().int().min(0).default(0).describe('Replay events with a larger seq first, then go live'),
});

const REPLAY_PAGE = 500;
const HEARTBEAT_MS = 30_000;

/** Close codes a client can act on. */
export const streamCloseCodes = { jobFinished: 1000, serverShutdown: 1001, internalError: 1011 } as const;

export function isTerminalEvent(event: JobEventRecord): boolean {
  return event.type === 'status' && terminalStatuses.has(event.data.status as JobStatus);
}

/**
 * `GET /v1/jobs/{id}/stream`: replays the log after `after`, then forwards live events, in seq
 * order with no gaps or duplicates. It subscribes before it reads the log, and fills any gap in
 * the live feed from PostgreSQL, so an event is never lost between replay and live.
 */
export function streamRoutes(services: Services, subscriber: JobEventSubscriber) {
  return async (app: FastifyInstance): Promise<void> => {
    const api = app.withTypeProvider<ZodTypeProvider>();
    api.route({
      method: 'GET',
      url: '/v1/jobs/:id/stream',
      schema: {
        tags: ['jobs'],
        summary: "Websocket: the job's events, replayed after `after`, then live",
        description:
          'Upgrade to a websocket (`Connection: Upgrade`, `Upgrade: websocket`). Each text message is one JobEvent ' +
          'as JSON plus `jobId`, in seq order, none twice. The server closes with 1000 after the final status event ' +
          '(succeeded or failed). A client that reconnects passes the last seq it saw as `after` and misses nothing. ' +
          'A plain GET without the upgrade gets 426.',
        params: jobIdParamsSchema,
        querystring: streamQuerySchema,
        response: { 404: problemSchema, 426: problemSchema },
      },
      // Runs before the upgrade, so an unknown job is a plain HTTP 404, not an opened-then-closed socket.
      preValidation: async (request) => {
        await services.jobs.assertExists((request.params as { id: string }).id);
      },
      handler: async (request, reply) =>
        sendProblem(reply, request, { title: 'Upgrade Required', status: 426, detail: 'this endpoint is a websocket: connect with an Upgrade: websocket request' }),
      wsHandler: (socket, request) => {
        const { id } = request.params;
        const { after } = request.query;
        void follow(socket, id, after, services, subscriber).catch((error: unknown) => {
          request.log.error({ err: error, jobId: id }, 'job stream failed');
          if (socket.readyState === socket.OPEN) socket.close(streamCloseCodes.internalError, 'stream error');
        });
      },
    });
  };
}

async function follow(socket: WebSocket, jobId: string, after: number, services: Services, subscriber: JobEventSubscriber): Promise<void> {
  let lastSent = after;
  let closed = false;
  let chain: Promise<void> = Promise.resolve();

  const send = (event: JobEventRecord): void => {
    if (closed || event.seq <= lastSent) return;
    socket.send(JSON.stringify({ jobId, ...event }));
    lastSent = event.seq;
    if (isTerminalEvent(event)) {
      closed = true;
      socket.close(streamCloseCodes.jobFinished, 'job finished');
    }
  };
  const catchUp = async (upTo: number): Promise<void> => {
    while (!closed && lastSent < upTo) {
      const page = await services.store.listEvents(jobId, lastSent, REPLAY_PAGE);
      page.forEach(send);
      if (page.length < REPLAY_PAGE) return;
    }
  };
  const enqueue = (work: () => Promise<void> | void): void => {
    chain = chain.then(work).catch((error: unknown) => {
      closed = true;
      services.logger.error({ err: error, jobId }, 'job stream failed');
      socket.close(streamCloseCodes.internalError, 'stream error');
    });
  };

  const heartbeat = setInterval(() => socket.ping(), HEARTBEAT_MS);
  heartbeat.unref();
  // Messages that arrive during the replay wait in the chain behind it.
  const unsubscribe = await subscriber.subscribe(jobId, (event) =>
    enqueue(async () => {
      if (event.seq > lastSent + 1) await catchUp(event.seq - 1);
      send(event);
    }),
  );
  socket.on('close', () => {
    closed = true;
    clearInterval(heartbeat);
    void unsubscribe();
  });
  if (socket.readyState !== socket.OPEN) {
    closed = true;
    clearInterval(heartbeat);
    await unsubscribe();
    return;
  }

  enqueue(async () => {
    await catchUp(Number.MAX_SAFE_INTEGER);
    // The job had already finished before this client asked for events after its last one.
    const job = await services.store.get(jobId);
    if (!closed && job && terminalStatuses.has(job.status) && lastSent >= job.lastSeq) {
      closed = true;
      socket.close(streamCloseCodes.jobFinished, 'job finished');
    }
  });
}
