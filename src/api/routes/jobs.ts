import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Services } from '../../infra/services.js';
import { projectOf } from '../plugins/auth.js';
import { hashRequest, IDEMPOTENCY_KEY_TTL_MS, IdempotencyStore } from '../../idempotency/idempotency-store.js';
import { idempotencyHeaders } from '../schemas/idempotency.js';
import type { JobView } from '../../jobs/job-service.js';
import type { JobStatus } from '../../jobs/job-types.js';
import { jobSpecSchema } from '../../spec/job-spec.js';
import {
  jobEventSchema,
  jobIdParamsSchema,
  jobPageSchema,
  jobSchema,
  listEventsQuerySchema,
  listJobsQuerySchema,
  listMetricsQuerySchema,
  metricSchema,
  problemSchema,
  submittedJobSchema,
} from '../schemas/job-schemas.js';

const actionSummaries = {
  cancel: 'Cancel: a waiting or paused job ends at once; a running one stops within a batch (202, cancelling → cancelled)',
  pause: 'Pause: a running job writes a checkpoint and frees its worker (202, pausing → paused); a waiting one leaves the queue',
  resume: 'Resume a paused job: it is queued again and continues from its checkpoint',
  retry: 'Retry a failed job: it is queued again with a fresh restart budget (maxRestarts) and continues from its last checkpoint',
} as const;

export function withLinks(job: JobView) {
  const self = `/v1/jobs/${job.id}`;
  return {
    ...job,
    links: { self, metrics: `${self}/metrics`, events: `${self}/events`, stream: `${self}/stream`, checkpoints: `${self}/checkpoints`, model: `${self}/model/model.json` },
  };
}

export function jobRoutes(services: Services) {
  return async (app: FastifyInstance): Promise<void> => {
    const api = app.withTypeProvider<ZodTypeProvider>();
    const idempotency = new IdempotencyStore(services.prisma);
    // Pruned hourly by each API process.
    const pruning = setInterval(() => {
      idempotency.prune(IDEMPOTENCY_KEY_TTL_MS).catch((error: unknown) => app.log.warn({ err: error }, 'could not prune idempotency keys'));
    }, 3_600_000);
    pruning.unref();
    app.addHook('onClose', async () => clearInterval(pruning));

    api.post(
      '/v1/jobs',
      {
        schema: {
          operationId: 'submitJob',
          tags: ['jobs'],
          summary: 'Submit a training job',
          description:
            'Validates the spec, records the job and queues it. The response echoes the spec with every default filled in, and `advice`: the practical tips the spec goes against (warnings, never errors; docs/advice.md).',
          headers: idempotencyHeaders,
          body: jobSpecSchema,
          response: { 201: submittedJobSchema, 400: problemSchema, 404: problemSchema, 409: problemSchema, 413: problemSchema, 422: problemSchema, 503: problemSchema },
          openapi: { headers: { 201: ['location', 'idempotent-replayed'] } },
        },
      },
      async (request, reply) => {
        const submit = async () => {
          const project = projectOf(request).id;
          const job = withLinks(await services.jobs.submit(project, request.body));
          return { status: 201, body: job };
        };
        const key = request.headers['idempotency-key'];
        const result = key === undefined ? { ...(await submit()), replayed: false } : await idempotency.run(projectOf(request).id, 'POST /v1/jobs', key, hashRequest(request.body), submit);
        const job = result.body as z.infer<typeof submittedJobSchema>;
        return reply.code(201).header('location', `/v1/jobs/${job.id}`).header('idempotent-replayed', String(result.replayed)).send(job);
      },
    );

    api.get(
      '/v1/jobs',
      {
        schema: {
          operationId: 'listJobs',
          tags: ['jobs'],
          summary: 'List jobs, newest first',
          querystring: listJobsQuerySchema,
          response: { 200: jobPageSchema, 400: problemSchema },
        },
      },
      async (request) => {
        const { limit, after, status } = request.query;
        const statuses = status ? (status.split(',') as JobStatus[]) : undefined;
        const project = projectOf(request).id;
        const page = await services.jobs.list(project, { limit, after, status: statuses });
        const last = page.jobs.at(-1);
        let next: string | null = null;
        if (page.hasMore && last) {
          const params = new URLSearchParams({ limit: String(limit), after: last.id });
          if (status) params.set('status', status);
          next = `/v1/jobs?${params.toString()}`;
        }
        return { data: page.jobs.map(withLinks), hasMore: page.hasMore, next };
      },
    );

    api.get(
      '/v1/jobs/:id',
      { schema: { operationId: 'getJob', tags: ['jobs'], summary: 'One job', params: jobIdParamsSchema, response: { 200: jobSchema, 404: problemSchema } } },
      async (request) => {
        const project = projectOf(request).id;
        return withLinks(await services.jobs.getView(project, request.params.id));
      },
    );

    for (const action of ['cancel', 'pause', 'resume', 'retry'] as const) {
      api.post(
        `/v1/jobs/:id/${action}`,
        {
          schema: {
            operationId: `${action}Job`,
            tags: ['jobs'],
            summary: actionSummaries[action],
            params: jobIdParamsSchema,
            response: { 200: jobSchema, 202: jobSchema, 404: problemSchema, 409: problemSchema },
          },
        },
        async (request, reply) => {
          const project = projectOf(request).id;
          const job = await services.jobs.view(project, await services.jobs.act(project, request.params.id, action));
          // 202: the request is relayed to the job's worker and completes within a batch.
          const pending = job.status === 'cancelling' || job.status === 'pausing';
          return reply.code(pending ? 202 : 200).send(withLinks(job));
        },
      );
    }

    api.get(
      '/v1/jobs/:id/events',
      {
        schema: {
          operationId: 'listJobEvents',
          tags: ['jobs'],
          summary: "The job's event log in sequence order",
          params: jobIdParamsSchema,
          querystring: listEventsQuerySchema,
          response: { 200: z.object({ data: z.array(jobEventSchema) }), 404: problemSchema },
        },
      },
      async (request) => {
        return { data: await services.jobs.events(projectOf(request).id, request.params.id, request.query.after, request.query.limit) };
      },
    );

    api.get(
      '/v1/jobs/:id/metrics',
      {
        schema: {
          operationId: 'listJobMetrics',
          tags: ['jobs'],
          summary: 'Recorded metrics (per epoch and every N batches) in step order',
          params: jobIdParamsSchema,
          querystring: listMetricsQuerySchema,
          response: { 200: z.object({ data: z.array(metricSchema) }), 404: problemSchema },
        },
      },
      async (request) => {
        const { scope, after, limit } = request.query;
        return { data: await services.jobs.metrics(projectOf(request).id, request.params.id, { scope, afterStep: after, limit }) };
      },
    );
  };
}
