// Built by scripts/build-layers-package.ts from src/engine/layers/custom-layers.ts; do not edit.

// src/engine/layers/custom-layers.ts
import * as tf10 from "@tensorflow/tfjs";

// src/engine/layers/multi-head-attention.ts
import * as tf4 from "@tensorflow/tfjs";

// src/engine/layers/fused-kernel-names.ts
var LAYER_NORM_KERNEL = "TrainyardLayerNorm";
var LAYER_NORM_GRAD_KERNEL = "TrainyardLayerNormGrad";
var ATTENTION_KERNEL = "TrainyardAttention";
var ATTENTION_GRAD_KERNEL = "TrainyardAttentionGrad";
var DENSE_GRAD_KERNEL = "TrainyardDenseGrad";
var FUSED_DENSE_ACTIVATIONS = ["linear", "relu", "sigmoid"];

// src/engine/layers/fused-matmul-gradient.ts
import * as tf2 from "@tensorflow/tfjs";

// src/engine/layers/gradient-reach.ts
import * as tf from "@tensorflow/tfjs";
var reachedByTape = /* @__PURE__ */ new WeakMap();
function reached(tape) {
  const data = /* @__PURE__ */ new Set();
  for (const node of tape) {
    let fromVariable = false;
    for (const input of Object.values(node.inputs)) {
      if (input instanceof tf.Variable) data.add(input.dataId);
      fromVariable ||= data.has(input.dataId);
    }
    if (fromVariable) for (const output of node.outputs) data.add(output.dataId);
  }
  return data;
}
var variableGradientCalls = 0;
function gradientNeeded(x) {
  const state = tf.engine().state;
  const tape = state.activeTape;
  if (variableGradientCalls === 0 || state.gradientDepth !== 0 || !Array.isArray(tape)) return true;
  let data = reachedByTape.get(tape);
  if (data === void 0) {
    data = reached(tape);
    reachedByTape.set(tape, data);
  }
  return data.has(x.dataId);
}

// src/engine/layers/fused-matmul-gradient.ts
var covered = new Set(FUSED_DENSE_ACTIVATIONS);
tf2.registerGradient({
  kernelName: tf2._FusedMatMul,
  inputsToSave: ["a", "b"],
  outputsToSave: [true],
  gradFunc: (dy, saved, attrs) => {
    const [x, w, y] = saved;
    const { transposeA, transposeB, activation } = attrs;
    if (transposeA || transposeB || x.rank !== 2 || w.rank !== 2 || !covered.has(activation)) {
      throw new Error(`_FusedMatMul's gradient covers a dense layer's product (rank 2, no transposes, ${FUSED_DENSE_ACTIVATIONS.join(", ")}), not this one`);
    }
    const upstream = dy;
    const unfused = () => {
      const g = activation === "relu" ? tf2.mul(upstream, tf2.cast(tf2.step(y), "float32")) : activation === "sigmoid" ? tf2.mul(upstream, tf2.mul(y, tf2.sub(1, y))) : upstream;
      return { a: () => tf2.matMul(g, w, false, true), b: () => tf2.matMul(x, g, true, false), bias: () => tf2.sum(g, 0) };
    };
    if (tf2.getKernel(DENSE_GRAD_KERNEL, tf2.getBackend()) === void 0) return unfused();
    const inputGradient = gradientNeeded(x);
    const [dw, db, dx] = tf2.engine().runKernel(DENSE_GRAD_KERNEL, { dy: upstream, x, w, y }, { activation, inputGradient });
    return { a: () => dx ?? unfused().a(), b: () => dw, bias: () => db };
  }
});
function fusedDenseAvailable(activation) {
  return covered.has(activation) && tf2.getKernel(DENSE_GRAD_KERNEL, tf2.getBackend()) !== void 0;
}
function fusedDense(x, kernel, bias, activation) {
  const attrs = { transposeA: false, transposeB: false, activation, leakyreluAlpha: 0.2 };
  return tf2.engine().runKernel(tf2._FusedMatMul, { a: x, b: kernel, ...bias ? { bias } : {} }, attrs);
}

