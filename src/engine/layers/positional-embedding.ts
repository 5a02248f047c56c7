import * as tf from '@tensorflow/tfjs';
import { baseLayerArgs, lastDim, positiveInteger, reseeded, resolveInitializer, serializeInitializer, type BaseLayerArgs, type Initializer, type InitializerArg } from './multi-head-attention.js';

export type PositionalEmbeddingMode = 'learned' | 'sinusoidal';

export interface PositionalEmbeddingArgs extends BaseLayerArgs {
  mode: PositionalEmbeddingMode;
  /** The longest sequence the layer accepts (rows of the learned table). */
  maxLength: number;
  /** learned only; seeded glorotUniform from `seed` when absent. */
  embeddingsInitializer?: InitializerArg;
  seed?: number;
}

/**
 * Sinusoidal position vectors (Vaswani et al. 2017, §3.5): PE(p, 2i) = sin(p / 10000^(2i/d)),
 * PE(p, 2i+1) = cos(p / 10000^(2i/d)), computed in double precision and rounded once.
 */
export function sinusoidalPositions(length: number, dim: number): Float32Array {
  const values = new Float32Array(length * dim);
  for (let p = 0; p < length; p++) {
    for (let j = 0; j < dim; j++) {
      const angle = p / Math.pow(10000, (2 * Math.floor(j / 2)) / dim);
      values[p * dim + j] = j % 2 === 0 ? Math.sin(angle) : Math.cos(angle);
    }
  }
  return values;
}

/** x [B, T, d] → x + position vectors of positions 0 … T − 1 (learned or sinusoidal). */
export class PositionalEmbedding extends tf.layers.Layer {
  static readonly className = 'TrainyardPositionalEmbedding';
  readonly mode: PositionalEmbeddingMode;
  readonly maxLength: number;
  readonly seed: number;
  private readonly embeddingsInitializer: Initializer;
  private embeddings: tf.LayerVariable | null = null;

  constructor(args: PositionalEmbeddingArgs) {
    super(baseLayerArgs(args));
    if (args.mode !== 'learned' && args.mode !== 'sinusoidal') throw new Error(`positional embedding mode must be 'learned' or 'sinusoidal', got ${JSON.stringify(args.mode)}`);
    positiveInteger('maxLength', args.maxLength);
    this.mode = args.mode;
    this.maxLength = args.maxLength;
    this.seed = args.seed ?? 0;
    this.embeddingsInitializer = resolveInitializer(args.embeddingsInitializer, () => tf.initializers.glorotUniform({ seed: this.seed }));
  }

  override build(inputShape: tf.Shape | tf.Shape[]): void {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tf.Shape;
    const dim = lastDim(shape, `${this.name}'s input`);
    const length = shape[1];
    if (length != null) this.checkLength(length);
    if (this.mode === 'learned') {
      this.embeddings = this.addWeight('embeddings', [this.maxLength, dim], 'float32', reseeded(this.embeddingsInitializer, 0), undefined, true);
    }
    this.built = true;
  }

  private checkLength(length: number): void {
    if (length > this.maxLength) throw new Error(`${this.name}: sequence length ${length} exceeds maxLength ${this.maxLength}`);
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    return (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tf.Shape;
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = Array.isArray(inputs) ? inputs[0]! : inputs;
      const [, length, dim] = x.shape as [number, number, number];
      this.checkLength(length);
      const positions = this.embeddings
        ? tf.slice(this.embeddings.read(), [0, 0], [length, dim])
        : tf.tensor2d(sinusoidalPositions(length, dim), [length, dim]);
      return tf.add(x, positions);
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return {
      ...super.getConfig(),
      mode: this.mode,
      maxLength: this.maxLength,
      seed: this.seed,
      ...(this.mode === 'learned' ? { embeddingsInitializer: serializeInitializer(this.embeddingsInitializer) } : {}),
    };
  }
}
tf.serialization.registerClass(PositionalEmbedding);
