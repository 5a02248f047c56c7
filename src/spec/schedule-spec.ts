import { z } from 'zod';

/**
 * Learning-rate schedules (docs/techniques/optimization.md). Each counts in optimizer steps or in
 * epochs, from 0 at the start of its phase (i, the number of steps or epochs done), exactly as
 * PyTorch's scheduler of the same name stepped once per optimizer step or once per epoch.
 * Warm-up is a phase of its own, SequentialLR(LinearLR, …): the decay starts at η₀ once it is
 * over. src/engine/schedules.ts implements exactly the formulas described here.
 */

const initial = z
  .number()
  .positive()
  .max(10)
  .optional()
  .describe('η₀; defaults to the optimizer\'s rate, or to the linear scaling rule when `linearScaling` is set');

/** Warm-up in the schedule's own unit: steps for a schedule that counts steps, epochs for one that counts epochs. */
const warmupFields = {
  warmupSteps: z
    .int()
    .min(1)
    .optional()
    .describe('W: a linear warm-up over the first W steps, η = η₀ · (s + (1 − s) · i / W) (PyTorch LinearLR), after which the decay starts from η₀'),
  warmupEpochs: z.int().min(1).optional().describe('The same warm-up counted in epochs, for a schedule that counts epochs'),
  warmupStartFactor: z.number().gt(0).max(1).optional().describe('s, the warm-up\'s first fraction of η₀; 1 / W when absent'),
};

const unit = z.enum(['epoch', 'step']);

export const constantScheduleSchema = z
  .strictObject({ type: z.literal('constant'), initial, ...warmupFields })
  .meta({ id: 'ConstantSchedule', description: 'η = η₀ (after an optional warm-up)' });

export const stepScheduleSchema = z
  .strictObject({
    type: z.literal('step'),
    initial,
    ...warmupFields,
    factor: z.number().positive().max(1).default(0.1).describe('γ'),
    everyEpochs: z.int().min(1).optional().describe('k, counting epochs (give this or everySteps)'),
    everySteps: z.int().min(1).optional().describe('k, counting optimizer steps'),
  })
  .meta({ id: 'StepSchedule', description: 'η = η₀ · γ^⌊i / k⌋ (PyTorch StepLR, step_size k)' });

export const multiStepScheduleSchema = z
  .strictObject({
    type: z.literal('multiStep'),
    initial,
    ...warmupFields,
    factor: z.number().positive().max(1).default(0.1).describe('γ'),
    milestones: z.array(z.int().min(1)).min(1).max(100).describe('Ascending; milestone m lowers the rate from the (m + 1)-th epoch (or step) of the decay on'),
    unit: unit.default('epoch').describe('What i and the milestones count'),
  })
  .meta({ id: 'MultiStepSchedule', description: 'η = η₀ · γ^(milestones ≤ i) (PyTorch MultiStepLR)' });

export const exponentialScheduleSchema = z
  .strictObject({
    type: z.literal('exponential'),
    initial,
    ...warmupFields,
    decay: z.number().positive().max(1).describe('γ'),
    decaySteps: z.int().min(1).optional().describe('k, counting optimizer steps; 1 when neither this nor decayEpochs is given'),
    decayEpochs: z.int().min(1).optional().describe('k, counting epochs'),
  })
  .meta({ id: 'ExponentialSchedule', description: 'η = η₀ · γ^(i / k) (PyTorch ExponentialLR when k = 1; Keras ExponentialDecay otherwise)' });

export const inverseTimeScheduleSchema = z
  .strictObject({
    type: z.literal('inverseTime'),
    initial,
    ...warmupFields,
    decay: z.number().positive().describe('d'),
  })
  .meta({ id: 'InverseTimeSchedule', description: 'η = η₀ / (1 + d · i), i counting steps (Keras InverseTimeDecay, decay_steps 1)' });

export const cosineScheduleSchema = z
  .strictObject({
    type: z.literal('cosine'),
    initial,
    ...warmupFields,
    floor: z.number().min(0).default(0).describe('η_min'),
    unit: unit.optional().describe('What i counts; steps when absent'),
  })
  .meta({
    id: 'CosineSchedule',
    description: 'η = η_min + (η₀ − η_min) · (1 + cos(π · i / T)) / 2, T the phase\'s steps (or epochs) after warm-up (PyTorch CosineAnnealingLR, T_max = T): the last step trains above η_min',
  });