// src/engine/layers/seeded-dropout.ts
import * as tf3 from "@tensorflow/tfjs";
var SeededDropout = class extends tf3.layers.Layer {
  static className = "Dropout";
  rate;
  seed;
  clock;
  noiseShape;
  constructor(args) {
    super({ name: args.name, ...args.inputShape ? { inputShape: args.inputShape } : {} });
    this.rate = args.rate;
    this.seed = args.seed;
    this.clock = args.clock;
    this.noiseShape = args.noiseShape;
    this.supportsMasking = true;
  }
  /** Whether a pass through this layer draws a mask (in training, or when sampling). */
  get drawsMasks() {
    return this.rate > 0;
  }
  computeOutputShape(inputShape) {
    return inputShape;
  }
  call(inputs, kwargs) {
    const x = Array.isArray(inputs) ? inputs[0] : inputs;
    if (!(kwargs.training || this.clock.sampleDropout) || this.rate === 0) return x.clone();
    const seed = (this.seed ^ Math.imul(this.clock.step + 1, 2654435761)) >>> 0;
    return tf3.dropout(x, this.rate, this.noiseShape ? [x.shape[0], ...this.noiseShape] : void 0, seed);
  }
  getConfig() {
    return { ...super.getConfig(), rate: this.rate, ...this.noiseShape ? { noiseShape: [null, ...this.noiseShape] } : {} };
  }
};

