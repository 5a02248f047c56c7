import { z } from 'zod';
import { layerObject } from './fields.js';
import { describeShape, type LayerDefinition, type Shape } from './layer-definition.js';

/** add, multiply and average (elementwise, equal shapes) and concatenate (along the last axis). */

const many = { min: 2, max: 16 };
const needsInputs = 'lists its inputs: two or more earlier layers (or "input")';

export const addLayerSchema = layerObject('add', {}).meta({ id: 'AddLayer', description: `Elementwise sum of its inputs (a residual connection); ${needsInputs}` });
export const multiplyLayerSchema = layerObject('multiply', {}).meta({ id: 'MultiplyLayer', description: `Elementwise product of its inputs (gating); ${needsInputs}` });
export const averageLayerSchema = layerObject('average', {}).meta({ id: 'AverageLayer', description: `Elementwise mean of its inputs; ${needsInputs}` });
export const concatenateLayerSchema = layerObject('concatenate', {}).meta({
  id: 'ConcatenateLayer',
  description: `Its inputs joined along the last axis (channels, features); the other axes must agree; ${needsInputs}`,
});

type ElementwiseSpec = z.infer<typeof addLayerSchema> | z.infer<typeof multiplyLayerSchema> | z.infer<typeof averageLayerSchema>;

const same = (a: Shape, b: Shape) => a.length === b.length && a.every((size, i) => size === b[i]);

function elementwise<L extends ElementwiseSpec>(schema: z.ZodType<L, unknown>): LayerDefinition<L> {
  return {
    schema,
    arity: many,
    outputShape(layer, inputs) {
      const first = inputs[0]!;
      const other = inputs.findIndex((shape) => !same(shape, first));
      if (other >= 0) return `${layer.type} needs inputs of one shape: input 0 is ${describeShape(first)}, input ${other} is ${describeShape(inputs[other]!)}`;
      return first;
    },
    build: (layer, { tf, name }) => (layer.type === 'add' ? tf.layers.add({ name }) : layer.type === 'multiply' ? tf.layers.multiply({ name }) : tf.layers.average({ name })),
  };
}

export const add = elementwise(addLayerSchema);
export const multiply = elementwise(multiplyLayerSchema);
export const average = elementwise(averageLayerSchema);

export const concatenate: LayerDefinition<z.infer<typeof concatenateLayerSchema>> = {
  schema: concatenateLayerSchema,
  arity: many,
  outputShape(_layer, inputs) {
    const first = inputs[0]!;
    const other = inputs.findIndex((shape) => !same(shape.slice(0, -1), first.slice(0, -1)));
    if (other >= 0) return `concatenate joins the last axis, so the others must agree: input 0 is ${describeShape(first)}, input ${other} is ${describeShape(inputs[other]!)}`;
    return [...first.slice(0, -1), inputs.reduce((sum, shape) => sum + shape.at(-1)!, 0)];
  },
  build: (_layer, { tf, name }) => tf.layers.concatenate({ name, axis: -1 }),
};
