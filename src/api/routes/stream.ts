import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { WebSocket } from 'ws';
import { z } from 'zod';
import type { JobEventSubscriber } from '../../events/job-event-subscriber.js';
import { dependencyDown, outageOf } from '../../infra/dependency-errors.js';
import type { Services } from '../../infra/services.js';
import { projectOf } from '../plugins/auth.js';
import { terminalStatuses } from '../../jobs/job-state-machine.js';
import type { JobEventRecord, JobStatus } from '../../jobs/job-types.js';
import { sendProblem } from '../plugins/error-handler.js';
import { cursorSchema, jobIdParamsSchema, problemSchema } from '../schemas/job-schemas.js';
import { JobProjectCache } from '../streams/job-project-cache.js';
import { ClientConnection, encodeEvent } from '../streams/client-connection.js';
import { JobFanout } from '../streams/job-fanout.js';
import { streamCloseCodes, streamMessageSchema } from '../streams/stream-messages.js';

const streamQuerySchema = z.strictObject({
  after: cursorSchema.default(0).describe('Replay events with a larger seq first, then go live'),
});

const REPLAY_PAGE = 500;

const protocol =
  'Each text message is a JSON StreamMessage: `{"kind":"event", jobId, seq, type, data, createdAt, emittedAt}` or ' +
  '`{"kind":"heartbeat", time}` every STREAM_HEARTBEAT_MS. Close codes: 1000 the job finished, 1001 server shutdown, ' +
  '1011 server error, 1013 PostgreSQL or Redis went away (reconnect after a few seconds with ?after=<last seq>), ' +
  '4008 the client read too slowly (reconnect with ?after=<last seq>). While Redis is down the upgrade is refused with 503. ' +
  'A plain GET without the upgrade gets 426.';

/** Why a stream ends early: an outage is the client's to retry (1013), anything else is ours (1011). */
function closeOnError(connection: ClientConnection, error: unknown): void {
  const dependency = outageOf(error);
  if (dependency) connection.close(streamCloseCodes.tryAgainLater, `${dependency} unavailable; reconnect with ?after=`);
  else connection.close(streamCloseCodes.internalError, 'stream error');
}

export function isTerminalEvent(event: JobEventRecord): boolean {
  return event.type === 'status' && terminalStatuses.has(event.data.status as JobStatus);
}

export function streamRoutes(services: Services, subscriber: JobEventSubscriber) {
  const limits = { heartbeatMs: services.config.STREAM_HEARTBEAT_MS, maxBufferedBytes: services.config.STREAM_MAX_BUFFERED_BYTES };
  const upgradeRequired = { title: 'Upgrade Required', status: 426, detail: 'this endpoint is a websocket: connect with an Upgrade: websocket request' };

  const jobProjects = new JobProjectCache(services.store);
  const fanout = new JobFanout(subscriber);
  // A plain 503 before the upgrade beats a socket that opens only to close.
  const requireLiveEvents = (request: FastifyRequest) => {
    if (request.headers.upgrade?.toLowerCase() === 'websocket' && !subscriber.connected) throw dependencyDown('redis', 'live events cannot be followed');
  };

  return async (app: FastifyInstance): Promise<void> => {
    const api = app.withTypeProvider<ZodTypeProvider>();
    api.route({
      method: 'GET',
      url: '/v1/jobs/:id/stream',
      schema: {
        operationId: 'streamJobEvents',
        tags: ['jobs'],
        summary: "Websocket: the job's events, replayed after `after`, then live",
        description: `In seq order, none twice; after the final status event the server closes with 1000. ${protocol}`,
        params: jobIdParamsSchema,
        querystring: streamQuerySchema,
        response: { 101: streamMessageSchema.describe('Switching to the websocket; then one StreamMessage per text message'), 404: problemSchema, 426: problemSchema },
      },
      // Runs before the upgrade, so an unknown job is a plain HTTP 404, not an opened-then-closed socket.
      preValidation: async (request) => {
        requireLiveEvents(request);
        await services.jobs.assertExists(projectOf(request).id, (request.params as { id: string }).id);
      },
      handler: async (request, reply) => sendProblem(reply, request, upgradeRequired),
      wsHandler: (socket, request) => {
        const connection = new ClientConnection(socket, limits);
        void followJob(connection, request.params.id, request.query.after, services, subscriber, fanout).catch((error: unknown) => {
          request.log.warn({ err: error, jobId: request.params.id }, 'job stream failed');
          closeOnError(connection, error);
        });
      },
    });

    api.route({
      method: 'GET',
      url: '/v1/stream',
      schema: {
        operationId: 'streamProjectEvents',
        tags: ['jobs'],
        summary: "Websocket: status changes and epoch metrics of every job of the caller's project, live",
        description: `No replay: on (re)connect, read GET /v1/jobs for the current state. ${protocol}`,
        response: { 101: streamMessageSchema.describe('Switching to the websocket; then one StreamMessage per text message'), 426: problemSchema },
      },
      preValidation: async (request) => requireLiveEvents(request),
      handler: async (request, reply) => sendProblem(reply, request, upgradeRequired),
      wsHandler: (socket: WebSocket, request) => {
        const connection = new ClientConnection(socket, limits);
        const project = projectOf(request).id;
        // One chain per client keeps the feed in order while each job's project is looked up.
        let chain: Promise<void> = Promise.resolve();
        subscriber
          .subscribeSummaries((event) => {
            const lookup = jobProjects.projectOf(event.jobId);
            chain = chain
              .then(async () => {
                if ((await lookup) === project) connection.sendText(encodeEvent(event.jobId, event));
              })
              .catch((error: unknown) => {
                request.log.warn({ err: error, jobId: event.jobId }, 'all-jobs stream failed');
                closeOnError(connection, error);
              });
          })
          .then((unsubscribe) => connection.onClose(() => void unsubscribe()))
          .catch((error: unknown) => {
            request.log.warn({ err: error }, 'all-jobs stream failed');
            closeOnError(connection, error);
          });
      },
    });
  };
}

