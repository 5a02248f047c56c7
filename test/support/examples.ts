import type { JobSpecInput } from '../../src/spec/job-spec.js';

/**
 * The same options on a few hundred rows and at most `maxEpochs` epochs (unless the schedule or phases count
 * epochs), so the suite stays fast.
 */
export function shorten(example: JobSpecInput, maxEpochs = 3): JobSpecInput {
  const dataset = example.dataset.name === 'mnist' ? { ...example.dataset, limit: 500 } : 'rows' in example.dataset ? { ...example.dataset, rows: 240 } : example.dataset;
  const epochsMatter = Array.isArray(example.optimizer) || typeof example.learningRate === 'object' || example.linearScaling !== undefined;
  const epochs = epochsMatter ? example.epochs : Math.min(example.epochs ?? 10, maxEpochs);
  const heads = example.model.auxiliaryHeads?.map((head) => ({ ...head, ...(head.decayToZeroByEpoch ? { decayToZeroByEpoch: Math.min(head.decayToZeroByEpoch, epochs ?? 10) } : {}) }));
  return {
    ...example,
    dataset,
    epochs,
    model: { ...example.model, ...(heads ? { auxiliaryHeads: heads } : {}) },
    ...(example.task === 'lrRangeTest' ? { lrRangeTest: { ...example.lrRangeTest, steps: 20 } } : {}),
  };
}
