import { z } from 'zod';
import { resolvedStudySpecSchema } from '../../spec/study-spec.js';
import { studyEventTypes, trialStates } from '../../studies/study-types.js';
import { jobStatusSchema } from './job-schemas.js';

export const studyStatusSchema = z.enum(['running', 'paused', 'cancelled', 'succeeded', 'failed']).meta({ id: 'StudyStatus' });

const trialResultSchema = z.object({ epoch: z.int(), value: z.number(), rung: z.int().optional().describe('ASHA: the rung (0 = first)') });

export const trialSchema = z
  .object({
    number: z.int().describe('1, 2, … in the order the trials started'),
    jobId: z.uuid().describe('The job training the trial now (PBT: the newest of its jobs)'),
    params: z.record(z.string(), z.unknown()).describe('Its values, by spec path (PBT: the current ones)'),
    bracket: z.int(),
    state: z.enum(trialStates).describe('training: queued or training toward targetEpoch; waiting: paused at a rung or interval for the scheduler; the rest are final'),
    jobStatus: jobStatusSchema,
    targetEpoch: z.int().describe('The epoch it trains to now'),
    epochsTrained: z.int().describe('Epochs this trial trained, over all its segments'),
    runtimeSeconds: z.number().describe("Training time of its current job"),
    results: z.array(trialResultSchema).describe('The objective at each rung, interval and at the end'),
    lineage: z
      .array(z.object({ epoch: z.int(), fromTrial: z.int(), fromEpoch: z.int(), job: z.uuid(), previousJob: z.uuid(), params: z.record(z.string(), z.unknown()) }))
      .describe("PBT: each time it took another trial's checkpoint and explored new values; read its schedule off this list"),
    reason: z.string().nullable().describe('Why it was promoted, stopped or failed'),
    links: z.object({ job: z.string() }),
  })
  .meta({ id: 'Trial' });

export const studySchema = z
  .object({
    id: z.uuid(),
    name: z.string().nullable(),
    status: studyStatusSchema,
    spec: resolvedStudySpecSchema,
    reason: z.string().nullable().describe('Why it ended, in plain words'),
    best: z
      .object({ trial: z.int(), value: z.number(), epoch: z.int(), jobId: z.uuid() })
      .nullable()
      .describe('The trial whose latest objective is best'),
    finalJobId: z.uuid().nullable().describe('The job POST /v1/studies/{id}/train-best made'),
    compute: z
      .object({
        trialEpochs: z.int().describe('Epochs all trials trained'),
        trialSeconds: z.number(),
        fullTrainingEpochs: z.int().describe('What the same trials trained to the end would have used'),
        fullTrainingSeconds: z.number().describe("Estimated at the study's seconds per trial-epoch"),
      })
      .meta({ id: 'StudyCompute' }),
    trials: z.array(trialSchema),
    lastSeq: z.int(),
    createdAt: z.iso.datetime(),
    updatedAt: z.iso.datetime(),
    finishedAt: z.iso.datetime().nullable(),
    links: z.object({ self: z.string(), events: z.string(), stream: z.string() }),
  })
  .meta({ id: 'Study' });

export const studyPageSchema = z.object({ data: z.array(studySchema), hasMore: z.boolean(), next: z.string().nullable() }).meta({ id: 'StudyPage' });

export const studyEventSchema = z
  .object({ seq: z.int(), type: z.enum(studyEventTypes), data: z.record(z.string(), z.unknown()), createdAt: z.iso.datetime() })
  .meta({ id: 'StudyEvent' });

export const studyStreamMessageSchema = z
  .discriminatedUnion('kind', [
    studyEventSchema.extend({ kind: z.literal('studyEvent'), studyId: z.uuid() }),
    z.object({ kind: z.literal('heartbeat'), time: z.iso.datetime() }),
  ])
  .meta({ id: 'StudyStreamMessage' });

export const studyIdParamsSchema = z.strictObject({ id: z.string().max(100).describe('Study id (UUID)') });

export const trainBestBodySchema = z
  .strictObject({ epochs: z.int().min(1).max(10_000).optional().describe("Epochs to train; the study's maxEpochs by default") })
  .default({});
