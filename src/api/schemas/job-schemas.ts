import { z } from 'zod';
import { dependencies } from '../../errors/errors.js';
import { checkpointReasons } from '../../engine/checkpoint-reasons.js';
import { jobEventTypes, jobStatuses } from '../../jobs/job-types.js';
import { adviceCodes } from '../../spec/advice/codes.js';
import { resolvedJobSpecSchema } from '../../spec/job-spec.js';
import { writtenVerbatim } from '../plugins/response-serializer.js';
import { memoryParts, type MemoryPart } from '../../spec/memory-estimate.js';

export const jobStatusSchema = z.enum(jobStatuses).meta({ id: 'JobStatus' });

export const problemSchema = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.int(),
    detail: z.string(),
    instance: z.string(),
    errors: z
      .array(
        z.object({
          field: z.string(),
          message: z.string(),
          in: z.string().optional(),
          file: z.string().optional().describe('Archive uploads: the file inside the archive'),
          row: z.int().optional().describe('Uploads: the row of the file (the CSV header is row 1)'),
          column: z.string().optional(),
          value: z.string().optional(),
        }),
      )
      .optional()
      .describe('One entry per bad field, in the dotted form used in job specs (model.layers[0].units); at most the first 20'),
    errorCount: z.int().optional().describe('How many problems there were, when `errors` lists only the first 20'),
    currentStatus: jobStatusSchema.optional().describe('On 409: the status that made the request illegal'),
    requestId: z.string().optional().describe('The id of this request in the server logs (also the x-request-id header)'),
    retryAfterSeconds: z.int().optional().describe('On 429 and 503: when to try again (also the Retry-After header)'),
    dependency: z.enum(dependencies).optional().describe('On 503: the service that cannot be reached'),
    estimateBytes: z.int().optional().describe("On 422 for a job over the memory limit: the job's estimated peak memory (docs/limits.md)"),
    limitBytes: z.int().optional().describe('On 422 for a job over the memory limit: what a training process may use (WORKER_MEMORY_LIMIT_MB)'),
    breakdown: z
      .object(Object.fromEntries(memoryParts.map((part) => [part, z.int()])) as Record<MemoryPart, z.ZodInt>)
      .optional()
      .describe('On 422 for a job over the memory limit: the estimate by kind, in bytes'),
    largest: z
      .array(z.object({ field: z.string(), bytes: z.int() }))
      .optional()
      .describe('On 422 for a job over the memory limit: the fields that set the most memory, largest first, in bytes'),
    threads: z.int().optional().describe('On 422 for too many training threads: the threads the job would start'),
    threadLimit: z.int().optional().describe('On 422 for too many training threads: what a training process may start (TRAINING_THREADS)'),
    featureBytes: z.int().optional().describe("On 422 for augmentation or distributed training on a streamed upload: the upload's features, in bytes"),
    inMemoryBytes: z.int().optional().describe('On 422 for augmentation or distributed training on a streamed upload: the largest features a training process loads (TRAINING_IN_MEMORY_BYTES)'),
  })
  .meta({ id: 'Problem', description: 'RFC 9457 problem details' });

export const jobSchema = z
  .object({
    id: z.uuid(),
    name: z.string().nullable(),
    status: jobStatusSchema,
    spec: writtenVerbatim(resolvedJobSpecSchema),
    backend: z.string().nullable().describe('TF.js backend that ran the job (tensorflow, wasm, cpu)'),
    device: z.string().nullable(),
    failureReason: z.string().nullable(),
    waitingReason: z
      .string()
      .nullable()
      .describe('While queued: why it is not training yet when the cause is not just busy workers (no GPU worker running, the project at its limit of running jobs)'),
    attempts: z.int().describe('How many times a worker started it'),
    restarts: z.int().describe("Restarts after failures that were not the spec's fault (a killed worker or training process, a lost database session); at most spec.maxRestarts"),
    restartCauses: z.array(z.string()).describe('Why each restart happened, oldest first'),
    progress: z.number().min(0).max(1),
    pauseAtEpoch: z.int().nullable().describe("A study's trial pauses, checkpointed, at the end of this epoch (a rung or a perturbation interval) for its scheduler to decide; null for other jobs"),
    lastSeq: z.int().describe('Sequence number of the newest event'),
    createdAt: z.iso.datetime(),
    startedAt: z.iso.datetime().nullable(),
    finishedAt: z.iso.datetime().nullable(),
    updatedAt: z.iso.datetime(),
    links: z.object({ self: z.string(), metrics: z.string(), events: z.string(), stream: z.string(), checkpoints: z.string(), model: z.string() }),
  })
  .meta({ id: 'Job' });

