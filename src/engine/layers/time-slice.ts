import * as tf from '@tensorflow/tfjs';
import { baseLayerArgs, positiveInteger, type BaseLayerArgs } from './multi-head-attention.js';

export interface TimeSliceArgs extends BaseLayerArgs {
  /** First step kept. */
  start: number;
  /** Steps kept. */
  length: number;
}

/**
 * x [B, T, …] → x[:, start : start + length, …]: how one input carrying two sequences side by side
 * (a seq2seq pair: the source, then the decoder's shifted target) feeds an encoder and a decoder.
 * TF.js has no layer that slices the time axis of token ids ([B, T], which Cropping1D cannot take).
 */
export class TimeSlice extends tf.layers.Layer {
  static readonly className = 'TrainyardTimeSlice';
  readonly start: number;
  readonly length: number;

  constructor(args: TimeSliceArgs) {
    super(baseLayerArgs(args));
    if (!Number.isInteger(args.start) || args.start < 0) throw new Error(`timeSlice start must be an integer ≥ 0, got ${JSON.stringify(args.start)}`);
    positiveInteger('length', args.length);
    this.start = args.start;
    this.length = args.length;
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tf.Shape;
    const steps = shape[1];
    if (steps != null && this.start + this.length > steps) throw new Error(`${this.name}: steps ${this.start} … ${this.start + this.length - 1} are beyond the input's ${steps}`);
    return [shape[0]!, this.length, ...shape.slice(2)];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    const x = Array.isArray(inputs) ? inputs[0]! : inputs;
    return tf.slice(x, [0, this.start, ...x.shape.slice(2).map(() => 0)], [-1, this.length, ...x.shape.slice(2).map(() => -1)]);
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), start: this.start, length: this.length };
  }
}
tf.serialization.registerClass(TimeSlice);
