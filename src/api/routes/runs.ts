import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Services } from '../../infra/services.js';
import type { JobStatus } from '../../jobs/job-types.js';
import { RunSummaries } from '../../jobs/run-summaries.js';
import { projectOf } from '../plugins/auth.js';
import { jobIdParamsSchema, jobSchema, listJobsQuerySchema, problemSchema } from '../schemas/job-schemas.js';
import { withLinks } from './jobs.js';

const metricValues = z.record(z.string(), z.number());

export const runSummarySchema = z
  .object({
    lastEpoch: z.int().nullable().describe('The last finished epoch; null before the first'),
    final: metricValues.describe('Every metric of the last finished epoch'),
    best: metricValues.describe('Each metric\'s best epoch value: the highest of an accuracy, the lowest of anything else (test scores are in `test`)'),
    test: metricValues.describe('Scores on the held-out test rows (test_loss, test_accuracy or test_mae) once the run succeeded'),
    durationMs: z.int().nullable().describe('Training time once the run succeeded, else the time since it started; null before it started'),
    samplesPerSecond: z.number().nullable().describe('Training speed in the last finished epoch'),
  })
  .meta({ id: 'RunSummary' });

const runSchema = jobSchema.extend({ summary: runSummarySchema }).meta({ id: 'Run' });

const runPageSchema = z
  .object({
    data: z.array(runSchema),
    hasMore: z.boolean(),
    next: z.string().nullable().describe('URL of the next page, null on the last one'),
  })
  .meta({ id: 'RunPage' });

/** The runs table: each job with how its training went, a page at a time like GET /v1/jobs. */
export function runRoutes(services: Services) {
  return async (app: FastifyInstance): Promise<void> => {
    const summaries = new RunSummaries(services.prisma);
    const api = app.withTypeProvider<ZodTypeProvider>();
    api.get(
      '/v1/runs',
      {
        schema: {
          operationId: 'listRuns',
          tags: ['jobs'],
          summary: 'Jobs with their final, best and test metrics, duration and speed, newest first: a runs table',
          querystring: listJobsQuerySchema,
          response: { 200: runPageSchema },
        },
      },
      async (request) => {
        const { limit, after, status } = request.query;
        const project = projectOf(request).id;
        const page = await services.jobs.list(project, { limit, after, status: status ? (status.split(',') as JobStatus[]) : undefined });
        const { jobs } = page;
        const byId = await summaries.of(jobs);
        const last = page.jobs.at(-1);
        let next: string | null = null;
        if (page.hasMore && last) {
          const params = new URLSearchParams({ limit: String(limit), after: last.id });
          if (status) params.set('status', status);
          next = `/v1/runs?${params.toString()}`;
        }
        return { data: jobs.map((job) => ({ ...withLinks(job), summary: byId.get(job.id)! })), hasMore: page.hasMore, next };
      },
    );

    api.get(
      '/v1/runs/:id',
      {
        schema: {
          operationId: 'getRun',
          tags: ['jobs'],
          summary: 'One job with its final, best and test metrics, duration and speed',
          params: jobIdParamsSchema,
          response: { 200: runSchema, 404: problemSchema },
        },
      },
      async (request) => {
        const job = await services.jobs.getView(projectOf(request).id, request.params.id);
        const byId = await summaries.of([job]);
        return { ...withLinks(job), summary: byId.get(job.id)! };
      },
    );
  };
}
