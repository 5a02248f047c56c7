import * as tf from '@tensorflow/tfjs';
import { ATTENTION_GRAD_KERNEL, ATTENTION_KERNEL } from './fused-kernel-names.js';
import { fusedDense, fusedDenseAvailable } from './fused-matmul-gradient.js';
import { SeededDropout, type StepClock } from './seeded-dropout.js';

/** TF.js's Initializer class (not exported under tf.initializers as a type). */
export type Initializer = ReturnType<typeof tf.initializers.zeros>;
/** An initializer, or its serialised form ({ className, config }) as getConfig writes it. */
export type InitializerArg = Initializer | tf.serialization.ConfigDict;

/** Base layer arguments a saved config carries back into the constructor. */
export interface BaseLayerArgs {
  name: string;
  inputShape?: number[];
  batchInputShape?: Array<number | null>;
  trainable?: boolean;
}

export function baseLayerArgs(args: BaseLayerArgs): BaseLayerArgs {
  return {
    name: args.name,
    ...(args.inputShape ? { inputShape: args.inputShape } : {}),
    ...(args.batchInputShape ? { batchInputShape: args.batchInputShape } : {}),
    ...(typeof args.trainable === 'boolean' ? { trainable: args.trainable } : {}),
  };
}

export function resolveInitializer(value: InitializerArg | undefined, fallback: () => Initializer): Initializer {
  if (value === undefined || value === null) return fallback();
  if (value instanceof tf.serialization.Serializable) return value as Initializer;
  const { className, config } = value as { className?: string; config?: tf.serialization.ConfigDict };
  const entry = className ? tf.serialization.SerializationMap.getMap().classNameMap[className] : undefined;
  if (!entry) throw new Error(`unknown initializer ${JSON.stringify(className)}`);
  const [cls, fromConfig] = entry;
  return fromConfig(cls, config ?? {}) as Initializer;
}

export function serializeInitializer(init: Initializer): tf.serialization.ConfigDict {
  return { className: init.getClassName(), config: init.getConfig() };
}

/** A 32-bit mix of a seed and a stream number; distinct streams give distinct seeds. */
export function mixSeed(seed: number, stream: number): number {
  return (seed ^ Math.imul(stream + 1, 0x85ebca6b)) >>> 0;
}

/**
 * The initializer for the `stream`-th weight drawn from one seeded initializer. A seeded TF.js
 * initializer draws the same values at every call, so the query, key and value kernels of one
 * layer would start equal (and stay symmetric); each weight gets its own seed derived from the
 * given one instead. Unseeded initializers draw afresh every call and are returned as they are.
 */
export function reseeded(init: Initializer, stream: number): Initializer {
  const config = init.getConfig() as { seed?: unknown };
  if (typeof config.seed !== 'number') return init;
  const Ctor = init.constructor as new (args: tf.serialization.ConfigDict) => Initializer;
  return new Ctor({ ...init.getConfig(), seed: mixSeed(config.seed, stream) });
}

/**
 * A seeded dropout site inside a layer: SeededDropout's mask (seed derived from the site's seed and
 * the step clock, so a resumed run draws the same masks), or nothing at all at rate 0.
 */
export class DropoutSite {
  private readonly dropout: SeededDropout | null;

  constructor(
    name: string,
    rate: number,
    seed: number,
    private readonly clock: StepClock,
  ) {
    this.dropout = rate > 0 ? new SeededDropout({ name, rate, seed, clock }) : null;
  }

  /** Whether apply draws a mask (and so changes x): in training, or when sampling. */
  drops(training: boolean): boolean {
    return this.dropout !== null && (training || this.clock.sampleDropout === true);
  }

  apply(x: tf.Tensor, training: boolean): tf.Tensor {
    if (!this.drops(training)) return x;
    return this.dropout!.call(x, { training: true });
  }
}

export function validateRate(what: string, rate: number): void {
  if (!(rate >= 0 && rate < 1)) throw new Error(`${what} must be in [0, 1), got ${rate}`);
}

export function positiveInteger(what: string, value: number): void {
  if (!Number.isInteger(value) || value < 1) throw new Error(`${what} must be a positive integer, got ${value}`);
}

type WeightAdder = (name: string, shape: number[], initializer: Initializer) => tf.LayerVariable;

interface Projection {
  kernel: tf.LayerVariable;
  bias: tf.LayerVariable | null;
}

/** The four projections of one attention, as Keras names them: query, key, value, output. */
export interface AttentionWeights {
  query: Projection;
  key: Projection;
  value: Projection;
  output: Projection;
}

