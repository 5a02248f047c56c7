import { z } from 'zod';

/**
 * Learning-rate schedules (TECHNIQUES.md 1.3). `t` is the 1-based optimizer step and `e` the
 * 1-based epoch; src/engine/schedules.ts implements exactly the formulas described here.
 */

const initial = z
  .number()
  .positive()
  .max(10)
  .optional()
  .describe('η₀; defaults to the optimizer\'s rate, or to the linear scaling rule when `linearScaling` is set');
const warmupSteps = z
  .int()
  .min(1)
  .optional()
  .describe('Linear warm-up: η(t) = schedule(t) · min(1, t / warmupSteps)');

export const constantScheduleSchema = z
  .strictObject({ type: z.literal('constant'), initial, warmupSteps })
  .meta({ id: 'ConstantSchedule', description: 'η(t) = η₀' });

export const stepScheduleSchema = z
  .strictObject({
    type: z.literal('step'),
    initial,
    warmupSteps,
    factor: z.number().positive().max(1).default(0.1),
    everyEpochs: z.int().min(1),
  })
  .meta({ id: 'StepSchedule', description: 'η = η₀ · factor^⌊(e − 1) / everyEpochs⌋ (e the 1-based epoch)' });

export const exponentialScheduleSchema = z
  .strictObject({
    type: z.literal('exponential'),
    initial,
    warmupSteps,
    decay: z.number().positive().max(1),
    decaySteps: z.int().min(1).default(1).describe('k'),
  })
  .meta({ id: 'ExponentialSchedule', description: 'η(t) = η₀ · decay^(t / k)' });

export const inverseTimeScheduleSchema = z
  .strictObject({
    type: z.literal('inverseTime'),
    initial,
    warmupSteps,
    decay: z.number().positive().describe('d'),
  })
  .meta({ id: 'InverseTimeSchedule', description: 'η(t) = η₀ / (1 + d · t)' });

export const cosineScheduleSchema = z
  .strictObject({
    type: z.literal('cosine'),
    initial,
    warmupSteps,
    floor: z.number().min(0).default(0).describe('η at the last step'),
  })
  .meta({ id: 'CosineSchedule', description: 'η(t) = floor + (η₀ − floor) · (1 + cos(π · t / T)) / 2, T the run\'s total steps' });

export const scheduleSchema = z
  .discriminatedUnion('type', [constantScheduleSchema, stepScheduleSchema, exponentialScheduleSchema, inverseTimeScheduleSchema, cosineScheduleSchema])
  .meta({ id: 'LearningRateSchedule' });
export type Schedule = z.infer<typeof scheduleSchema>;
export type ResolvedSchedule = Schedule & { initial: number };

export const learningRateSchema = z
  .union([z.number().positive().max(10), scheduleSchema])
  .describe('A constant rate, or a schedule');
export type LearningRate = z.infer<typeof learningRateSchema>;

export const linearScalingSchema = z
  .strictObject({
    baseBatchSize: z.int().min(1),
    baseLearningRate: z.number().positive().max(10),
  })
  .meta({ id: 'LinearScaling', description: 'η₀ = baseLearningRate · batchSize / baseBatchSize (Goyal et al. 2017)' });
export type LinearScaling = z.infer<typeof linearScalingSchema>;

/** The schedule a rate stands for, with η₀ filled in from the first of: given, scaled, default. */
export function resolveSchedule(rate: LearningRate | undefined, fallbackInitial: number): ResolvedSchedule {
  if (rate === undefined) return { type: 'constant', initial: fallbackInitial };
  if (typeof rate === 'number') return { type: 'constant', initial: rate };
  return { ...rate, initial: rate.initial ?? fallbackInitial };
}
