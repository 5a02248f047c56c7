import { describe, expect, it } from 'vitest';
import { layerSchema } from '../../src/layers/registry.js';
import { inferShapes as inferShapesOf } from '../../src/spec/layer-shapes.js';

/** Layers as the job spec holds them: parsed, so their defaults are filled in. */
const inferShapes = (input: number[], layers: unknown[]) => inferShapesOf(input, layers.map((layer) => layerSchema.parse(layer)));

describe('layer shapes', () => {
  it('follows a CNN over 28×28×1 images like TF does', () => {
    const result = inferShapes([28, 28, 1], [
      { type: 'conv2d', filters: 32, kernelSize: 3, strides: 1, padding: 'valid' },
      { type: 'conv2d', filters: 64, kernelSize: 3, strides: 1, padding: 'valid' },
      { type: 'maxPool2d', poolSize: 2, padding: 'valid' },
      { type: 'flatten' },
      { type: 'dense', units: 128 },
      { type: 'dropout', rate: 0.5 },
      { type: 'dense', units: 10 },
    ]);
    expect(result).toMatchObject({ shapes: [[26, 26, 32], [24, 24, 64], [12, 12, 64], [9216], [128], [128], [10]] });
  });

  it("handles 'same' padding, strides and non-square windows", () => {
    expect(inferShapes([28, 28, 1], [{ type: 'conv2d', filters: 4, kernelSize: [5, 3], strides: 2, padding: 'same' }])).toMatchObject({ shapes: [[14, 14, 4]] });
    expect(inferShapes([10, 9, 3], [{ type: 'avgPool2d', poolSize: [2, 3], strides: [2, 3], padding: 'valid' }])).toMatchObject({ shapes: [[5, 3, 3]] });
  });

  it.each([
    ['a conv after a flatten', [28, 28, 1], [{ type: 'flatten' }, { type: 'conv2d', filters: 8, kernelSize: 3, strides: 1, padding: 'valid' }], 1, /needs an input of shape \[height, width, channels\], not \[784\]/],
    ['a dense layer on an image', [28, 28, 1], [{ type: 'dense', units: 10 }], 0, /add a flatten layer before it/],
    ['a window larger than the input', [4, 4, 1], [{ type: 'conv2d', filters: 8, kernelSize: 5, strides: 1, padding: 'valid' }], 0, /does not fit the 4×4 input/],
    ['a reshape that changes the size', [784], [{ type: 'reshape', targetShape: [28, 27, 1] }], 0, /cannot reshape \[784\]/],
  ] as const)('names the layer for %s', (_what, input, layers, index, message) => {
    const result = inferShapes([...input], [...layers]);
    expect(result).toMatchObject({ index, message: expect.stringMatching(message) });
  });
});
