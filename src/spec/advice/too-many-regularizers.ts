import type { LayerSpec } from '../layer-spec.js';
import { isRecurrent, phasesOf, type AdviceRule } from './advice.js';

/** This many strong regularisers at once is too many. */
export const MAX_STRONG_REGULARIZERS = 2;

/** The strong regularisers a spec turns on, in words (a weak setting, such as dropout 0.1, is not counted). */
export function strongRegularizers(spec: Parameters<AdviceRule['check']>[0]['spec']): string[] {
  const layers: LayerSpec[] = spec.model.layers;
  const found: string[] = [];
  const dropout = Math.max(0, ...layers.map((layer) => (layer.type === 'dropout' ? layer.rate : isRecurrent(layer) ? Math.max(layer.dropout, layer.recurrentDropout ?? 0) : 0)));
  if (dropout >= 0.2) found.push(`dropout (up to ${dropout})`);
  if (layers.some((layer) => layer.type === 'batchNormalization' || (layer.type === 'lstm' && layer.recurrentBatchNorm))) found.push('batch normalization');
  const l2 = Math.max(spec.regularization.l2, ...layers.map((layer) => ('kernelRegularizer' in layer && layer.kernelRegularizer ? layer.kernelRegularizer.l2 : 0)));
  const l1 = Math.max(spec.regularization.l1, ...layers.map((layer) => ('kernelRegularizer' in layer && layer.kernelRegularizer ? layer.kernelRegularizer.l1 : 0)));
  if (l2 >= 1e-3) found.push(`an L2 penalty (λ₂ ${l2})`);
  if (l1 >= 1e-4) found.push(`an L1 penalty (λ₁ ${l1})`);
  // Coupled decay acts like an L2 penalty of λ; AdamW's decoupled λ is applied times η, and its default 0.01 is mild.
  const decay = phasesOf(spec).find(({ optimizer }) => (optimizer.type === 'adamw' ? optimizer.weightDecay >= 0.1 : (optimizer.weightDecay ?? 0) >= 1e-3));
  if (decay) found.push(`weight decay (λ ${decay.optimizer.weightDecay})`);
  if (spec.regularization.maxNorm !== undefined || layers.some((layer) => 'maxNorm' in layer && layer.maxNorm !== undefined)) found.push('max-norm constraints');
  if (spec.regularization.labelSmoothing >= 0.1) found.push(`label smoothing (ε ${spec.regularization.labelSmoothing})`);
  if (spec.regularization.confidencePenalty > 0 || spec.regularization.entropyThreshold) found.push('a confidence penalty');
  if (spec.gradientNoise) found.push('gradient noise');
  return found;
}

/** Several strong regularisers at once: they compound, and the model underfits. */
export const tooManyRegularizers: AdviceRule = {
  code: 'tooManyRegularizers',
  source: 'Lecture: "don\'t go crazy with regularization"; docs/techniques/regularization.md',
  check({ spec }) {
    const found = strongRegularizers(spec);
    if (found.length <= MAX_STRONG_REGULARIZERS) return [];
    return [
      {
        path: ['regularization'],
        reason:
          `${found.length} strong regularisers at once: ${found.join(', ')}. Their effects compound and the model is likely to underfit; ` +
          'start with one or two, and add another only while the validation loss says the model still overfits',
      },
    ];
  },
};
