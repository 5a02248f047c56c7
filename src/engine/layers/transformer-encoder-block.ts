import * as tf from '@tensorflow/tfjs';
import type { StepClock } from './seeded-dropout.js';
// The fused native kernel on the native backend, TF.js's own computation elsewhere: PyTorch's LayerNorm, (x − mean) / √(biased var + ε) · γ + β.
import { layerNorm } from './layer-normalization.js';
import {
  addAttentionWeights,
  baseLayerArgs,
  dense,
  DropoutSite,
  lastDim,
  mixSeed,
  multiHeadAttention,
  positiveInteger,
  reseeded,
  resolveInitializer,
  serializeInitializer,
  validateRate,
  type AttentionWeights,
  type BaseLayerArgs,
  type Initializer,
  type InitializerArg,
} from './multi-head-attention.js';

export type FeedForwardActivation = 'relu' | 'gelu';

/** GELU with the exact normal CDF, x · Φ(x) = x · (1 + erf(x/√2)) / 2 (PyTorch's default, not the tanh approximation). */
function gelu(x: tf.Tensor): tf.Tensor {
  return tf.mul(tf.mul(x, 0.5), tf.add(1, tf.erf(tf.mul(x, Math.SQRT1_2))));
}

/** What the encoder and decoder blocks share: arguments, weights of norms and the feed-forward, dropout sites. */
export interface TransformerBlockArgs extends BaseLayerArgs {
  numHeads: number;
  /** Hidden width of the feed-forward network. */
  ffDim: number;
  activation?: FeedForwardActivation;
  /** One rate for every dropout PyTorch's layer has: attention probabilities, each residual branch, the feed-forward's hidden layer. */
  dropout?: number;
  /** Pre-LN (norm before each sublayer) when true; post-LN, PyTorch's default, otherwise. */
  normFirst?: boolean;
  epsilon?: number;
  kernelInitializer?: InitializerArg;
  biasInitializer?: InitializerArg;
  seed?: number;
  clock?: StepClock;
}

export interface Norm {
  gamma: tf.LayerVariable;
  beta: tf.LayerVariable;
}

export interface FeedForward {
  inner: { kernel: tf.LayerVariable; bias: tf.LayerVariable };
  outer: { kernel: tf.LayerVariable; bias: tf.LayerVariable };
}

type WeightAdder = (name: string, shape: number[], initializer: Initializer) => tf.LayerVariable;

/**
 * The parts of a transformer block (Vaswani et al. 2017), with PyTorch's TransformerEncoderLayer /
 * TransformerDecoderLayer's formulas and dropout placement, and weights by Keras-style names:
 * `${sublayer}/query/kernel` …, `${sublayer}_norm/gamma|beta`, `feedforward_intermediate/kernel|bias`
 * [d, ffDim], `feedforward_output/kernel|bias` [ffDim, d], `feedforward_norm/gamma|beta`.
 * Each block calls addAttention / addNorm / addFeedForward in build and composes them in call.
 */
export abstract class TransformerBlock extends tf.layers.Layer {
  readonly numHeads: number;
  readonly ffDim: number;
  readonly activation: FeedForwardActivation;
  readonly dropout: number;
  readonly normFirst: boolean;
  readonly epsilon: number;
  readonly seed: number;
  readonly clock: StepClock;
  protected readonly kernelInitializer: Initializer;
  protected readonly biasInitializer: Initializer;
  /** Seed streams of the weights: each addition takes the next ones. */
  private nextStream = 0;
  private nextSite = 0;

