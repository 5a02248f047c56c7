import { z } from 'zod';

export const lossNames = ['categoricalCrossentropy', 'sparseCategoricalCrossentropy', 'binaryCrossentropy', 'meanSquaredError'] as const;
export type LossName = (typeof lossNames)[number];

export const lossSchema = z
  .enum(['auto', ...lossNames])
  .default('auto')
  .describe(
    'auto: categoricalCrossentropy for classification, meanSquaredError for regression. ' +
      'categoricalCrossentropy trains on one-hot labels, sparseCategoricalCrossentropy on class indices (the same loss, K times less label memory); ' +
      'binaryCrossentropy: per output unit, on one sigmoid unit for two classes or one unit per class; meanSquaredError: mean of (ŷ − y)² (on one-hot labels for classification)',
  )
  .meta({ id: 'Loss' });

export const resolvedLossSchema = z.enum(lossNames).meta({ id: 'ResolvedLoss' });

/** The loss a spec runs with: `auto` follows the data set's task (classes 0 = regression). */
export function resolveLoss(loss: LossName | 'auto', classes: number): LossName {
  if (loss !== 'auto') return loss;
  return classes === 0 ? 'meanSquaredError' : 'categoricalCrossentropy';
}

/** Losses over a softmax distribution: the confidence options (smoothing, penalty, threshold) apply to them. */
export const isCategorical = (loss: LossName) => loss === 'categoricalCrossentropy' || loss === 'sparseCategoricalCrossentropy';