export const oneCycleScheduleSchema = z
  .strictObject({
    type: z.literal('oneCycle'),
    initial: initial.describe('max_lr, the peak; defaults as η₀ does'),
    pctStart: z.number().gt(0).lt(1).default(0.3).describe('Fraction of the steps spent rising'),
    divFactor: z.number().gt(0).max(1e6).default(25).describe('The first rate is max_lr / divFactor'),
    finalDivFactor: z.number().gt(0).max(1e9).default(10_000).describe('The last rate is max_lr / divFactor / finalDivFactor'),
    anneal: z.enum(['cos', 'linear']).default('cos'),
    threePhase: z.boolean().default(false).describe('Rise, fall back to the first rate, then anneal to the last one'),
  })
  .meta({
    id: 'OneCycleSchedule',
    description: 'Smith & Topin 2019, counting the phase\'s steps (PyTorch OneCycleLR with total_steps = the phase\'s steps and cycle_momentum=False: momentum is not cycled)',
  });

export const reduceOnPlateauScheduleSchema = z
  .strictObject({
    type: z.literal('reduceOnPlateau'),
    initial,
    monitor: z
      .enum(['val_loss', 'val_accuracy', 'val_mae', 'loss', 'accuracy', 'mae'])
      .optional()
      .describe('The epoch metric watched; val_loss with a validation split, loss without, when absent'),
    mode: z.enum(['auto', 'min', 'max']).default('auto').describe('auto: max for accuracies, min otherwise'),
    factor: z.number().positive().lt(1).default(0.1).describe('η ← max(η · factor, minLearningRate)'),
    patience: z.int().min(0).max(10_000).default(10).describe('Epochs without improvement tolerated; the next one reduces the rate'),
    threshold: z.number().min(0).default(1e-4).describe('Improvement: below best · (1 − threshold) (rel, min mode), or best − threshold (abs)'),
    thresholdMode: z.enum(['rel', 'abs']).default('rel'),
    cooldown: z.int().min(0).max(10_000).default(0).describe('Epochs after a reduction during which bad epochs are not counted'),
    minLearningRate: z.number().min(0).default(0),
    epsilon: z.number().min(0).default(1e-8).describe('A reduction smaller than this is skipped'),
  })
  .meta({
    id: 'ReduceOnPlateauSchedule',
    description: 'PyTorch ReduceLROnPlateau, stepped once per epoch with the monitored metric; its state is checkpointed, so a resumed run reduces exactly when the straight one would',
  });

export const scheduleSchema = z
  .discriminatedUnion('type', [
    constantScheduleSchema,
    stepScheduleSchema,
    multiStepScheduleSchema,
    exponentialScheduleSchema,
    inverseTimeScheduleSchema,
    cosineScheduleSchema,
    oneCycleScheduleSchema,
    reduceOnPlateauScheduleSchema,
  ])
  .meta({ id: 'LearningRateSchedule' });
export type Schedule = z.infer<typeof scheduleSchema>;
export type ResolvedSchedule = Schedule & { initial: number };
export type ScheduleUnit = z.infer<typeof unit>;

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

/** What a schedule counts: its unit, and how long its warm-up is in that unit (0 without one). */
export function scheduleUnit(schedule: Schedule): ScheduleUnit {
  switch (schedule.type) {
    case 'step':
      return schedule.everyEpochs !== undefined ? 'epoch' : 'step';
    case 'exponential':
      return schedule.decayEpochs !== undefined ? 'epoch' : 'step';
    case 'multiStep':
      return schedule.unit;
    case 'cosine':
      return schedule.unit ?? 'step';
    case 'constant':
      return schedule.warmupEpochs !== undefined ? 'epoch' : 'step';
    case 'reduceOnPlateau':
      return 'epoch';
    default:
      return 'step';
  }
}

export function warmupLength(schedule: Schedule): number {
  if (schedule.type === 'oneCycle' || schedule.type === 'reduceOnPlateau') return 0;
  return schedule.warmupSteps ?? schedule.warmupEpochs ?? 0;
}

