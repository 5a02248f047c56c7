import { z } from 'zod';
import { activation, activationLayerSchema } from './activation.js';
import { batchNormalization, batchNormalizationLayerSchema } from './batch-normalization.js';
import { conv2d, conv2dLayerSchema } from './conv2d.js';
import { depthwiseConv2d, depthwiseConv2dLayerSchema, separableConv2d, separableConv2dLayerSchema } from './depthwise-conv-2d.js';
import { dense, denseLayerSchema } from './dense.js';
import { dropout, dropoutLayerSchema } from './dropout.js';
import { embedding, embeddingLayerSchema } from './embedding.js';
import { flatten, flattenLayerSchema } from './flatten.js';
import { globalAvgPool, globalAvgPoolLayerSchema, globalMaxPool, globalMaxPoolLayerSchema } from './global-pooling.js';
import { DEFAULT_INITIALIZED, type LayerDefinition } from './layer-definition.js';
import type { InitializerRef } from '../spec/initializer-spec.js';
import { layerNormalization, layerNormalizationLayerSchema } from './layer-normalization.js';
import { multiHeadAttention, multiHeadAttentionLayerSchema } from './multi-head-attention.js';
import { positionalEmbedding, positionalEmbeddingLayerSchema } from './positional-embedding.js';
import { transformerDecoder, transformerDecoderLayerSchema, transformerEncoder, transformerEncoderLayerSchema } from './transformer-blocks.js';
import { add, addLayerSchema, average, averageLayerSchema, concatenate, concatenateLayerSchema, multiply, multiplyLayerSchema } from './merge.js';
import { avgPool2d, avgPool2dLayerSchema, maxPool2d, maxPool2dLayerSchema } from './pooling-2d.js';
import { gru, gruLayerSchema, lstm, lstmLayerSchema, simpleRnn, simpleRnnLayerSchema } from './recurrent.js';
import { reshape, reshapeLayerSchema } from './reshape.js';
import { timeSlice, timeSliceLayerSchema } from './time-slice.js';
import { upSampling2d, upSampling2dLayerSchema } from './up-sampling-2d.js';
import { zeroPadding2d, zeroPadding2dLayerSchema } from './zero-padding-2d.js';

/**
 * Every layer type. Adding one: a module beside this one (schema, shape rule, weights, builder),
 * its schema in the union and its definition in the table; TypeScript refuses a table that misses a type.
 */
export const layerSchema = z
  .discriminatedUnion('type', [
    simpleRnnLayerSchema,
    lstmLayerSchema,
    gruLayerSchema,
    embeddingLayerSchema,
    batchNormalizationLayerSchema,
    layerNormalizationLayerSchema,
    denseLayerSchema,
    activationLayerSchema,
    dropoutLayerSchema,
    conv2dLayerSchema,
    depthwiseConv2dLayerSchema,
    separableConv2dLayerSchema,
    maxPool2dLayerSchema,
    avgPool2dLayerSchema,
    globalAvgPoolLayerSchema,
    globalMaxPoolLayerSchema,
    zeroPadding2dLayerSchema,
    upSampling2dLayerSchema,
    flattenLayerSchema,
    reshapeLayerSchema,
    timeSliceLayerSchema,
    addLayerSchema,
    multiplyLayerSchema,
    averageLayerSchema,
    concatenateLayerSchema,
    positionalEmbeddingLayerSchema,
    multiHeadAttentionLayerSchema,
    transformerEncoderLayerSchema,
    transformerDecoderLayerSchema,
  ])
  .meta({ id: 'Layer' });
export type LayerSpec = z.infer<typeof layerSchema>;
export type LayerType = LayerSpec['type'];

type Registry = { [T in LayerType]: LayerDefinition<Extract<LayerSpec, { type: T }>> };

const registry: Registry = {
  simpleRnn,
  lstm,
  gru,
  embedding,
  batchNormalization,
  layerNormalization,
  dense,
  activation,
  dropout,
  conv2d,
  depthwiseConv2d,
  separableConv2d,
  maxPool2d,
  avgPool2d,
  globalAvgPool,
  globalMaxPool,
  zeroPadding2d,
  upSampling2d,
  flatten,
  reshape,
  timeSlice,
  add,
  multiply,
  average,
  concatenate,
  positionalEmbedding,
  multiHeadAttention,
  transformerEncoder,
  transformerDecoder,
};

/** The definition of a layer's type, typed for that layer. */
export const definitionOf = <L extends LayerSpec>(layer: L): LayerDefinition<L> => registry[layer.type] as unknown as LayerDefinition<L>;

export const layerTypes = Object.keys(registry) as LayerType[];

/** Each spec initializer field the layer's type has, the weight it initialises and what the spec says (undefined: the default). */
export function initializerFields(layer: LayerSpec): { field: string; weight: string; ref: InitializerRef | undefined }[] {
  return Object.entries(definitionOf(layer).initialized ?? DEFAULT_INITIALIZED).map(([field, weight]) => ({ field, weight, ref: (layer as Record<string, unknown>)[field] as InitializerRef | undefined }));
}