export interface AttentionShape {
  numHeads: number;
  keyDim: number;
  valueDim: number;
  /** Feature dims of the query, key and value inputs. */
  queryInput: number;
  keyInput: number;
  valueInput: number;
  outputDim: number;
}

/**
 * Adds one attention's weights, named `${prefix}query/kernel` [dq, heads·keyDim], `…/bias`, key,
 * value, output [heads·valueDim, outputDim]: Keras MultiHeadAttention's names with the head axes
 * flattened (head h owns columns h·keyDim … (h+1)·keyDim − 1, as in PyTorch's in_proj_weight rows).
 * Kernel and bias initializers are reseeded per weight from `firstStream` on.
 */
export function addAttentionWeights(
  add: WeightAdder,
  prefix: string,
  shape: AttentionShape,
  useBias: boolean,
  kernelInitializer: Initializer,
  biasInitializer: Initializer,
  firstStream: number,
): AttentionWeights {
  const { numHeads, keyDim, valueDim } = shape;
  const projections: Array<[keyof AttentionWeights, number, number]> = [
    ['query', shape.queryInput, numHeads * keyDim],
    ['key', shape.keyInput, numHeads * keyDim],
    ['value', shape.valueInput, numHeads * valueDim],
    ['output', numHeads * valueDim, shape.outputDim],
  ];
  const weights = {} as AttentionWeights;
  projections.forEach(([name, inDim, outDim], i) => {
    weights[name] = {
      kernel: add(`${prefix}${name}/kernel`, [inDim, outDim], reseeded(kernelInitializer, firstStream + 2 * i)),
      bias: useBias ? add(`${prefix}${name}/bias`, [outDim], reseeded(biasInitializer, firstStream + 2 * i + 1)) : null,
    };
  });
  return weights;
}

/**
 * x [..., din] · kernel [din, dout] + bias, then relu where asked, as one 2-D matrix product: one
 * fused kernel each way where the backend has them (bias, relu and their gradients inside, the same
 * values), a product, an Add and a Relu elsewhere.
 */
export function dense(x: tf.Tensor, kernel: tf.Tensor, bias: tf.Tensor | null, activation: 'linear' | 'relu' = 'linear'): tf.Tensor {
  const din = x.shape[x.rank - 1]!;
  const rows = tf.reshape(x, [-1, din]);
  let y: tf.Tensor;
  if (rows.dtype === 'float32' && fusedDenseAvailable(activation)) {
    y = fusedDense(rows, kernel, bias, activation);
  } else {
    y = tf.matMul(rows, kernel);
    if (bias) y = tf.add(y, bias);
    if (activation === 'relu') y = tf.relu(y);
  }
  return tf.reshape(y, [...x.shape.slice(0, -1), kernel.shape[1]!]);
}

/** [B, T, H·d] → [B, H, T, d]. */
function splitHeads(x: tf.Tensor, heads: number): tf.Tensor {
  const [b, t, width] = x.shape as [number, number, number];
  return tf.transpose(tf.reshape(x, [b, t, heads, width / heads]), [0, 2, 1, 3]);
}

/** Additive causal mask [Tq, Tk]: 0 where key j ≤ query i, −1e9 after (exp underflows to exactly 0, as −∞ does). */
function causalBias(tq: number, tk: number): tf.Tensor2D {
  const values = new Float32Array(tq * tk);
  for (let i = 0; i < tq; i++) for (let j = i + 1; j < tk; j++) values[i * tk + j] = -1e9;
  return tf.tensor2d(values, [tq, tk]);
}

export interface AttentionOptions {
  numHeads: number;
  causal: boolean;
  /** Applied to the attention probabilities; null where nothing is dropped (no dropout, or inference). */
  dropProbabilities: ((probabilities: tf.Tensor) => tf.Tensor) | null;
}

export function fusedAttentionAvailable(): boolean {
  return tf.getKernel(ATTENTION_KERNEL, tf.getBackend()) !== undefined;
}

/** The native backend's attention kernels (src/engine/backends/native-attention.ts), with their gradient through tf.customGrad. */
const fusedAttention = (heads: number, causal: boolean) =>
  tf.customGrad((q, k, v, save) => {
    const [out, probabilities] = tf.engine().runKernel(ATTENTION_KERNEL, { q: q as tf.Tensor, k: k as tf.Tensor, v: v as tf.Tensor }, { heads, causal }) as tf.Tensor[];
    (save as tf.GradSaveFunc)([q as tf.Tensor, k as tf.Tensor, v as tf.Tensor, probabilities!]);
    return {
      value: out!,
      gradFunc: (dy, saved) => {
        const [sq, sk, sv, sp] = saved as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
        return tf.engine().runKernel(ATTENTION_GRAD_KERNEL, { dy: dy as tf.Tensor, q: sq, k: sk, v: sv, probabilities: sp }, { heads, causal }) as tf.Tensor[];
      },
    };
  });

