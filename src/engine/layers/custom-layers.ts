import * as tf from '@tensorflow/tfjs';
import { MultiHeadAttention } from './multi-head-attention.js';
import { PositionalEmbedding } from './positional-embedding.js';
import { TimeSlice } from './time-slice.js';
import { TransformerDecoderBlock } from './transformer-decoder-block.js';
import { TransformerEncoderBlock } from './transformer-encoder-block.js';

/**
 * Import this module before tf.loadLayersModel to load a model that uses Trainyard's attention-family
 * layers. It depends on @tensorflow/tfjs and the layer classes only (no service code), so an
 * application can ship it alone. Importing a class registers it already; registering again here
 * makes the list explicit and survives bundlers that drop side-effect-only imports.
 */
export const trainyardLayerClasses = [MultiHeadAttention, PositionalEmbedding, TimeSlice, TransformerEncoderBlock, TransformerDecoderBlock] as const;

for (const cls of trainyardLayerClasses) tf.serialization.registerClass(cls);

export { MultiHeadAttention, PositionalEmbedding, TimeSlice, TransformerDecoderBlock, TransformerEncoderBlock };