  constructor(args: TransformerBlockArgs) {
    super(baseLayerArgs(args));
    positiveInteger('numHeads', args.numHeads);
    positiveInteger('ffDim', args.ffDim);
    const activation = args.activation ?? 'relu';
    if (activation !== 'relu' && activation !== 'gelu') throw new Error(`feed-forward activation must be 'relu' or 'gelu', got ${JSON.stringify(activation)}`);
    validateRate('dropout', args.dropout ?? 0);
    const epsilon = args.epsilon ?? 1e-5;
    if (!(epsilon > 0)) throw new Error(`epsilon must be positive, got ${epsilon}`);
    this.numHeads = args.numHeads;
    this.ffDim = args.ffDim;
    this.activation = activation;
    this.dropout = args.dropout ?? 0;
    this.normFirst = args.normFirst ?? false;
    this.epsilon = epsilon;
    this.seed = args.seed ?? 0;
    this.clock = args.clock ?? { step: 0 };
    this.kernelInitializer = resolveInitializer(args.kernelInitializer, () => tf.initializers.glorotUniform({}));
    this.biasInitializer = resolveInitializer(args.biasInitializer, () => tf.initializers.zeros());
  }

  get drawsMasks(): boolean {
    return this.dropout > 0;
  }

  private get adder(): WeightAdder {
    return (name, shape, init) => this.addWeight(name, shape, 'float32', init, undefined, true);
  }

  /** Model width d of the block's input [B, T, d]; the heads split it as PyTorch does (d / numHeads each). */
  protected modelDim(shape: tf.Shape, what: string): number {
    const d = lastDim(shape, what);
    if (d % this.numHeads !== 0) throw new Error(`${this.name}: the model width ${d} must be divisible by numHeads ${this.numHeads}`);
    return d;
  }

  protected addAttention(prefix: string, d: number, memoryDim: number): AttentionWeights {
    const shape = { numHeads: this.numHeads, keyDim: d / this.numHeads, valueDim: d / this.numHeads, queryInput: d, keyInput: memoryDim, valueInput: memoryDim, outputDim: d };
    const weights = addAttentionWeights(this.adder, `${prefix}/`, shape, true, this.kernelInitializer, this.biasInitializer, this.nextStream);
    this.nextStream += 8;
    return weights;
  }

  protected addNorm(prefix: string, d: number): Norm {
    return {
      gamma: this.adder(`${prefix}/gamma`, [d], tf.initializers.ones()),
      beta: this.adder(`${prefix}/beta`, [d], tf.initializers.zeros()),
    };
  }

  protected addFeedForward(d: number): FeedForward {
    const kernel = (stream: number) => reseeded(this.kernelInitializer, this.nextStream + stream);
    const bias = (stream: number) => reseeded(this.biasInitializer, this.nextStream + stream);
    const weights = {
      inner: { kernel: this.adder('feedforward_intermediate/kernel', [d, this.ffDim], kernel(0)), bias: this.adder('feedforward_intermediate/bias', [this.ffDim], bias(1)) },
      outer: { kernel: this.adder('feedforward_output/kernel', [this.ffDim, d], kernel(2)), bias: this.adder('feedforward_output/bias', [d], bias(3)) },
    };
    this.nextStream += 4;
    return weights;
  }

  /** A dropout site with its own seed stream (the n-th site the block creates). */
  protected dropoutSite(): DropoutSite {
    const site = this.nextSite++;
    return new DropoutSite(`${this.name}_dropout_${site}`, this.dropout, mixSeed(this.seed, site), this.clock);
  }

  protected norm(x: tf.Tensor, norm: Norm): tf.Tensor {
    return layerNorm(x, norm.gamma.read(), norm.beta.read(), this.epsilon);
  }

  protected attend(query: tf.Tensor, memory: tf.Tensor, weights: AttentionWeights, causal: boolean, probabilities: DropoutSite, training: boolean): tf.Tensor {
    return multiHeadAttention(query, memory, memory, weights, {
      numHeads: this.numHeads,
      causal,
      dropProbabilities: probabilities.drops(training) ? (p) => probabilities.apply(p, training) : null,
    });
  }

