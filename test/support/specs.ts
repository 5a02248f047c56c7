import type { JobSpecInput } from '../../src/spec/job-spec.js';

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