// src/engine/layers/multi-head-attention.ts
function baseLayerArgs(args) {
  return {
    name: args.name,
    ...args.inputShape ? { inputShape: args.inputShape } : {},
    ...args.batchInputShape ? { batchInputShape: args.batchInputShape } : {},
    ...typeof args.trainable === "boolean" ? { trainable: args.trainable } : {}
  };
}
function resolveInitializer(value, fallback) {
  if (value === void 0 || value === null) return fallback();
  if (value instanceof tf4.serialization.Serializable) return value;
  const { className, config } = value;
  const entry = className ? tf4.serialization.SerializationMap.getMap().classNameMap[className] : void 0;
  if (!entry) throw new Error(`unknown initializer ${JSON.stringify(className)}`);
  const [cls, fromConfig] = entry;
  return fromConfig(cls, config ?? {});
}
function serializeInitializer(init) {
  return { className: init.getClassName(), config: init.getConfig() };
}
function mixSeed(seed, stream) {
  return (seed ^ Math.imul(stream + 1, 2246822507)) >>> 0;
}
function reseeded(init, stream) {
  const config = init.getConfig();
  if (typeof config.seed !== "number") return init;
  const Ctor = init.constructor;
  return new Ctor({ ...init.getConfig(), seed: mixSeed(config.seed, stream) });
}
var DropoutSite = class {
  constructor(name, rate, seed, clock) {
    this.clock = clock;
    this.dropout = rate > 0 ? new SeededDropout({ name, rate, seed, clock }) : null;
  }
  clock;
  dropout;
  /** Whether apply draws a mask (and so changes x): in training, or when sampling. */
  drops(training) {
    return this.dropout !== null && (training || this.clock.sampleDropout === true);
  }
  apply(x, training) {
    if (!this.drops(training)) return x;
    return this.dropout.call(x, { training: true });
  }
};
function validateRate(what, rate) {
  if (!(rate >= 0 && rate < 1)) throw new Error(`${what} must be in [0, 1), got ${rate}`);
}
function positiveInteger(what, value) {
  if (!Number.isInteger(value) || value < 1) throw new Error(`${what} must be a positive integer, got ${value}`);
}
function addAttentionWeights(add4, prefix, shape, useBias, kernelInitializer, biasInitializer, firstStream) {
  const { numHeads, keyDim, valueDim } = shape;
  const projections = [
    ["query", shape.queryInput, numHeads * keyDim],
    ["key", shape.keyInput, numHeads * keyDim],
    ["value", shape.valueInput, numHeads * valueDim],
    ["output", numHeads * valueDim, shape.outputDim]
  ];
  const weights = {};
  projections.forEach(([name, inDim, outDim], i) => {
    weights[name] = {
      kernel: add4(`${prefix}${name}/kernel`, [inDim, outDim], reseeded(kernelInitializer, firstStream + 2 * i)),
      bias: useBias ? add4(`${prefix}${name}/bias`, [outDim], reseeded(biasInitializer, firstStream + 2 * i + 1)) : null
    };
  });
  return weights;
}
function dense(x, kernel, bias, activation = "linear") {
  const din = x.shape[x.rank - 1];
  const rows = tf4.reshape(x, [-1, din]);
  let y;
  if (rows.dtype === "float32" && fusedDenseAvailable(activation)) {
    y = fusedDense(rows, kernel, bias, activation);
  } else {
    y = tf4.matMul(rows, kernel);
    if (bias) y = tf4.add(y, bias);
    if (activation === "relu") y = tf4.relu(y);
  }
  return tf4.reshape(y, [...x.shape.slice(0, -1), kernel.shape[1]]);
}
function splitHeads(x, heads) {
  const [b, t, width] = x.shape;
  return tf4.transpose(tf4.reshape(x, [b, t, heads, width / heads]), [0, 2, 1, 3]);
}
function causalBias(tq, tk) {
  const values = new Float32Array(tq * tk);
  for (let i = 0; i < tq; i++) for (let j = i + 1; j < tk; j++) values[i * tk + j] = -1e9;
  return tf4.tensor2d(values, [tq, tk]);
}
function fusedAttentionAvailable() {
  return tf4.getKernel(ATTENTION_KERNEL, tf4.getBackend()) !== void 0;
}
var fusedAttention = (heads, causal) => tf4.customGrad((q, k, v, save) => {
  const [out, probabilities] = tf4.engine().runKernel(ATTENTION_KERNEL, { q, k, v }, { heads, causal });
  save([q, k, v, probabilities]);
  return {
    value: out,
    gradFunc: (dy, saved) => {
      const [sq, sk, sv, sp] = saved;
      return tf4.engine().runKernel(ATTENTION_GRAD_KERNEL, { dy, q: sq, k: sk, v: sv, probabilities: sp }, { heads, causal });
    }
  };
});
function composedAttention(projectedQuery, projectedKey, projectedValue, options) {
  const heads = options.numHeads;
  const [q, k, v] = [projectedQuery, projectedKey, projectedValue].map((x) => splitHeads(x, heads));
  const keyDim = q.shape[3];
  let scores = tf4.matMul(tf4.mul(q, 1 / Math.sqrt(keyDim)), k, false, true);
  if (options.causal) scores = tf4.add(scores, causalBias(q.shape[2], k.shape[2]));
  let probabilities = tf4.softmax(scores);
  if (options.dropProbabilities) probabilities = options.dropProbabilities(probabilities);
  const attended = tf4.matMul(probabilities, v);
  const [b, , tq, dv] = attended.shape;
  return tf4.reshape(tf4.transpose(attended, [0, 2, 1, 3]), [b, tq, heads * dv]);
}
function multiHeadAttention(query, key, value, weights, options) {
  const read = (p) => [p.kernel.read(), p.bias?.read() ?? null];
  const projected = [dense(query, ...read(weights.query)), dense(key, ...read(weights.key)), dense(value, ...read(weights.value))];
  const [q, k, v] = projected;
  const paired = k.shape[0] === q.shape[0] && v.shape[0] === q.shape[0] && k.shape[1] === v.shape[1] && k.shape[2] === q.shape[2];
  const fused = !options.dropProbabilities && paired && fusedAttentionAvailable() && projected.every((x) => x.dtype === "float32" && x.size > 0);
  const attended = fused ? fusedAttention(options.numHeads, options.causal)(...projected) : composedAttention(...projected, options);
  return dense(attended, ...read(weights.output));
}
function shapeList(inputShape) {
  return Array.isArray(inputShape[0]) ? inputShape : [inputShape];
}
function tensorList(inputs) {
  return Array.isArray(inputs) ? inputs : [inputs];
}
function lastDim(shape, what) {
  const d = shape[shape.length - 1];
  if (shape.length !== 3) throw new Error(`${what} must be [batch, T, features], got rank ${shape.length}`);
  if (d == null) throw new Error(`${what}: the feature dimension must be known`);
  return d;
}
var MultiHeadAttention = class extends tf4.layers.Layer {
  static className = "TrainyardMultiHeadAttention";
  numHeads;
  keyDim;
  valueDim;
  outputDim;
  dropout;
  useBias;
  causal;
  seed;
  clock;
  kernelInitializer;
  biasInitializer;
  probabilityDropout;
  attention = null;
  constructor(args) {
    super(baseLayerArgs(args));
    positiveInteger("numHeads", args.numHeads);
    positiveInteger("keyDim", args.keyDim);
    if (args.valueDim != null) positiveInteger("valueDim", args.valueDim);
    if (args.outputDim != null) positiveInteger("outputDim", args.outputDim);
    validateRate("attention dropout", args.dropout ?? 0);
    this.numHeads = args.numHeads;
    this.keyDim = args.keyDim;
    this.valueDim = args.valueDim ?? args.keyDim;
    this.outputDim = args.outputDim ?? null;
    this.dropout = args.dropout ?? 0;
    this.useBias = args.useBias ?? true;
    this.causal = args.causal ?? false;
    this.seed = args.seed ?? 0;
    this.clock = args.clock ?? { step: 0 };
    this.kernelInitializer = resolveInitializer(args.kernelInitializer, () => tf4.initializers.glorotUniform({}));
    this.biasInitializer = resolveInitializer(args.biasInitializer, () => tf4.initializers.zeros());
    this.probabilityDropout = new DropoutSite(`${args.name}_dropout`, this.dropout, this.seed, this.clock);
  }
  /** Whether a pass through this layer draws dropout masks (in training, or when sampling). */
  get drawsMasks() {
    return this.dropout > 0;
  }
  build(inputShape) {
    const shapes = shapeList(inputShape);
    if (shapes.length > 3) throw new Error(`${this.name} takes x, [query, value] or [query, key, value], got ${shapes.length} inputs`);
    const query = lastDim(shapes[0], `${this.name}'s query`);
    const value = lastDim(shapes[shapes.length === 3 ? 2 : shapes.length - 1], `${this.name}'s value`);
    const key = shapes.length === 3 ? lastDim(shapes[1], `${this.name}'s key`) : value;
    const shape = {
      numHeads: this.numHeads,
      keyDim: this.keyDim,
      valueDim: this.valueDim,
      queryInput: query,
      keyInput: key,
      valueInput: value,
      outputDim: this.outputDim ?? query
    };
    const add4 = (name, weightShape, init) => this.addWeight(name, weightShape, "float32", init, void 0, true);
    this.attention = addAttentionWeights(add4, "", shape, this.useBias, this.kernelInitializer, this.biasInitializer, 0);
    this.built = true;
  }
  computeOutputShape(inputShape) {
    const query = shapeList(inputShape)[0];
    return [...query.slice(0, -1), this.outputDim ?? query[query.length - 1]];
  }
  call(inputs, kwargs) {
    return tf4.tidy(() => {
      const list = tensorList(inputs);
      const query = list[0];
      const value = list[list.length === 3 ? 2 : list.length - 1];
      const key = list.length === 3 ? list[1] : value;
      const training = kwargs.training === true;
      return multiHeadAttention(query, key, value, this.attention, {
        numHeads: this.numHeads,
        causal: this.causal,
        dropProbabilities: this.probabilityDropout.drops(training) ? (p) => this.probabilityDropout.apply(p, training) : null
      });
    });
  }
  getConfig() {
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
      biasInitializer: serializeInitializer(this.biasInitializer)
    };
  }
};
tf4.serialization.registerClass(MultiHeadAttention);

