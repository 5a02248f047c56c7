import { describeShape, pair, windowed, type Shape } from './layer-definition.js';

/** The output of a 2-D window (convolution or pooling) sliding over [height, width, channels]. */
export function windowedShape(
  what: string,
  input: Shape,
  window: { kernelSize: number | [number, number]; strides: number | [number, number]; padding: 'valid' | 'same' },
  channels: number,
): Shape | string {
  if (input.length !== 3) return `${what} needs an input of shape [height, width, channels], not ${describeShape(input)}`;
  const [kh, kw] = pair(window.kernelSize);
  const [sh, sw] = pair(window.strides);
  const height = windowed(input[0]!, kh, sh, window.padding);
  const width = windowed(input[1]!, kw, sw, window.padding);
  if (height < 1 || width < 1) return `a ${kh}×${kw} window does not fit the ${input[0]}×${input[1]} input with padding "${window.padding}"`;
  return [height, width, channels];
}
