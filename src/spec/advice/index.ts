import type { DatasetShape } from '../dataset-spec.js';
import type { ResolvedJobSpec } from '../job-spec.js';
import { toAdvice, type Advice, type AdviceRule } from './advice.js';
import { adamRateFarFromDefault } from './adam-rate-far-from-default.js';
import { adamThenSgd } from './adam-then-sgd.js';
import { batchNormWithDropout } from './batch-norm-with-dropout.js';
import { deepReluVariance } from './deep-relu-variance.js';
import { heInitWithSaturatingActivation } from './he-init-with-saturating-activation.js';
import { irnnWithoutRelu } from './irnn-without-relu.js';
import { largeBatchSmallDataset } from './large-batch-small-dataset.js';
import { momentumOutOfRange } from './momentum-out-of-range.js';
import { noLearningRateDecay } from './no-learning-rate-decay.js';
import { plainDropoutOnSequence } from './plain-dropout-on-sequence.js';
import { recurrentBatchNormGamma } from './recurrent-batch-norm-gamma.js';
import { tooManyRegularizers } from './too-many-regularizers.js';
import { unscaledLearningRate } from './unscaled-learning-rate.js';

export type { Advice, AdviceRule } from './advice.js';
export { adviceCodes, type AdviceCode } from './codes.js';

/** Every rule, in the order their advice is listed: batch and rate, optimizer, initialization, layers, regularisation. */
export const adviceRules: readonly AdviceRule[] = [
  unscaledLearningRate,
  largeBatchSmallDataset,
  momentumOutOfRange,
  adamRateFarFromDefault,
  noLearningRateDecay,
  adamThenSgd,
  heInitWithSaturatingActivation,
  deepReluVariance,
  batchNormWithDropout,
  plainDropoutOnSequence,
  recurrentBatchNormGamma,
  irnnWithoutRelu,
  tooManyRegularizers,
];

/**
 * The lecture's practical tips a resolved spec goes against, but those its `silenceAdvice` names.
 * Advice never refuses a job: it is given beside it (docs/advice.md).
 */
export function adviseOn(spec: ResolvedJobSpec, info: DatasetShape): Advice[] {
  const silenced = new Set<string>(spec.silenceAdvice ?? []);
  return adviceRules.filter((rule) => !silenced.has(rule.code)).flatMap((rule) => rule.check({ spec, info }).map((finding) => toAdvice(rule, finding)));
}
