import type { JobSpecInput } from '../../src/spec/job-spec.js';
import type { StudySpecInput } from '../../src/spec/study-spec.js';

/** A tiny iris job: a few hundred ms of training on any backend. */
export function tinyIrisSpec(overrides: Partial<JobSpecInput> = {}): JobSpecInput {
  return {
    name: 'tiny iris',
    dataset: { name: 'iris' },
    model: {
      layers: [
        { type: 'dense', units: 8, activation: 'relu' },
        { type: 'dense', units: 3, activation: 'softmax' },
      ],
    },
    optimizer: 'adam',
    learningRate: 0.05,
    epochs: 3,
    batchSize: 16,
    seed: 7,
    logEveryBatches: 3,
    ...overrides,
  };
}

/**
 * An ASHA study over tiny iris jobs of `epochs` epochs: learning rate and batch size, judged on
 * val_accuracy, minEpochs 1 (rungs at 1, η, η²… below `epochs`).
 */
export function tinyAshaStudy(options: { epochs: number; maxTrials: number; reductionFactor?: number; seed: number; name?: string }): StudySpecInput {
  return {
    ...(options.name ? { name: options.name } : {}),
    base: tinyIrisSpec({ epochs: options.epochs, batchSize: 16, logEveryBatches: 0 }),
    space: { learningRate: { type: 'logUniform', low: 1e-3, high: 0.3 }, batchSize: { type: 'choice', values: [8, 32] } },
    objective: { metric: 'val_accuracy' },
    algorithm: { type: 'asha', reductionFactor: options.reductionFactor ?? 3, minEpochs: 1 },
    maxTrials: options.maxTrials,
    maxConcurrentTrials: 2,
    seed: options.seed,
  };
}
