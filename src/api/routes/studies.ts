import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { JobEventSubscriber } from '../../events/job-event-subscriber.js';
import { dependencyDown, outageOf } from '../../infra/dependency-errors.js';
import type { Services } from '../../infra/services.js';
import { studySpecSchema } from '../../spec/study-spec.js';
import type { StudyView } from '../../studies/study-service.js';
import type { StudyEventRecord } from '../../studies/study-types.js';
import { projectOf } from '../plugins/auth.js';
import { studyEndedStatuses } from '../study-action-rules.js';
import { sendProblem } from '../plugins/error-handler.js';
import { cursorSchema, listEventsQuerySchema, problemSchema, submittedJobSchema } from '../schemas/job-schemas.js';
import { studyEventSchema, studyIdParamsSchema, studyPageSchema, studySchema, studyStreamMessageSchema, trainBestBodySchema } from '../schemas/study-schemas.js';
import { ClientConnection } from '../streams/client-connection.js';
import { streamCloseCodes } from '../streams/stream-messages.js';
import { withLinks as jobWithLinks } from './jobs.js';

const listStudiesQuerySchema = z.strictObject({
  limit: z.coerce.number().int().min(1).max(100).default(20).describe('Studies per page'),
  after: z.uuid().optional().describe('Id of the last study of the previous page'),
});

const endedStatuses = new Set<string>(studyEndedStatuses);

export function withLinks(study: StudyView) {
  const self = `/v1/studies/${study.id}`;
  const { trials, projectId: _project, bestTrialId: _best, ...rest } = study;
  return {
    ...rest,
    trials: trials.map(({ job, id: _id, studyId: _study, segmentStart: _start, createdAt: _c, updatedAt: _u, ...trial }) => ({
      ...trial,
      jobStatus: job.status,
      runtimeSeconds: Math.round(job.runtimeMs / 100) / 10,
      links: { job: `/v1/jobs/${trial.jobId}` },
    })),
    links: { self, events: `${self}/events`, stream: `${self}/stream` },
  };
}