interface ScheduleProblem {
  /** Relative to the schedule. */
  path: string[];
  message: string;
}

/**
 * What a schedule must agree with: the span of its phase (`what` names it in messages: "the
 * run's", "phase 2's"), the spec's validation split. `steps` is null when the data set's size is
 * not known yet (an upload before its shape is read).
 */
export function scheduleProblems(schedule: Schedule, span: { epochs: number; steps: number | null; what: string }, validation: boolean): ScheduleProblem[] {
  const problems: ScheduleProblem[] = [];
  const unit = scheduleUnit(schedule);
  const length = unit === 'epoch' ? span.epochs : span.steps;
  const warmup = warmupLength(schedule);
  if ('warmupSteps' in schedule && schedule.warmupSteps !== undefined && schedule.warmupEpochs !== undefined) {
    problems.push({ path: ['warmupEpochs'], message: 'give warmupSteps or warmupEpochs, not both' });
  } else if (unit === 'epoch' && 'warmupSteps' in schedule && schedule.warmupSteps !== undefined && schedule.type !== 'constant') {
    problems.push({ path: ['warmupSteps'], message: 'this schedule counts epochs: give its warm-up as warmupEpochs (SequentialLR steps both parts alike)' });
  } else if (unit === 'step' && 'warmupEpochs' in schedule && schedule.warmupEpochs !== undefined) {
    problems.push({ path: ['warmupEpochs'], message: 'this schedule counts steps: give its warm-up as warmupSteps' });
  } else if (length !== null && warmup > length) {
    const field = unit === 'epoch' ? 'warmupEpochs' : 'warmupSteps';
    problems.push({ path: [field], message: `${warmup} is beyond ${span.what} ${length} ${unit}s` });
  }
  switch (schedule.type) {
    case 'step': {
      if ((schedule.everyEpochs === undefined) === (schedule.everySteps === undefined)) {
        problems.push({ path: ['everyEpochs'], message: 'give everyEpochs or everySteps (one of them)' });
      } else if (length !== null) {
        const k = schedule.everyEpochs ?? schedule.everySteps!;
        if (k >= length - warmup) {
          problems.push({ path: [schedule.everyEpochs !== undefined ? 'everyEpochs' : 'everySteps'], message: `must be below ${span.what} ${length - warmup} ${unit}s after warm-up, or the rate never changes` });
        }
      }
      break;
    }
    case 'multiStep':
      schedule.milestones.forEach((milestone, k) => {
        if (k > 0 && milestone <= schedule.milestones[k - 1]!) problems.push({ path: ['milestones', String(k)], message: 'milestones must ascend' });
        else if (length !== null && milestone >= length - warmup) {
          problems.push({ path: ['milestones', String(k)], message: `${milestone} is beyond ${span.what} ${length - warmup} ${unit}s after warm-up` });
        }
      });
      break;
    case 'exponential':
      if (schedule.decaySteps !== undefined && schedule.decayEpochs !== undefined) {
        problems.push({ path: ['decayEpochs'], message: 'give decaySteps or decayEpochs, not both' });
      } else if (length !== null && (schedule.decaySteps ?? schedule.decayEpochs ?? 1) > length) {
        problems.push({ path: [schedule.decayEpochs !== undefined ? 'decayEpochs' : 'decaySteps'], message: `${schedule.decaySteps ?? schedule.decayEpochs} is beyond ${span.what} ${length} ${unit}s` });
      }
      break;
    case 'cosine':
      if (schedule.initial !== undefined && schedule.floor >= schedule.initial) problems.push({ path: ['floor'], message: `must be below initial (${schedule.initial})` });
      break;
    case 'oneCycle':
      if (span.steps !== null && span.steps < 2) problems.push({ path: ['type'], message: `one cycle needs at least 2 steps; ${span.what} has ${span.steps}` });
      break;
    case 'reduceOnPlateau':
      if (schedule.monitor?.startsWith('val_') && !validation) {
        problems.push({ path: ['monitor'], message: `${schedule.monitor} needs a validation split: set validationSplit or monitor loss` });
      }
      break;
    default:
      break;
  }
  return problems;
}
