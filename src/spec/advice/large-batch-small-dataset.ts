import { runOf, type AdviceRule } from './advice.js';

/** At most this many training rows make a small data set (as transfer auto's smallDatasetRows). */
export const SMALL_DATASET_ROWS = 5000;
/** Fewer optimizer steps an epoch than this is too few updates for a small set. */
const MIN_STEPS_PER_EPOCH = 16;
/** Batches up to the default are small, whatever the set. */
const SMALL_BATCH = 32;

/** A batch so large for a small data set that an epoch is a handful of steps. */
export const largeBatchSmallDataset: AdviceRule = {
  code: 'largeBatchSmallDataset',
  source: 'Lecture: "use small batches for small data sets"; Keskar et al. 2017 (large batches generalise worse); docs/techniques/optimization.md',
  check(context) {
    const { spec } = context;
    if (spec.task !== 'train') return [];
    const { trainRows, stepsPerEpoch } = runOf(context);
    if (trainRows > SMALL_DATASET_ROWS || spec.batchSize <= SMALL_BATCH || stepsPerEpoch >= MIN_STEPS_PER_EPOCH) return [];
    const suggested = Math.max(1, Math.min(SMALL_BATCH, Math.floor(trainRows / MIN_STEPS_PER_EPOCH)));
    return [
      {
        path: ['batchSize'],
        reason:
          `batchSize ${spec.batchSize} on ${trainRows} training rows is ${stepsPerEpoch} steps an epoch: on a small data set the noise of small batches ` +
          `regularises and the extra updates speed training up; try ${suggested} or less`,
      },
    ];
  },
};