// src/engine/layers/positional-embedding.ts
import * as tf5 from "@tensorflow/tfjs";
function sinusoidalPositions(length, dim) {
  const values = new Float32Array(length * dim);
  for (let p = 0; p < length; p++) {
    for (let j = 0; j < dim; j++) {
      const angle = p / Math.pow(1e4, 2 * Math.floor(j / 2) / dim);
      values[p * dim + j] = j % 2 === 0 ? Math.sin(angle) : Math.cos(angle);
    }
  }
  return values;
}
var PositionalEmbedding = class extends tf5.layers.Layer {
  static className = "TrainyardPositionalEmbedding";
  mode;
  maxLength;
  seed;
  embeddingsInitializer;
  embeddings = null;
  constructor(args) {
    super(baseLayerArgs(args));
    if (args.mode !== "learned" && args.mode !== "sinusoidal") throw new Error(`positional embedding mode must be 'learned' or 'sinusoidal', got ${JSON.stringify(args.mode)}`);
    positiveInteger("maxLength", args.maxLength);
    this.mode = args.mode;
    this.maxLength = args.maxLength;
    this.seed = args.seed ?? 0;
    this.embeddingsInitializer = resolveInitializer(args.embeddingsInitializer, () => tf5.initializers.glorotUniform({ seed: this.seed }));
  }
  build(inputShape) {
    const shape = Array.isArray(inputShape[0]) ? inputShape[0] : inputShape;
    const dim = lastDim(shape, `${this.name}'s input`);
    const length = shape[1];
    if (length != null) this.checkLength(length);
    if (this.mode === "learned") {
      this.embeddings = this.addWeight("embeddings", [this.maxLength, dim], "float32", reseeded(this.embeddingsInitializer, 0), void 0, true);
    }
    this.built = true;
  }
  checkLength(length) {
    if (length > this.maxLength) throw new Error(`${this.name}: sequence length ${length} exceeds maxLength ${this.maxLength}`);
  }
  computeOutputShape(inputShape) {
    return Array.isArray(inputShape[0]) ? inputShape[0] : inputShape;
  }
  call(inputs) {
    return tf5.tidy(() => {
      const x = Array.isArray(inputs) ? inputs[0] : inputs;
      const [, length, dim] = x.shape;
      this.checkLength(length);
      const positions = this.embeddings ? tf5.slice(this.embeddings.read(), [0, 0], [length, dim]) : tf5.tensor2d(sinusoidalPositions(length, dim), [length, dim]);
      return tf5.add(x, positions);
    });
  }
  getConfig() {
    return {
      ...super.getConfig(),
      mode: this.mode,
      maxLength: this.maxLength,
      seed: this.seed,
      ...this.mode === "learned" ? { embeddingsInitializer: serializeInitializer(this.embeddingsInitializer) } : {}
    };
  }
};
tf5.serialization.registerClass(PositionalEmbedding);

