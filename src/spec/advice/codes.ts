/**
 * The codes of the advice Trainyard gives on a submitted spec (docs/advice.md), one per rule in
 * this folder. A leaf module so the job spec can list them (`silenceAdvice`) without importing the
 * rules, which import the spec.
 */
export const adviceCodes = [
  'unscaledLearningRate',
  'largeBatchSmallDataset',
  'momentumOutOfRange',
  'adamRateFarFromDefault',
  'noLearningRateDecay',
  'adamThenSgd',
  'heInitWithSaturatingActivation',
  'deepReluVariance',
  'batchNormWithDropout',
  'plainDropoutOnSequence',
  'recurrentBatchNormGamma',
  'irnnWithoutRelu',
  'tooManyRegularizers',
] as const;
export type AdviceCode = (typeof adviceCodes)[number];