export const adviceSchema = z
  .object({
    code: z.enum(adviceCodes).describe("The rule's code: list it in the spec's silenceAdvice to stop this advice"),
    field: z.string().describe('The spec field to change, as in job specs (model.layers[2].kernelInitializer)'),
    reason: z.string().describe("Why, with the spec's own numbers, and what to do instead"),
    source: z.string().describe('The lecture tip or paper it comes from'),
  })
  .meta({ id: 'Advice', description: 'A practical tip the spec goes against (docs/advice.md): a warning, never an error' });

export const submittedJobSchema = jobSchema
  .extend({
    advice: z
      .array(adviceSchema)
      .describe("The tips the spec goes against, but those it silences; also the job's `advice` event (seq 2) when there are any"),
  })
  .meta({ id: 'SubmittedJob' });

export const jobPageSchema = z
  .object({
    data: z.array(jobSchema),
    hasMore: z.boolean(),
    next: z.string().nullable().describe('URL of the next page, null on the last one'),
  })
  .meta({ id: 'JobPage' });

export const jobEventSchema = z
  .object({
    seq: z.int().min(1),
    type: z
      .enum(jobEventTypes)
      .describe('status changes, advice (given at submission, data.advice), started (backend, sizes), metrics, optimizerPhase, divergence (a halving), lrRangeTest (its suggestion)'),
    data: z.record(z.string(), z.unknown()),
    createdAt: z.iso.datetime().describe('When the event was recorded'),
    emittedAt: z.iso.datetime().describe("When training produced it (the training process's clock); equal to createdAt for the service's own events"),
  })
  .meta({ id: 'JobEvent' });

export const metricSchema = z
  .object({
    scope: z.enum(['batch', 'epoch']),
    epoch: z.int(),
    step: z.int(),
    values: z.record(z.string(), z.number()),
    createdAt: z.iso.datetime(),
  })
  .meta({ id: 'Metric' });

export const jobIdParamsSchema = z.object({ id: z.string().describe('Job id (UUID)') });

export const listJobsQuerySchema = z.strictObject({
  limit: z.coerce.number().int().min(1).max(200).default(20).describe('Jobs per page'),
  after: z.uuid().optional().describe('Id of the last job of the previous page'),
  status: z
    .string()
    .optional()
    .describe('Comma-separated statuses to keep, e.g. queued,running')
    .pipe(
      z
        .string()
        .refine((value) => value.split(',').every((status) => (jobStatuses as string[]).includes(status)), `must be a comma-separated list of ${jobStatuses.join(', ')}`)
        .optional(),
    ),
});

/** A seq or step cursor: both are 32-bit integers in the database, so a larger one can only be a mistake. */
export const cursorSchema = z.coerce.number().int().min(0).max(2_147_483_647);

export const listEventsQuerySchema = z.strictObject({
  after: cursorSchema.default(0).describe('Only events with a larger seq'),
  limit: z.coerce.number().int().min(1).max(1000).default(500).describe('At most this many events'),
});

export const listMetricsQuerySchema = z.strictObject({
  scope: z.enum(['batch', 'epoch']).optional().describe('Only per-epoch metrics, or only those recorded every N batches; default both'),
  after: cursorSchema.default(0).describe('Only metrics of a larger step'),
  limit: z.coerce.number().int().min(1).max(10_000).default(1000).describe('At most this many records'),
});

export const checkpointSchema = z
  .object({
    id: z.uuid(),
    epoch: z.int().describe('Epochs completed when it was written'),
    step: z.int(),
    reason: z.enum(checkpointReasons),
    sizeBytes: z.int(),
    sha256: z.string(),
    metrics: z.record(z.string(), z.number()),
    isBest: z.boolean(),
    createdAt: z.iso.datetime(),
    links: z.object({ modelJson: z.string(), weights: z.string() }).describe('TF.js format: tf.loadLayersModel(baseUrl + links.modelJson)'),
  })
  .meta({ id: 'Checkpoint' });

export const checkpointParamsSchema = z.object({ id: z.string().describe('Job id (UUID)'), checkpointId: z.string().describe('Checkpoint id (UUID) from GET /v1/jobs/{id}/checkpoints') });