// src/engine/layers/time-slice.ts
import * as tf6 from "@tensorflow/tfjs";
var TimeSlice = class extends tf6.layers.Layer {
  static className = "TrainyardTimeSlice";
  start;
  length;
  constructor(args) {
    super(baseLayerArgs(args));
    if (!Number.isInteger(args.start) || args.start < 0) throw new Error(`timeSlice start must be an integer \u2265 0, got ${JSON.stringify(args.start)}`);
    positiveInteger("length", args.length);
    this.start = args.start;
    this.length = args.length;
  }
  computeOutputShape(inputShape) {
    const shape = Array.isArray(inputShape[0]) ? inputShape[0] : inputShape;
    const steps = shape[1];
    if (steps != null && this.start + this.length > steps) throw new Error(`${this.name}: steps ${this.start} \u2026 ${this.start + this.length - 1} are beyond the input's ${steps}`);
    return [shape[0], this.length, ...shape.slice(2)];
  }
  call(inputs) {
    const x = Array.isArray(inputs) ? inputs[0] : inputs;
    return tf6.slice(x, [0, this.start, ...x.shape.slice(2).map(() => 0)], [-1, this.length, ...x.shape.slice(2).map(() => -1)]);
  }
  getConfig() {
    return { ...super.getConfig(), start: this.start, length: this.length };
  }
};
tf6.serialization.registerClass(TimeSlice);