  /** linear2(dropout(activation(linear1(x)))), as PyTorch's _ff_block before its last dropout. */
  protected feedForward(x: tf.Tensor, weights: FeedForward, hidden: DropoutSite, training: boolean): tf.Tensor {
    // Relu inside the product's kernel; gelu after it.
    const pre = dense(x, weights.inner.kernel.read(), weights.inner.bias.read(), this.activation === 'relu' ? 'relu' : 'linear');
    const h = this.activation === 'gelu' ? gelu(pre) : pre;
    return dense(hidden.apply(h, training), weights.outer.kernel.read(), weights.outer.bias.read());
  }

  /** x + dropout(sublayer(x)), with the norm before the sublayer (pre-LN) or after the sum (post-LN). */
  protected residual(x: tf.Tensor, norm: Norm, after: DropoutSite, training: boolean, sublayer: (input: tf.Tensor) => tf.Tensor): tf.Tensor {
    if (this.normFirst) return tf.add(x, after.apply(sublayer(this.norm(x, norm)), training));
    return this.norm(tf.add(x, after.apply(sublayer(x), training)), norm);
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    return (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tf.Shape;
  }

  override getConfig(): tf.serialization.ConfigDict {
    return {
      ...super.getConfig(),
      numHeads: this.numHeads,
      ffDim: this.ffDim,
      activation: this.activation,
      dropout: this.dropout,
      normFirst: this.normFirst,
      epsilon: this.epsilon,
      seed: this.seed,
      kernelInitializer: serializeInitializer(this.kernelInitializer),
      biasInitializer: serializeInitializer(this.biasInitializer),
    };
  }
}

export interface TransformerEncoderBlockArgs extends TransformerBlockArgs {
  /** Position i attends to positions ≤ i. */
  causal?: boolean;
}

/**
 * Self-attention and a feed-forward network, each in a residual branch with layer norm: equal to
 * torch.nn.TransformerEncoderLayer(d, numHeads, ffDim, dropout, activation, layer_norm_eps,
 * batch_first=True, norm_first) given the same weights (and, with `causal`, a causal src_mask).
 * x [B, T, d] → [B, T, d].
 */
export class TransformerEncoderBlock extends TransformerBlock {
  static readonly className = 'TrainyardTransformerEncoderBlock';
  readonly causal: boolean;
  private parts: { attention: AttentionWeights; attentionNorm: Norm; feedForward: FeedForward; feedForwardNorm: Norm } | null = null;
  // PyTorch's dropout sites: self_attn's on the probabilities, dropout1, the feed-forward's, dropout2.
  private readonly sites: { probabilities: DropoutSite; attention: DropoutSite; hidden: DropoutSite; feedForward: DropoutSite };

  constructor(args: TransformerEncoderBlockArgs) {
    super(args);
    this.causal = args.causal ?? false;
    this.sites = { probabilities: this.dropoutSite(), attention: this.dropoutSite(), hidden: this.dropoutSite(), feedForward: this.dropoutSite() };
  }

  override build(inputShape: tf.Shape | tf.Shape[]): void {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tf.Shape;
    const d = this.modelDim(shape, `${this.name}'s input`);
    this.parts = {
      attention: this.addAttention('self_attention', d, d),
      attentionNorm: this.addNorm('self_attention_norm', d),
      feedForward: this.addFeedForward(d),
      feedForwardNorm: this.addNorm('feedforward_norm', d),
    };
    this.built = true;
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: { training?: boolean }): tf.Tensor {
    return tf.tidy(() => {
      const x = Array.isArray(inputs) ? inputs[0]! : inputs;
      const training = kwargs.training === true;
      const w = this.parts!;
      const s = this.sites;
      const attended = this.residual(x, w.attentionNorm, s.attention, training, (h) => this.attend(h, h, w.attention, this.causal, s.probabilities, training));
      return this.residual(attended, w.feedForwardNorm, s.feedForward, training, (h) => this.feedForward(h, w.feedForward, s.hidden, training));
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), causal: this.causal };
  }
}
tf.serialization.registerClass(TransformerEncoderBlock);