/** The same attention composed of TF.js ops: heads split out by transposes, two batched products, softmax, heads merged back. */
function composedAttention(projectedQuery: tf.Tensor, projectedKey: tf.Tensor, projectedValue: tf.Tensor, options: AttentionOptions): tf.Tensor {
  const heads = options.numHeads;
  const [q, k, v] = [projectedQuery, projectedKey, projectedValue].map((x) => splitHeads(x, heads)) as [tf.Tensor, tf.Tensor, tf.Tensor];
  const keyDim = q.shape[3]!;
  let scores = tf.matMul(tf.mul(q, 1 / Math.sqrt(keyDim)), k, false, true);
  if (options.causal) scores = tf.add(scores, causalBias(q.shape[2]!, k.shape[2]!));
  let probabilities = tf.softmax(scores);
  if (options.dropProbabilities) probabilities = options.dropProbabilities(probabilities);
  const attended = tf.matMul(probabilities, v);
  const [b, , tq, dv] = attended.shape as [number, number, number, number];
  return tf.reshape(tf.transpose(attended, [0, 2, 1, 3]), [b, tq, heads * dv]);
}

/**
 * Scaled dot-product attention over heads (Vaswani et al. 2017), as PyTorch's
 * multi_head_attention_forward computes it: q scaled by 1/√keyDim, softmax over the keys,
 * dropout on the probabilities, heads concatenated, output projection. query [B, Tq, dq],
 * key [B, Tk, dk], value [B, Tk, dv] → [B, Tq, outputDim]. Where the backend has the fused kernels
 * and no probability is dropped, the part between the projections is one kernel each way, with the
 * composed ops' values.
 */
export function multiHeadAttention(query: tf.Tensor, key: tf.Tensor, value: tf.Tensor, weights: AttentionWeights, options: AttentionOptions): tf.Tensor {
  const read = (p: Projection) => [p.kernel.read(), p.bias?.read() ?? null] as const;
  const projected = [dense(query, ...read(weights.query)), dense(key, ...read(weights.key)), dense(value, ...read(weights.value))] as const;
  const [q, k, v] = projected;
  // The kernel reads every key and value row of its own image: shapes that would not pair up go to the composed ops, which say why.
  const paired = k.shape[0] === q.shape[0] && v.shape[0] === q.shape[0] && k.shape[1] === v.shape[1] && k.shape[2] === q.shape[2];
  const fused = !options.dropProbabilities && paired && fusedAttentionAvailable() && projected.every((x) => x.dtype === 'float32' && x.size > 0);
  const attended = fused ? fusedAttention(options.numHeads, options.causal)(...projected) : composedAttention(...projected, options);
  return dense(attended, ...read(weights.output));
}

/** The shape list of a layer called with one or several inputs. */
export function shapeList(inputShape: tf.Shape | tf.Shape[]): tf.Shape[] {
  return Array.isArray(inputShape[0]) ? (inputShape as tf.Shape[]) : [inputShape as tf.Shape];
}