export function studyRoutes(services: Services, subscriber: JobEventSubscriber) {
  const limits = { heartbeatMs: services.config.STREAM_HEARTBEAT_MS, maxBufferedBytes: services.config.STREAM_MAX_BUFFERED_BYTES };
  return async (app: FastifyInstance): Promise<void> => {
    const api = app.withTypeProvider<ZodTypeProvider>();

    api.post(
      '/v1/studies',
      {
        schema: {
          operationId: 'createStudy',
          tags: ['studies'],
          summary: 'Start a hyperparameter study',
          description:
            'Checks the space against the job spec (every corner of it must be a valid job spec: a 400 names the parameter), records the study, and its scheduler starts the trials, each an ordinary job (docs/studies.md).',
          body: studySpecSchema,
          response: { 201: studySchema, 400: problemSchema, 422: problemSchema, 503: problemSchema },
          openapi: { headers: { 201: ['location'] } },
        },
      },
      async (request, reply) => {
        const study = withLinks(await services.studies.create(projectOf(request).id, request.body));
        return reply.code(201).header('location', study.links.self).send(study);
      },
    );

    api.get(
      '/v1/studies',
      { schema: { operationId: 'listStudies', tags: ['studies'], summary: 'List studies, newest first', querystring: listStudiesQuerySchema, response: { 200: studyPageSchema, 400: problemSchema } } },
      async (request) => {
        const { limit, after } = request.query;
        const page = await services.studies.list(projectOf(request).id, limit, after);
        const last = page.studies.at(-1);
        return { data: page.studies.map(withLinks), hasMore: page.hasMore, next: page.hasMore && last ? `/v1/studies?limit=${limit}&after=${last.id}` : null };
      },
    );

    api.get(
      '/v1/studies/:id',
      {
        schema: {
          operationId: 'getStudy',
          tags: ['studies'],
          summary: 'One study: status, best trial, trials table, compute used',
          params: studyIdParamsSchema,
          response: { 200: studySchema, 404: problemSchema },
        },
      },
      async (request) => withLinks(await services.studies.get(projectOf(request).id, request.params.id)),
    );

    api.get(
      '/v1/studies/:id/events',
      {
        schema: {
          operationId: 'listStudyEvents',
          tags: ['studies'],
          summary: "The study's decisions and results, in order",
          params: studyIdParamsSchema,
          querystring: listEventsQuerySchema,
          response: { 200: z.object({ data: z.array(studyEventSchema) }), 400: problemSchema, 404: problemSchema },
        },
      },
      async (request) => ({ data: await services.studies.events(projectOf(request).id, request.params.id, request.query.after, request.query.limit) }),
    );

    for (const action of ['pause', 'resume', 'cancel'] as const) {
      api.post(
        `/v1/studies/:id/${action}`,
        {
          schema: {
            operationId: `${action}Study`,
            tags: ['studies'],
            summary: {
              pause: 'Pause: no trial starts or is promoted; training trials pause at a checkpoint',
              resume: 'Resume a paused study: its paused trials go on from their checkpoints',
              cancel: 'Cancel: every trial that has not ended is cancelled, and the study ends',
            }[action],
            params: studyIdParamsSchema,
            response: { 200: studySchema, 404: problemSchema, 409: problemSchema, 503: problemSchema },
          },
        },
        async (request) => withLinks(await services.studies.act(projectOf(request).id, request.params.id, action)),
      );
    }

    api.post(
      '/v1/studies/:id/train-best',
      {
        schema: {
          operationId: 'trainBestOfStudy',
          tags: ['studies'],
          summary: "Train the best trial's spec to the end, as a new job",
          description: "The new job has the best trial's spec (PBT: its values now) and trains from scratch to `epochs`, the study's maxEpochs by default.",
          params: studyIdParamsSchema,
          body: trainBestBodySchema,
          response: { 201: submittedJobSchema, 400: problemSchema, 404: problemSchema, 409: problemSchema, 422: problemSchema, 503: problemSchema },
          openapi: { headers: { 201: ['location'] } },
        },
      },
      async (request, reply) => {
        const submitted = await services.studies.trainBest(projectOf(request).id, request.params.id, request.body.epochs);
        const job = { ...jobWithLinks(submitted), advice: submitted.advice };
        return reply.code(201).header('location', job.links.self).send(job);
      },
    );

    api.route({
      method: 'GET',
      url: '/v1/studies/:id/stream',
      schema: {
        operationId: 'streamStudyEvents',
        tags: ['studies'],
        summary: "Websocket: the study's events, replayed after `after`, then live",
        description:
          'Each text message is a JSON StudyStreamMessage: `{"kind":"studyEvent", studyId, seq, type, data, createdAt}` or a heartbeat. In seq order, none twice; the server closes with 1000 after the status event that ends the study, 1013 when PostgreSQL or Redis went away (reconnect with ?after=<last seq>).',
        params: studyIdParamsSchema,
        querystring: z.strictObject({ after: cursorSchema.default(0).describe('Replay events with a larger seq first, then go live') }),
        response: { 101: studyStreamMessageSchema.describe('Switching to the websocket'), 404: problemSchema, 426: problemSchema },
      },
      preValidation: async (request) => {
        if (request.headers.upgrade?.toLowerCase() === 'websocket' && !subscriber.connected) throw dependencyDown('redis', 'live events cannot be followed');
        await services.studies.get(projectOf(request).id, (request.params as { id: string }).id);
      },
      handler: async (request, reply) => sendProblem(reply, request, { title: 'Upgrade Required', status: 426, detail: 'this endpoint is a websocket: connect with an Upgrade: websocket request' }),
      wsHandler: (socket, request) => {
        const connection = new ClientConnection(socket, limits);
        followStudy(connection, request.params.id, request.query.after, services, subscriber).catch((error: unknown) => {
          request.log.warn({ err: error, studyId: request.params.id }, 'study stream failed');
          connection.close(outageOf(error) ? streamCloseCodes.tryAgainLater : streamCloseCodes.internalError, 'study stream error');
        });
      },
    });
  };
}

/**
 * Studies make a few events a minute: every announcement just says "read the log again", and the
 * log is read from PostgreSQL in order, so nothing is sent twice or skipped, whatever was missed live.
 */
async function followStudy(connection: ClientConnection, studyId: string, after: number, services: Services, subscriber: JobEventSubscriber): Promise<void> {
  let lastSent = after;
  let chain: Promise<void> = Promise.resolve();
  const send = (event: StudyEventRecord) => {
    if (!connection.isOpen || event.seq <= lastSent) return;
    if (!connection.sendText(Buffer.from(JSON.stringify({ kind: 'studyEvent', studyId, ...event })))) return;
    lastSent = event.seq;
    if (event.type === 'status' && endedStatuses.has(String(event.data.status))) connection.close(streamCloseCodes.jobFinished, 'study ended');
  };
  const catchUp = () => {
    chain = chain
      .then(async () => {
        for (;;) {
          const page = await services.studyStore.events(studyId, lastSent, 500);
          page.forEach(send);
          if (page.length < 500 || !connection.isOpen) break;
        }
        // A client that resumes after the last event of an ended study has nothing more coming.
        const study = connection.isOpen ? await services.studyStore.get(studyId) : null;
        if (study && endedStatuses.has(study.status) && lastSent >= study.lastSeq) connection.close(streamCloseCodes.jobFinished, 'study ended');
      })
      .catch((error: unknown) => {
        services.logger.warn({ err: error, studyId }, 'study stream failed');
        connection.close(outageOf(error) ? streamCloseCodes.tryAgainLater : streamCloseCodes.internalError, 'study stream error');
      });
  };
  const unsubscribe = await subscriber.subscribeStudy(studyId, catchUp);
  const forgetReconnects = subscriber.onReconnect(catchUp);
  connection.onClose(() => {
    forgetReconnects();
    void unsubscribe();
  });
  catchUp();
}