// src/engine/layers/transformer-decoder-block.ts
import * as tf9 from "@tensorflow/tfjs";

// src/engine/layers/transformer-encoder-block.ts
import * as tf8 from "@tensorflow/tfjs";

// src/engine/layers/layer-normalization.ts
import * as tf7 from "@tensorflow/tfjs";
function fusedLayerNormAvailable() {
  return tf7.getKernel(LAYER_NORM_KERNEL, tf7.getBackend()) !== void 0;
}
var fusedLayerNorm = (epsilon) => tf7.customGrad((x, gamma, beta, save) => {
  const [y, mean, rstd] = tf7.engine().runKernel(LAYER_NORM_KERNEL, { x, gamma, beta }, { epsilon });
  save([x, gamma, mean, rstd]);
  return {
    value: y,
    gradFunc: (dy, saved) => {
      const [savedX, savedGamma, savedMean, savedRstd] = saved;
      return tf7.engine().runKernel(LAYER_NORM_GRAD_KERNEL, { dy, x: savedX, gamma: savedGamma, mean: savedMean, rstd: savedRstd });
    }
  };
});
function stockLayerNorm(x, gamma, beta, epsilon) {
  const rank = x.rank;
  const cols = x.shape[rank - 1];
  const { mean, variance } = tf7.moments(x, [rank - 1], true);
  const broadcast = (v) => v.rank !== rank ? tf7.reshape(v, [...Array(rank - 1).fill(1), cols]) : v;
  const momentsTiling = [...Array(rank - 1).fill(1), cols];
  const paramTiling = [...x.shape.slice(0, -1), 1];
  return tf7.batchNorm(
    x,
    tf7.tile(mean, momentsTiling),
    tf7.tile(variance, momentsTiling),
    beta ? tf7.tile(broadcast(beta), paramTiling) : void 0,
    gamma ? tf7.tile(broadcast(gamma), paramTiling) : void 0,
    epsilon
  );
}
function layerNorm(x, gamma, beta, epsilon) {
  return tf7.tidy(() => {
    const input = tf7.cast(x, "float32");
    if (!fusedLayerNormAvailable() || input.rank === 0 || input.size === 0) return stockLayerNorm(input, gamma, beta, epsilon);
    const cols = input.shape.at(-1);
    const scale = gamma ? tf7.reshape(gamma, [cols]) : tf7.ones([cols]);
    const offset = beta ? tf7.reshape(beta, [cols]) : tf7.zeros([cols]);
    return fusedLayerNorm(epsilon)(input, scale, offset);
  });
}
var StockLayerNormalization = tf7.serialization.SerializationMap.getMap().classNameMap["LayerNormalization"][0];

