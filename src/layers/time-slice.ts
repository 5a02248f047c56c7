import { z } from 'zod';
import { layerObject } from './fields.js';
import { describeShape, type LayerDefinition } from './layer-definition.js';

export const timeSliceLayerSchema = layerObject('timeSlice', {
  start: z.int().min(0).max(100_000).default(0).describe('First step kept'),
  length: z.int().min(1).max(100_000).describe('Steps kept'),
}).meta({
  id: 'TimeSliceLayer',
  description:
    'Steps start … start + length − 1 of a sequence [T, …] → [length, …]. Splits a seq2seq pair\'s input (the source, then the shifted target) ' +
    'between an encoder and a decoder; token ids pass through to an embedding',
});
export type TimeSliceLayerSpec = z.infer<typeof timeSliceLayerSchema>;

export const timeSlice: LayerDefinition<TimeSliceLayerSpec> = {
  schema: timeSliceLayerSchema,
  passesTokens: true,
  outputShape(layer, [input]) {
    if (input!.length < 1) return `timeSlice needs a sequence, not ${describeShape(input!)}`;
    if (layer.start + layer.length > input![0]!) return `steps ${layer.start} … ${layer.start + layer.length - 1} are beyond the input's ${input![0]} steps`;
    return [layer.length, ...input!.slice(1)];
  },
  build: (layer, { kit, name, inputShape }) => new kit.TimeSlice({ name, ...(inputShape ? { inputShape } : {}), start: layer.start, length: layer.length }),
};
