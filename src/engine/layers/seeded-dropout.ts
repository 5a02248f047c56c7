import * as tf from '@tensorflow/tfjs';

/** The optimizer step the next forward pass belongs to; the trainer advances it. */
export interface StepClock {
  step: number;
  /**
   * Monte Carlo dropout (src/engine/mc-dropout.ts): masks are drawn in an inference pass too,
   * seeded by `step` as in training, while everything else (batch norm's running statistics)
   * stays in inference mode.
   */
  sampleDropout?: boolean;
}

export interface SeededDropoutArgs {
  name: string;
  rate: number;
  seed: number;
  clock: StepClock;
  /** One row's mask shape: 1 on an axis shares the draw along it (Keras's noise_shape without the batch). */
  noiseShape?: number[];
  inputShape?: number[];
}

/**
 * Inverted dropout with a fresh mask every step that is still reproducible: the mask's seed is
 * derived from (layer seed, step). tf.layers.dropout with a `seed` draws the *same* mask at every
 * step, and without one it is not reproducible. With `noiseShape` one draw is shared along each
 * axis of size 1 (the same mask over time, or whole channels), as Keras's noise_shape does. Serialises as a plain Dropout layer, so exported
 * models load anywhere.
 */
export class SeededDropout extends tf.layers.Layer {
  static readonly className = 'Dropout';
  private readonly rate: number;
  private readonly seed: number;
  private readonly clock: StepClock;
  private readonly noiseShape: number[] | undefined;

  constructor(args: SeededDropoutArgs) {
    super({ name: args.name, ...(args.inputShape ? { inputShape: args.inputShape } : {}) });
    this.rate = args.rate;
    this.seed = args.seed;
    this.clock = args.clock;
    this.noiseShape = args.noiseShape;
    this.supportsMasking = true;
  }

  /** Whether a pass through this layer draws a mask (in training, or when sampling). */
  get drawsMasks(): boolean {
    return this.rate > 0;
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape | tf.Shape[] {
    return inputShape;
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: { training?: boolean }): tf.Tensor {
    const x = Array.isArray(inputs) ? inputs[0]! : inputs;
    if (!(kwargs.training || this.clock.sampleDropout) || this.rate === 0) return x.clone();
    const seed = (this.seed ^ Math.imul(this.clock.step + 1, 0x9e3779b1)) >>> 0;
    return tf.dropout(x, this.rate, this.noiseShape ? [x.shape[0]!, ...this.noiseShape] : undefined, seed);
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), rate: this.rate, ...(this.noiseShape ? { noiseShape: [null, ...this.noiseShape] } : {}) };
  }
}