export function tensorList(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor[] {
  return Array.isArray(inputs) ? inputs : [inputs];
}

export function lastDim(shape: tf.Shape, what: string): number {
  const d = shape[shape.length - 1];
  if (shape.length !== 3) throw new Error(`${what} must be [batch, T, features], got rank ${shape.length}`);
  if (d == null) throw new Error(`${what}: the feature dimension must be known`);
  return d;
}

export interface MultiHeadAttentionArgs extends BaseLayerArgs {
  numHeads: number;
  keyDim: number;
  /** Per-head value width; keyDim when absent. */
  valueDim?: number | null;
  /** Output features; the query's last dimension when absent. */
  outputDim?: number | null;
  /** Dropout rate on the attention probabilities. */
  dropout?: number;
  useBias?: boolean;
  /** Query position i attends to key positions ≤ i. */
  causal?: boolean;
  kernelInitializer?: InitializerArg;
  biasInitializer?: InitializerArg;
  /** The dropout seed. */
  seed?: number;
  /** clock.step = the optimizer step of the next training forward pass (a fresh one when loaded). */
  clock?: StepClock;
}

/**
 * Multi-head attention as a layer: apply(x) attends x to itself, apply([query, value]) and
 * apply([query, key, value]) across (the key is the value when absent, as in Keras). Equal to
 * torch.nn.MultiheadAttention (batch_first) with the same weights, kernel = weight transposed.
 */
export class MultiHeadAttention extends tf.layers.Layer {
  static readonly className = 'TrainyardMultiHeadAttention';
  readonly numHeads: number;
  readonly keyDim: number;
  readonly valueDim: number;
  readonly outputDim: number | null;
  readonly dropout: number;
  readonly useBias: boolean;
  readonly causal: boolean;
  readonly seed: number;
  readonly clock: StepClock;
  private readonly kernelInitializer: Initializer;
  private readonly biasInitializer: Initializer;
  private readonly probabilityDropout: DropoutSite;
  private attention: AttentionWeights | null = null;

  constructor(args: MultiHeadAttentionArgs) {
    super(baseLayerArgs(args));
    positiveInteger('numHeads', args.numHeads);
    positiveInteger('keyDim', args.keyDim);
    if (args.valueDim != null) positiveInteger('valueDim', args.valueDim);
    if (args.outputDim != null) positiveInteger('outputDim', args.outputDim);
    validateRate('attention dropout', args.dropout ?? 0);
    this.numHeads = args.numHeads;
    this.keyDim = args.keyDim;
    this.valueDim = args.valueDim ?? args.keyDim;
    this.outputDim = args.outputDim ?? null;
    this.dropout = args.dropout ?? 0;
    this.useBias = args.useBias ?? true;
    this.causal = args.causal ?? false;
    this.seed = args.seed ?? 0;
    this.clock = args.clock ?? { step: 0 };
    this.kernelInitializer = resolveInitializer(args.kernelInitializer, () => tf.initializers.glorotUniform({}));
    this.biasInitializer = resolveInitializer(args.biasInitializer, () => tf.initializers.zeros());
    this.probabilityDropout = new DropoutSite(`${args.name}_dropout`, this.dropout, this.seed, this.clock);
  }

  /** Whether a pass through this layer draws dropout masks (in training, or when sampling). */
  get drawsMasks(): boolean {
    return this.dropout > 0;
  }

  override build(inputShape: tf.Shape | tf.Shape[]): void {
    const shapes = shapeList(inputShape);
    if (shapes.length > 3) throw new Error(`${this.name} takes x, [query, value] or [query, key, value], got ${shapes.length} inputs`);
    const query = lastDim(shapes[0]!, `${this.name}'s query`);
    const value = lastDim(shapes[shapes.length === 3 ? 2 : shapes.length - 1]!, `${this.name}'s value`);
    const key = shapes.length === 3 ? lastDim(shapes[1]!, `${this.name}'s key`) : value;
    const shape: AttentionShape = {
      numHeads: this.numHeads,
      keyDim: this.keyDim,
      valueDim: this.valueDim,
      queryInput: query,
      keyInput: key,
      valueInput: value,
      outputDim: this.outputDim ?? query,
    };
    const add: WeightAdder = (name, weightShape, init) => this.addWeight(name, weightShape, 'float32', init, undefined, true);
    this.attention = addAttentionWeights(add, '', shape, this.useBias, this.kernelInitializer, this.biasInitializer, 0);
    this.built = true;
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    const query = shapeList(inputShape)[0]!;
    return [...query.slice(0, -1), this.outputDim ?? query[query.length - 1]!];
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: { training?: boolean }): tf.Tensor {
    return tf.tidy(() => {
      const list = tensorList(inputs);
      const query = list[0]!;
      const value = list[list.length === 3 ? 2 : list.length - 1]!;
      const key = list.length === 3 ? list[1]! : value;
      const training = kwargs.training === true;
      return multiHeadAttention(query, key, value, this.attention!, {
        numHeads: this.numHeads,
        causal: this.causal,
        dropProbabilities: this.probabilityDropout.drops(training) ? (p) => this.probabilityDropout.apply(p, training) : null,
      });
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return {
      ...super.getConfig(),
      numHeads: this.numHeads,
      keyDim: this.keyDim,
      valueDim: this.valueDim,
      outputDim: this.outputDim,
      dropout: this.dropout,
      useBias: this.useBias,
      causal: this.causal,
      seed: this.seed,
      kernelInitializer: serializeInitializer(this.kernelInitializer),
      biasInitializer: serializeInitializer(this.biasInitializer),
    };
  }
}
tf.serialization.registerClass(MultiHeadAttention);
