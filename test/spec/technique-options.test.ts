import { describe, expect, it } from 'vitest';
import { jobSpecSchema, resolveJobSpec, type JobSpecInput } from '../../src/spec/job-spec.js';
import { tinyIrisSpec } from '../support/specs.js';

const problems = (input: JobSpecInput) => {
  const result = jobSpecSchema.safeParse(input);
  return result.success ? [] : result.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
};

describe('options ported from PyTorch and Keras', () => {
  it('are accepted, and a config that leaves them out is echoed unchanged', () => {
    const spec = resolveJobSpec(
      jobSpecSchema.parse(
        tinyIrisSpec({
          optimizer: [
            { optimizer: { type: 'momentum', momentum: 0.9, dampening: 0.1, weightDecay: 1e-4 }, untilEpoch: 1 },
            { optimizer: { type: 'rmsprop', centered: true, weightDecay: 1e-4 }, untilEpoch: 2 },
            { optimizer: { type: 'adam', amsgrad: true, weightDecay: 1e-4 } },
          ],
          earlyStopping: { monitor: 'val_loss', baseline: 0.5 },
          regularization: { maxNorm: 3 },
          model: { layers: [{ type: 'dense', units: 8, maxNorm: 2 }, { type: 'batchNormalization', center: false, scale: true }, { type: 'dropout', rate: 0.2, noiseShape: [8] }, { type: 'dense', units: 3 }] },
        }),
      ),
    );
    expect(Array.isArray(spec.optimizer) && spec.optimizer[0]!.optimizer).toEqual({ type: 'momentum', momentum: 0.9, dampening: 0.1, weightDecay: 1e-4 });
    expect(resolveJobSpec(jobSpecSchema.parse(tinyIrisSpec({ optimizer: 'sgd' }))).optimizer).toEqual({ type: 'sgd' });
  });

  it('schedules: the unit of the period, warm-up and milestones are checked against the phase', () => {
    const rate = (learningRate: JobSpecInput['learningRate'], extra: Partial<JobSpecInput> = {}) => problems(tinyIrisSpec({ epochs: 6, batchSize: 40, learningRate, ...extra }));
    // 120 training rows / 40 = 3 steps an epoch, 18 in the run.
    expect(rate({ type: 'step', initial: 0.1 })).toEqual(['learningRate.everyEpochs: give everyEpochs or everySteps (one of them)']);
    expect(rate({ type: 'step', initial: 0.1, everyEpochs: 2, warmupSteps: 3 })).toEqual([
      'learningRate.warmupSteps: this schedule counts epochs: give its warm-up as warmupEpochs (SequentialLR steps both parts alike)',
    ]);
    expect(rate({ type: 'cosine', initial: 0.1, warmupEpochs: 2 })).toEqual(['learningRate.warmupEpochs: this schedule counts steps: give its warm-up as warmupSteps']);
    expect(rate({ type: 'cosine', initial: 0.1, unit: 'epoch', warmupEpochs: 2 })).toEqual([]);
    expect(rate({ type: 'multiStep', initial: 0.1, milestones: [3, 2] })).toEqual(['learningRate.milestones.1: milestones must ascend']);
    expect(rate({ type: 'multiStep', initial: 0.1, milestones: [2, 7] })).toEqual(["learningRate.milestones.1: 7 is beyond the run's 6 epochs after warm-up"]);
    expect(rate({ type: 'multiStep', initial: 0.1, milestones: [4, 17], unit: 'step' })).toEqual([]);
    expect(rate({ type: 'exponential', initial: 0.1, decay: 0.9, decaySteps: 2, decayEpochs: 1 })).toEqual(['learningRate.decayEpochs: give decaySteps or decayEpochs, not both']);
    expect(rate({ type: 'constant', initial: 0.1, warmupSteps: 19 })).toEqual(["learningRate.warmupSteps: 19 is beyond the run's 18 steps"]);
    expect(rate({ type: 'reduceOnPlateau', initial: 0.1, monitor: 'val_loss' }, { validationSplit: 0 })).toEqual([
      'learningRate.monitor: val_loss needs a validation split: set validationSplit or monitor loss',
    ]);
    expect(rate({ type: 'reduceOnPlateau', initial: 0.1, monitor: 'val_mae' })).toEqual(['learningRate.monitor: mae is reported for regressions: monitor val_accuracy or a loss']);
    // Phases: each schedule is checked against its own phase.
    expect(
      problems(
        tinyIrisSpec({
          epochs: 6,
          batchSize: 40,
          optimizer: [
            { optimizer: 'adam', untilEpoch: 2, learningRate: { type: 'step', initial: 0.1, everyEpochs: 2 } },
            { optimizer: 'sgd', learningRate: { type: 'oneCycle', initial: 0.1 } },
          ],
        }),
      ),
    ).toEqual(["optimizer.0.learningRate.everyEpochs: must be below phase 1's 2 epochs after warm-up, or the rate never changes"]);
  });

  it('what hogwild threads cannot apply is refused', () => {
    const hogwild = (extra: Partial<JobSpecInput>) => problems(tinyIrisSpec({ optimizer: 'sgd', distributed: { strategy: 'hogwild', workers: 2 }, ...extra }));
    expect(hogwild({ optimizer: { type: 'sgd', weightDecay: 0.01 } })).toEqual(['optimizer.weightDecay: not applied by hogwild threads (each updates the weights itself)']);
    expect(hogwild({ regularization: { maxNorm: 2 } })).toEqual(['regularization.maxNorm: not applied by hogwild threads (each updates the weights itself)']);
  });
});
