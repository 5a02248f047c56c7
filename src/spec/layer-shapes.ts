/**
 * Output shapes of a layer stack, computed from the spec alone so a model that cannot be built
 * (a conv after a flatten, a dense layer on an image) is a 400 at submission, naming the layer,
 * rather than a failed job later. Shapes exclude the batch dimension.
 */
export type Shape = number[];

export type ShapedLayer =
  | { type: 'dense'; units: number }
  | { type: 'activation' | 'dropout' | 'batchNormalization' | 'layerNormalization' }
  | { type: 'conv2d'; filters: number; kernelSize: number | [number, number]; strides: number | [number, number]; padding: 'valid' | 'same' }
  | { type: 'maxPool2d' | 'avgPool2d'; poolSize: number | [number, number]; strides?: number | [number, number]; padding: 'valid' | 'same' }
  | { type: 'flatten' }
  | { type: 'simpleRnn' | 'lstm' | 'gru'; units: number; returnSequences: boolean }
  | { type: 'embedding'; outputDim: number }
  | { type: 'reshape'; targetShape: number[] };

export type ShapeResult = { shapes: Shape[] } | { index: number; message: string };

const pair = (value: number | [number, number]): [number, number] => (typeof value === 'number' ? [value, value] : value);
const size = (shape: Shape) => shape.reduce((a, b) => a * b, 1);

/** TF's conv/pool output size: 'same' keeps ⌈n/s⌉, 'valid' ⌈(n − k + 1)/s⌉. */
function windowed(n: number, kernel: number, stride: number, padding: 'valid' | 'same'): number {
  return padding === 'same' ? Math.ceil(n / stride) : Math.ceil((n - kernel + 1) / stride);
}

export function inferShapes(input: Shape, layers: ShapedLayer[]): ShapeResult {
  const shapes: Shape[] = [];
  let shape = input;
  for (const [index, layer] of layers.entries()) {
    switch (layer.type) {
      case 'dense':
        // On a sequence [T, features] a dense layer acts on each step (as in Keras).
        if (shape.length > 2) return { index, message: `a dense layer needs a flat input, not shape [${shape.join(', ')}]: add a flatten layer before it` };
        shape = [...shape.slice(0, -1), layer.units];
        break;
      case 'simpleRnn':
      case 'lstm':
      case 'gru':
        if (shape.length !== 2) {
          return { index, message: `${layer.type} needs a sequence input of shape [steps, features], not [${shape.join(', ')}]: add a reshape layer before it` };
        }
        shape = layer.returnSequences ? [shape[0]!, layer.units] : [layer.units];
        break;
      case 'embedding':
        if (index !== 0 || shape.length !== 1) return { index, message: 'an embedding takes token ids [steps]: it must be the first layer' };
        shape = [shape[0]!, layer.outputDim];
        break;
      case 'activation':
      case 'dropout':
      case 'batchNormalization':
      case 'layerNormalization':
        break;
      case 'conv2d':
      case 'maxPool2d':
      case 'avgPool2d': {
        if (shape.length !== 3) return { index, message: `${layer.type} needs an input of shape [height, width, channels], not [${shape.join(', ')}]` };
        const [kh, kw] = pair(layer.type === 'conv2d' ? layer.kernelSize : layer.poolSize);
        const [sh, sw] = pair(layer.type === 'conv2d' ? layer.strides : (layer.strides ?? layer.poolSize));
        const height = windowed(shape[0]!, kh, sh, layer.padding);
        const width = windowed(shape[1]!, kw, sw, layer.padding);
        if (height < 1 || width < 1) {
          return { index, message: `a ${kh}×${kw} window does not fit the ${shape[0]}×${shape[1]} input with padding "${layer.padding}"` };
        }
        shape = [height, width, layer.type === 'conv2d' ? layer.filters : shape[2]!];
        break;
      }
      case 'flatten':
        shape = [size(shape)];
        break;
      case 'reshape':
        if (size(layer.targetShape) !== size(shape)) {
          return { index, message: `cannot reshape [${shape.join(', ')}] (${size(shape)} values) to [${layer.targetShape.join(', ')}] (${size(layer.targetShape)} values)` };
        }
        shape = [...layer.targetShape];
        break;
    }
    shapes.push(shape);
  }
  return { shapes };
}