/**
 * Replays the log after `after`, then forwards live events, in seq order with no gaps or
 * duplicates. It subscribes before it reads the log, and fills any gap in the live feed from
 * PostgreSQL, so an event is never lost between replay and live.
 */
async function followJob(connection: ClientConnection, jobId: string, after: number, services: Services, subscriber: JobEventSubscriber, fanout: JobFanout): Promise<void> {
  let lastSent = after;
  let chain: Promise<void> = Promise.resolve();
  /** Work queued in `chain` and not yet done: while there is none, the next live event can go out at once. */
  let queued = 0;

  const send = (event: JobEventRecord): void => {
    if (!connection.isOpen || event.seq <= lastSent) return;
    if (!connection.sendText(encodeEvent(jobId, event))) return;
    lastSent = event.seq;
    if (isTerminalEvent(event)) connection.close(streamCloseCodes.jobFinished, 'job finished');
  };
  const catchUp = async (upTo: number): Promise<void> => {
    while (connection.isOpen && lastSent < upTo) {
      const page = await services.store.listEvents(jobId, lastSent, REPLAY_PAGE);
      page.forEach(send);
      if (page.length < REPLAY_PAGE) return;
    }
  };
  const enqueue = (work: () => Promise<void> | void): void => {
    queued += 1;
    chain = chain
      .then(work)
      .catch((error: unknown) => {
        services.logger.warn({ err: error, jobId }, 'job stream failed');
        closeOnError(connection, error);
      })
      .finally(() => {
        queued -= 1;
      });
  };
  const catchUpAll = async () => {
    await catchUp(Number.MAX_SAFE_INTEGER);
    // The job had already finished before this client asked for events after its last one.
    const job = await services.store.get(jobId);
    if (job && terminalStatuses.has(job.status) && lastSent >= job.lastSeq) connection.close(streamCloseCodes.jobFinished, 'job finished');
  };

  // Messages that arrive during the replay wait in the chain behind it.
  const unsubscribe = await fanout.follow(jobId, {
    receive(batch) {
      const { events } = batch;
      let from = 0;
      let to = 0;
      // The common case, the next events with nothing queued ahead of them, is one write of the
      // batch's shared bytes: a promise per event per client is most of the cost of a thousand clients.
      if (queued === 0) {
        while (from < events.length && events[from]!.seq <= lastSent) from++;
        to = from;
        while (to < events.length && events[to]!.seq === lastSent + 1 + (to - from)) to++;
        let terminal = false;
        for (let i = from; i < to && !terminal; i++) {
          terminal = isTerminalEvent(events[i]!);
          if (terminal) to = i + 1;
        }
        if (to > from) {
          if (!connection.sendBatch(batch, from, to)) return;
          lastSent = events[to - 1]!.seq;
          if (terminal) return connection.close(streamCloseCodes.jobFinished, 'job finished');
        }
      }
      for (const event of events.slice(to)) {
        enqueue(async () => {
          if (event.seq > lastSent + 1) await catchUp(event.seq - 1);
          send(event);
        });
      }
    },
  });
  // What was published while Redis was down never arrives live (its last event included): read it back.
  const forgetReconnects = subscriber.onReconnect(() => enqueue(catchUpAll));
  connection.onClose(() => {
    forgetReconnects();
    void unsubscribe();
  });

  enqueue(catchUpAll);
}
