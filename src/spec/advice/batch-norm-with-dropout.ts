import { isRecurrent, layerPath, type AdviceRule } from './advice.js';

/** Batch normalization and dropout in one feed-forward net. */
export const batchNormWithDropout: AdviceRule = {
  code: 'batchNormWithDropout',
  source: 'Lecture: "batch norm regularises, making dropout unnecessary"; Ioffe & Szegedy 2015, §4.2.1; docs/techniques/regularization.md',
  check({ spec }) {
    const layers = spec.model.layers;
    if (layers.some(isRecurrent) || !layers.some((layer) => layer.type === 'batchNormalization')) return [];
    const dropout = layers.findIndex((layer) => layer.type === 'dropout' && layer.rate > 0);
    if (dropout < 0) return [];
    return [
      {
        path: layerPath(dropout, 'rate'),
        reason:
          'batch normalization already regularises (each example is normalised with the statistics of a random batch), which makes dropout unnecessary: ' +
          'Ioffe & Szegedy removed it from their batch-normalised network and trained faster; together, dropout also shifts the variance batch norm measured in training away from what it sees at inference. ' +
          'Drop the dropout layers, or the batch norm',
      },
    ];
  },
};
