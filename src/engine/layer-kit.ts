import { resolveInitializer, type InitializerRef } from '../spec/initializer-spec.js';
import * as tf from '@tensorflow/tfjs';
import { BatchNormalization } from './layers/batch-normalization.js';
import { Conv2D } from './layers/conv2d.js';
import { Dense } from './layers/dense.js';
import { LayerNormalization } from './layers/layer-normalization.js';
import { RecurrentLayer } from './layers/recurrent.js';
import { SeededDropout } from './layers/seeded-dropout.js';
import { MultiHeadAttention, PositionalEmbedding, TimeSlice, TransformerDecoderBlock, TransformerEncoderBlock } from './layers/custom-layers.js';

/**
 * The engine's own layer classes and helpers, handed to each layer module's builder
 * (src/layers/layer-definition.ts) so the layer modules need not import TF.js themselves.
 */
export const layerKit = {
  BatchNormalization,
  Conv2D,
  Dense,
  LayerNormalization,
  RecurrentLayer,
  SeededDropout,
  MultiHeadAttention,
  PositionalEmbedding,
  TimeSlice,
  TransformerEncoderBlock,
  TransformerDecoderBlock,
  namedInitializer,
};
export type LayerKit = typeof layerKit;

/**
 * The TF.js initializer that names a spec initializer in an exported model.json. Only the name
 * matters: training draws the values itself. TF.js knows no untruncated normal, so glorotNormal and
 * heNormal are named by their TF.js classes, which truncate (docs/techniques/initialization.md).
 */
function namedInitializer(ref: InitializerRef): ReturnType<typeof tf.initializers.zeros> {
  const config = resolveInitializer(ref);
  switch (config.type) {
    case 'uniform':
      return tf.initializers.randomUniform({ minval: -config.limit, maxval: config.limit });
    case 'normal':
      return tf.initializers.randomNormal({ mean: config.mean, stddev: config.stddev });
    case 'zeros':
      return tf.initializers.zeros();
    case 'constant':
      return tf.initializers.constant({ value: config.value });
    case 'glorotUniform':
      return tf.initializers.glorotUniform({});
    case 'glorotNormal':
      return tf.initializers.glorotNormal({});
    case 'heNormal':
      return tf.initializers.heNormal({});
    case 'heUniform':
      return tf.initializers.heUniform({});
    case 'orthogonal':
      return tf.initializers.orthogonal({ gain: config.gain });
    case 'identity':
      return tf.initializers.identity({ gain: config.gain });
  }
}