// src/engine/layers/transformer-encoder-block.ts
function gelu(x) {
  return tf8.mul(tf8.mul(x, 0.5), tf8.add(1, tf8.erf(tf8.mul(x, Math.SQRT1_2))));
}
var TransformerBlock = class extends tf8.layers.Layer {
  numHeads;
  ffDim;
  activation;
  dropout;
  normFirst;
  epsilon;
  seed;
  clock;
  kernelInitializer;
  biasInitializer;
  /** Seed streams of the weights: each addition takes the next ones. */
  nextStream = 0;
  nextSite = 0;
  constructor(args) {
    super(baseLayerArgs(args));
    positiveInteger("numHeads", args.numHeads);
    positiveInteger("ffDim", args.ffDim);
    const activation = args.activation ?? "relu";
    if (activation !== "relu" && activation !== "gelu") throw new Error(`feed-forward activation must be 'relu' or 'gelu', got ${JSON.stringify(activation)}`);
    validateRate("dropout", args.dropout ?? 0);
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
    this.kernelInitializer = resolveInitializer(args.kernelInitializer, () => tf8.initializers.glorotUniform({}));
    this.biasInitializer = resolveInitializer(args.biasInitializer, () => tf8.initializers.zeros());
  }
  get drawsMasks() {
    return this.dropout > 0;
  }
  get adder() {
    return (name, shape, init) => this.addWeight(name, shape, "float32", init, void 0, true);
  }
  /** Model width d of the block's input [B, T, d]; the heads split it as PyTorch does (d / numHeads each). */
  modelDim(shape, what) {
    const d = lastDim(shape, what);
    if (d % this.numHeads !== 0) throw new Error(`${this.name}: the model width ${d} must be divisible by numHeads ${this.numHeads}`);
    return d;
  }
  addAttention(prefix, d, memoryDim) {
    const shape = { numHeads: this.numHeads, keyDim: d / this.numHeads, valueDim: d / this.numHeads, queryInput: d, keyInput: memoryDim, valueInput: memoryDim, outputDim: d };
    const weights = addAttentionWeights(this.adder, `${prefix}/`, shape, true, this.kernelInitializer, this.biasInitializer, this.nextStream);
    this.nextStream += 8;
    return weights;
  }
  addNorm(prefix, d) {
    return {
      gamma: this.adder(`${prefix}/gamma`, [d], tf8.initializers.ones()),
      beta: this.adder(`${prefix}/beta`, [d], tf8.initializers.zeros())
    };
  }
  addFeedForward(d) {
    const kernel = (stream) => reseeded(this.kernelInitializer, this.nextStream + stream);
    const bias = (stream) => reseeded(this.biasInitializer, this.nextStream + stream);
    const weights = {
      inner: { kernel: this.adder("feedforward_intermediate/kernel", [d, this.ffDim], kernel(0)), bias: this.adder("feedforward_intermediate/bias", [this.ffDim], bias(1)) },
      outer: { kernel: this.adder("feedforward_output/kernel", [this.ffDim, d], kernel(2)), bias: this.adder("feedforward_output/bias", [d], bias(3)) }
    };
    this.nextStream += 4;
    return weights;
  }
  /** A dropout site with its own seed stream (the n-th site the block creates). */
  dropoutSite() {
    const site = this.nextSite++;
    return new DropoutSite(`${this.name}_dropout_${site}`, this.dropout, mixSeed(this.seed, site), this.clock);
  }
  norm(x, norm) {
    return layerNorm(x, norm.gamma.read(), norm.beta.read(), this.epsilon);
  }
  attend(query, memory, weights, causal, probabilities, training) {
    return multiHeadAttention(query, memory, memory, weights, {
      numHeads: this.numHeads,
      causal,
      dropProbabilities: probabilities.drops(training) ? (p) => probabilities.apply(p, training) : null
    });
  }
  /** linear2(dropout(activation(linear1(x)))), as PyTorch's _ff_block before its last dropout. */
  feedForward(x, weights, hidden, training) {
    const pre = dense(x, weights.inner.kernel.read(), weights.inner.bias.read(), this.activation === "relu" ? "relu" : "linear");
    const h = this.activation === "gelu" ? gelu(pre) : pre;
    return dense(hidden.apply(h, training), weights.outer.kernel.read(), weights.outer.bias.read());
  }
  /** x + dropout(sublayer(x)), with the norm before the sublayer (pre-LN) or after the sum (post-LN). */
  residual(x, norm, after, training, sublayer) {
    if (this.normFirst) return tf8.add(x, after.apply(sublayer(this.norm(x, norm)), training));
    return this.norm(tf8.add(x, after.apply(sublayer(x), training)), norm);
  }
  computeOutputShape(inputShape) {
    return Array.isArray(inputShape[0]) ? inputShape[0] : inputShape;
  }
  getConfig() {
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
      biasInitializer: serializeInitializer(this.biasInitializer)
    };
  }
};
var TransformerEncoderBlock = class extends TransformerBlock {
  static className = "TrainyardTransformerEncoderBlock";
  causal;
  parts = null;
  // PyTorch's dropout sites: self_attn's on the probabilities, dropout1, the feed-forward's, dropout2.
  sites;
  constructor(args) {
    super(args);
    this.causal = args.causal ?? false;
    this.sites = { probabilities: this.dropoutSite(), attention: this.dropoutSite(), hidden: this.dropoutSite(), feedForward: this.dropoutSite() };
  }
  build(inputShape) {
    const shape = Array.isArray(inputShape[0]) ? inputShape[0] : inputShape;
    const d = this.modelDim(shape, `${this.name}'s input`);
    this.parts = {
      attention: this.addAttention("self_attention", d, d),
      attentionNorm: this.addNorm("self_attention_norm", d),
      feedForward: this.addFeedForward(d),
      feedForwardNorm: this.addNorm("feedforward_norm", d)
    };
    this.built = true;
  }
  call(inputs, kwargs) {
    return tf8.tidy(() => {
      const x = Array.isArray(inputs) ? inputs[0] : inputs;
      const training = kwargs.training === true;
      const w = this.parts;
      const s = this.sites;
      const attended = this.residual(x, w.attentionNorm, s.attention, training, (h) => this.attend(h, h, w.attention, this.causal, s.probabilities, training));
      return this.residual(attended, w.feedForwardNorm, s.feedForward, training, (h) => this.feedForward(h, w.feedForward, s.hidden, training));
    });
  }
  getConfig() {
    return { ...super.getConfig(), causal: this.causal };
  }
};
tf8.serialization.registerClass(TransformerEncoderBlock);

// src/engine/layers/transformer-decoder-block.ts
var TransformerDecoderBlock = class extends TransformerBlock {
  static className = "TrainyardTransformerDecoderBlock";
  parts = null;
  // PyTorch's dropout sites, in its order: self_attn's probabilities, dropout1, multihead_attn's
  // probabilities, dropout2, the feed-forward's, dropout3.
  sites;
  constructor(args) {
    super(args);
    this.sites = {
      selfProbabilities: this.dropoutSite(),
      selfAttention: this.dropoutSite(),
      crossProbabilities: this.dropoutSite(),
      crossAttention: this.dropoutSite(),
      hidden: this.dropoutSite(),
      feedForward: this.dropoutSite()
    };
  }
  build(inputShape) {
    if (!Array.isArray(inputShape[0]) || inputShape.length !== 2) throw new Error(`${this.name} is called on [target, memory]`);
    const [target, memory] = inputShape;
    const d = this.modelDim(target, `${this.name}'s target`);
    const memoryDim = this.modelDim(memory, `${this.name}'s memory`);
    this.parts = {
      selfAttention: this.addAttention("self_attention", d, d),
      selfAttentionNorm: this.addNorm("self_attention_norm", d),
      crossAttention: this.addAttention("cross_attention", d, memoryDim),
      crossAttentionNorm: this.addNorm("cross_attention_norm", d),
      feedForward: this.addFeedForward(d),
      feedForwardNorm: this.addNorm("feedforward_norm", d)
    };
    this.built = true;
  }
  call(inputs, kwargs) {
    return tf9.tidy(() => {
      if (!Array.isArray(inputs) || inputs.length !== 2) throw new Error(`${this.name} is called on [target, memory]`);
      const [target, memory] = inputs;
      const training = kwargs.training === true;
      const w = this.parts;
      const s = this.sites;
      let x = this.residual(target, w.selfAttentionNorm, s.selfAttention, training, (h) => this.attend(h, h, w.selfAttention, true, s.selfProbabilities, training));
      x = this.residual(x, w.crossAttentionNorm, s.crossAttention, training, (h) => this.attend(h, memory, w.crossAttention, false, s.crossProbabilities, training));
      return this.residual(x, w.feedForwardNorm, s.feedForward, training, (h) => this.feedForward(h, w.feedForward, s.hidden, training));
    });
  }
};
tf9.serialization.registerClass(TransformerDecoderBlock);

// src/engine/layers/custom-layers.ts
var trainyardLayerClasses = [MultiHeadAttention, PositionalEmbedding, TimeSlice, TransformerEncoderBlock, TransformerDecoderBlock];
for (const cls of trainyardLayerClasses) tf10.serialization.registerClass(cls);
export {
  MultiHeadAttention,
  PositionalEmbedding,
  TimeSlice,
  TransformerDecoderBlock,
  TransformerEncoderBlock,
  trainyardLayerClasses
};
