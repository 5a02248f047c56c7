import * as tf from '@tensorflow/tfjs';
import { fusedGruSequence, fusedGruSequenceAvailable } from './gru-sequence.js';
import { fusedLstmCell, fusedLstmCellAvailable, fusedLstmSequence, fusedLstmSequenceAvailable } from './lstm-cell.js';
import type { StepClock } from './seeded-dropout.js';

/**
 * Recurrent layers (SimpleRNN, LSTM, GRU) as one layer, unrolled over time with plain tf ops so
 * autograd differentiates through every step, with the regularizers that TF.js's own recurrent
 * layers lack: three dropout placements (standard, variational, cell update), recurrent batch
 * normalization (LSTM) and layer normalization inside the cell.
 *
 * Weights, gate order and formulas are those of TF.js/Keras (kernel [inputDim, G·units],
 * recurrent_kernel [units, G·units], bias [G·units]; LSTM gates i, f, c, o; GRU gates z, r, h with
 * reset_after = false), so a layer without normalization serialises as the stock SimpleRNN / LSTM /
 * GRU class and loads anywhere TF.js or Keras models load. Gates use the standard sigmoid (TF.js's
 * default is hardSigmoid, so the exported config names it explicitly).
 */

export type RecurrentCell = 'simpleRnn' | 'lstm' | 'gru';
export type RecurrentDropoutMode = 'standard' | 'variational' | 'cellUpdate';
export interface RecurrentBatchNormOptions {
  maxSteps: number;
  momentum: number;
  epsilon: number;
  gammaInit: number;
}
/** TF.js's Initializer class (not exported under tf.initializers as a type). */
export type Initializer = ReturnType<typeof tf.initializers.zeros>;

export interface RecurrentLayerArgs {
  name: string;
  cell: RecurrentCell;
  units: number;
  /** A tfjs activation identifier, e.g. 'tanh', 'relu', 'linear'. */
  activation: string;
  returnSequences: boolean;
  /** Rate of what dropoutMode drops (0 = off). */
  dropout: number;
  /** variational only: rate on h_{t−1}; must be 0 in the other modes. */
  recurrentDropout: number;
  dropoutMode: RecurrentDropoutMode;
  /** lstm only. */
  recurrentBatchNorm: RecurrentBatchNormOptions | null;
  layerNorm: boolean;
  kernelInitializer: Initializer;
  recurrentInitializer: Initializer;
  biasInitializer: Initializer;
  /** The layer's dropout seed. */
  seed: number;
  /** clock.step = the optimizer step of the next training forward pass. */
  clock: StepClock;
  /** [T, inputDim] for the first layer of a model. */
  inputShape?: number[];
  /** Alternative to inputShape (what getConfig writes); used when a saved model is rebuilt. */
  batchInputShape?: Array<number | null>;
  trainable?: boolean;
}

/** Gate blocks per cell: G in kernel [inputDim, G·units]. */
export const GATE_COUNT: Record<RecurrentCell, number> = { simpleRnn: 1, lstm: 4, gru: 3 };
const STOCK_CLASS_NAME: Record<RecurrentCell, string> = { simpleRnn: 'SimpleRNN', lstm: 'LSTM', gru: 'GRU' };

/** Which mask a seed is for (part of the seed derivation). */
export const MASK_KIND = { input: 0, recurrent: 1, candidate: 2 } as const;
export type MaskKind = keyof typeof MASK_KIND;

/**
 * Seed of one dropout mask, from (layer seed, optimizer step, time step t — or −1 for a mask that
 * serves the whole sequence —, which mask). A cheap integer hash: reproducible, and different for
 * every step, time step and mask.
 */
export function recurrentMaskSeed(seed: number, step: number, t: number, kind: MaskKind): number {
  return (seed ^ Math.imul(step + 1, 0x9e3779b1) ^ Math.imul(t + 2, 0x85ebca6b) ^ Math.imul(MASK_KIND[kind] + 1, 0xc2b2ae35)) >>> 0;
}

/** Inverted dropout mask: (u ≥ rate) / (1 − rate), u ~ U[0, 1) drawn from `seed`. */
function dropoutMask(shape: [number, number], rate: number, seed: number): tf.Tensor2D {
  return tf.tidy(() => tf.div(tf.cast(tf.greaterEqual(tf.randomUniform(shape, 0, 1, 'float32', seed), rate), 'float32'), 1 - rate) as tf.Tensor2D);
}

export interface RecurrentMaskOptions {
  cell: RecurrentCell;
  mode: RecurrentDropoutMode;
  dropout: number;
  recurrentDropout: number;
  training: boolean;
  /** The layer's seed. */
  seed: number;
  /** The optimizer step (clock.step). */
  step: number;
  timeSteps: number;
  batch: number;
  inputDim: number;
  units: number;
}

/** The masks of one time step; null = that path is not dropped. */
export interface RecurrentStepMasks {
  /** Multiplies x_t, [batch, inputDim]. */
  input: tf.Tensor2D | null;
  /** Multiplies h_{t−1} where it enters the recurrent matrix products (never the carried state), [batch, units]. */
  recurrent: tf.Tensor2D | null;
  /** Multiplies the LSTM candidate g_t / the GRU candidate h̃_t, [batch, units]. */
  candidate: tf.Tensor2D | null;
}

/**
 * The masks a forward pass uses, one entry per time step. Pure: the same options give the same
 * masks. In the variational mode the entries share one tensor object per path (the same mask at
 * every t); in the standard and cellUpdate modes every t has its own. Outside training, or at rate 0,
 * every entry is null. The caller owns (and disposes) the returned tensors.
 */
export function recurrentDropoutMasks(options: RecurrentMaskOptions): RecurrentStepMasks[] {
  const { cell, mode, dropout, recurrentDropout, training, seed, step, timeSteps, batch, inputDim, units } = options;
  validateDropout(cell, mode, dropout, recurrentDropout);
  const none = (): RecurrentStepMasks => ({ input: null, recurrent: null, candidate: null });
  if (!training) return Array.from({ length: timeSteps }, none);
  switch (mode) {
    case 'standard':
      return Array.from({ length: timeSteps }, (_, t) => ({
        input: dropout > 0 ? dropoutMask([batch, inputDim], dropout, recurrentMaskSeed(seed, step, t, 'input')) : null,
        recurrent: null,
        candidate: null,
      }));
    case 'variational': {
      const input = dropout > 0 ? dropoutMask([batch, inputDim], dropout, recurrentMaskSeed(seed, step, -1, 'input')) : null;
      const recurrent = recurrentDropout > 0 ? dropoutMask([batch, units], recurrentDropout, recurrentMaskSeed(seed, step, -1, 'recurrent')) : null;
      return Array.from({ length: timeSteps }, () => ({ input, recurrent, candidate: null }));
    }
    case 'cellUpdate':
      return Array.from({ length: timeSteps }, (_, t) => ({
        input: null,
        recurrent: null,
        candidate: dropout > 0 ? dropoutMask([batch, units], dropout, recurrentMaskSeed(seed, step, t, 'candidate')) : null,
      }));
  }
}

function validateDropout(cell: RecurrentCell, mode: RecurrentDropoutMode, dropout: number, recurrentDropout: number): void {
  if (!['standard', 'variational', 'cellUpdate'].includes(mode)) throw new Error(`unknown recurrent dropout mode '${mode}'`);
  if (!(dropout >= 0 && dropout < 1)) throw new Error(`recurrent dropout rate must be in [0, 1), got ${dropout}`);
  if (!(recurrentDropout >= 0 && recurrentDropout < 1)) throw new Error(`recurrentDropout must be in [0, 1), got ${recurrentDropout}`);
  if (mode === 'cellUpdate' && cell === 'simpleRnn') {
    throw new Error('cellUpdate dropout drops the LSTM/GRU candidate update, which a simpleRnn does not have');
  }
  if (mode !== 'variational' && recurrentDropout !== 0) {
    throw new Error(`recurrentDropout is for the variational mode only; ${mode} leaves the recurrent state untouched`);
  }
}

/** Normalises v over its last axis (the units of each sample): (v − mean) / √(var + ε) · gain + bias. */
function layerNormalize(v: tf.Tensor, gain: tf.Tensor, bias: tf.Tensor, epsilon: number): tf.Tensor {
  const { mean, variance } = tf.moments(v, -1, true);
  return tf.add(tf.mul(tf.mul(tf.sub(v, mean), tf.rsqrt(tf.add(variance, epsilon))), gain), bias);
}

const LAYER_NORM_EPSILON = 1e-3;

type LayerVariable = tf.LayerVariable;

interface BatchNormWeights {
  gammaX: LayerVariable;
  gammaH: LayerVariable;
  gammaC: LayerVariable;
  betaC: LayerVariable;
  meanX: LayerVariable;
  varX: LayerVariable;
  meanH: LayerVariable;
  varH: LayerVariable;
  meanC: LayerVariable;
  varC: LayerVariable;
}

interface LayerNormWeights {
  gainX: LayerVariable;
  biasX: LayerVariable;
  gainH: LayerVariable;
  biasH: LayerVariable;
  gainC: LayerVariable | null;
  biasC: LayerVariable | null;
}

/** Batch statistics of one normalised term at one time step (training), kept for the running update. */
interface StepStats {
  mean: tf.Tensor;
  variance: tf.Tensor;
}

export class RecurrentLayer extends tf.layers.Layer {
  /** Registered name, used when normalization makes the layer non-standard. */
  static readonly className = 'TrainyardRecurrent';

  readonly cell: RecurrentCell;
  readonly units: number;
  readonly activationName: string;
  readonly returnSequences: boolean;
  readonly dropout: number;
  readonly recurrentDropout: number;
  readonly dropoutMode: RecurrentDropoutMode;
  readonly recurrentBatchNorm: RecurrentBatchNormOptions | null;
  readonly layerNorm: boolean;
  readonly seed: number;
  readonly clock: StepClock;
  private readonly kernelInitializer: Initializer;
  private readonly recurrentInitializer: Initializer;
  private readonly biasInitializer: Initializer;
  private readonly activationLayer: tf.layers.Layer;

  private kernel: LayerVariable | null = null;
  private recurrentKernel: LayerVariable | null = null;
  private bias: LayerVariable | null = null;
  private bn: BatchNormWeights | null = null;
  private ln: LayerNormWeights | null = null;

  constructor(args: RecurrentLayerArgs) {
    super({
      name: args.name,
      ...(args.inputShape ? { inputShape: args.inputShape } : {}),
      ...(args.batchInputShape ? { batchInputShape: args.batchInputShape } : {}),
      ...(args.trainable !== undefined ? { trainable: args.trainable } : {}),
    });
    if (!(args.cell in GATE_COUNT)) throw new Error(`unknown recurrent cell '${args.cell}'`);
    if (!Number.isInteger(args.units) || args.units < 1) throw new Error(`units must be a positive integer, got ${args.units}`);
    validateDropout(args.cell, args.dropoutMode, args.dropout, args.recurrentDropout);
    if (args.recurrentBatchNorm) {
      if (args.cell !== 'lstm') throw new Error(`recurrent batch normalization is for lstm layers only, not ${args.cell}`);
      if (args.layerNorm) throw new Error('choose recurrentBatchNorm or layerNorm, not both');
      const { maxSteps, momentum, epsilon } = args.recurrentBatchNorm;
      if (!Number.isInteger(maxSteps) || maxSteps < 1) throw new Error(`recurrentBatchNorm.maxSteps must be a positive integer, got ${maxSteps}`);
      if (!(momentum >= 0 && momentum < 1)) throw new Error(`recurrentBatchNorm.momentum must be in [0, 1), got ${momentum}`);
      if (!(epsilon > 0)) throw new Error(`recurrentBatchNorm.epsilon must be positive, got ${epsilon}`);
    }
    this.cell = args.cell;
    this.units = args.units;
    this.activationName = args.activation;
    // Throws on an unknown identifier, so a bad activation fails at construction.
    this.activationLayer = tf.layers.activation({ name: `${args.name}_activation`, activation: args.activation as 'tanh' });
    this.returnSequences = args.returnSequences;
    this.dropout = args.dropout;
    this.recurrentDropout = args.recurrentDropout;
    this.dropoutMode = args.dropoutMode;
    this.recurrentBatchNorm = args.recurrentBatchNorm ? { ...args.recurrentBatchNorm } : null;
    this.layerNorm = args.layerNorm;
    this.kernelInitializer = args.kernelInitializer;
    this.recurrentInitializer = args.recurrentInitializer;
    this.biasInitializer = args.biasInitializer;
    this.seed = args.seed;
    this.clock = args.clock;
  }

  /** Whether a pass through this layer draws dropout masks (in training, or when sampling). */
  get drawsMasks(): boolean {
    return this.dropout > 0 || this.recurrentDropout > 0;
  }

  /** True when the layer is exactly a stock SimpleRNN / LSTM / GRU (no normalization). */
  get isStandard(): boolean {
    return this.recurrentBatchNorm === null && !this.layerNorm;
  }

  /** Serialised as the stock class when standard, else as the registered TrainyardRecurrent. */
  override getClassName(): string {
    // The base constructor may ask before the fields are set.
    if (this.cell === undefined) return RecurrentLayer.className;
    return this.isStandard ? STOCK_CLASS_NAME[this.cell] : RecurrentLayer.className;
  }

  override build(inputShape: tf.Shape | tf.Shape[]): void {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tf.Shape;
    if (shape.length !== 3) throw new Error(`${this.name} expects inputs [batch, T, features], got rank ${shape.length}`);
    const inputDim = shape[2];
    if (inputDim == null) throw new Error(`${this.name}: the feature dimension of the input must be known`);
    const u = this.units;
    const width = GATE_COUNT[this.cell] * u;
    this.kernel = this.addWeight('kernel', [inputDim, width], 'float32', this.kernelInitializer, undefined, true);
    this.recurrentKernel = this.addWeight('recurrent_kernel', [u, width], 'float32', this.recurrentInitializer, undefined, true);
    this.bias = this.addWeight('bias', [width], 'float32', this.cell === 'lstm' ? unitForgetBias(this.biasInitializer, u) : this.biasInitializer, undefined, true);
    const ones = tf.initializers.ones();
    const zeros = tf.initializers.zeros();
    if (this.recurrentBatchNorm) {
      const { maxSteps, gammaInit } = this.recurrentBatchNorm;
      const gamma = tf.initializers.constant({ value: gammaInit });
      this.bn = {
        gammaX: this.addWeight('bn_x_gamma', [width], 'float32', gamma, undefined, true),
        gammaH: this.addWeight('bn_h_gamma', [width], 'float32', gamma, undefined, true),
        gammaC: this.addWeight('bn_c_gamma', [u], 'float32', gamma, undefined, true),
        betaC: this.addWeight('bn_c_beta', [u], 'float32', zeros, undefined, true),
        meanX: this.addWeight('bn_x_moving_mean', [maxSteps, width], 'float32', zeros, undefined, false),
        varX: this.addWeight('bn_x_moving_variance', [maxSteps, width], 'float32', ones, undefined, false),
        meanH: this.addWeight('bn_h_moving_mean', [maxSteps, width], 'float32', zeros, undefined, false),
        varH: this.addWeight('bn_h_moving_variance', [maxSteps, width], 'float32', ones, undefined, false),
        meanC: this.addWeight('bn_c_moving_mean', [maxSteps, u], 'float32', zeros, undefined, false),
        varC: this.addWeight('bn_c_moving_variance', [maxSteps, u], 'float32', ones, undefined, false),
      };
    }
    if (this.layerNorm) {
      const withCell = this.cell === 'lstm';
      this.ln = {
        gainX: this.addWeight('ln_x_gamma', [width], 'float32', ones, undefined, true),
        biasX: this.addWeight('ln_x_beta', [width], 'float32', zeros, undefined, true),
        gainH: this.addWeight('ln_h_gamma', [width], 'float32', ones, undefined, true),
        biasH: this.addWeight('ln_h_beta', [width], 'float32', zeros, undefined, true),
        gainC: withCell ? this.addWeight('ln_c_gamma', [u], 'float32', ones, undefined, true) : null,
        biasC: withCell ? this.addWeight('ln_c_beta', [u], 'float32', zeros, undefined, true) : null,
      };
    }
    this.built = true;
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tf.Shape;
    return this.returnSequences ? [shape[0] ?? null, shape[1] ?? null, this.units] : [shape[0] ?? null, this.units];
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: { training?: boolean }): tf.Tensor {
    return tf.tidy(() => {
      const x = Array.isArray(inputs) ? inputs[0]! : inputs;
      if (x.rank !== 3) throw new Error(`${this.name} expects inputs [batch, T, features], got shape [${x.shape.join(', ')}]`);
      const [batch, timeSteps, inputDim] = x.shape as [number, number, number];
      if (timeSteps < 1) throw new Error(`${this.name}: the input has no time steps`);
      const training = kwargs?.training === true;
      const masks = recurrentDropoutMasks({
        cell: this.cell,
        mode: this.dropoutMode,
        dropout: this.dropout,
        recurrentDropout: this.recurrentDropout,
        // Monte Carlo dropout draws the masks of the layer's mode; batch normalization below still uses `training`.
        training: training || this.clock.sampleDropout === true,
        seed: this.seed,
        step: this.clock.step,
        timeSteps,
        batch,
        inputDim,
        units: this.units,
      });
      const kernel = this.kernel!.read();
      // Without per-step input masks, x W for every time step is one matrix product (and one for
      // its gradient) instead of T small ones.
      const wholeSequence = masks.every((m) => !m.input);
      const xs = wholeSequence ? [] : tf.unstack(tf.cast(x, 'float32'), 1);
      const recurrent = this.recurrentKernel!.read();
      const bias = this.bias!.read();
      const xW = () => tf.reshape(tf.matMul(tf.reshape(tf.cast(x, 'float32'), [batch * timeSteps, inputDim]), kernel), [batch, timeSteps, -1]);
      // A GRU without layer normalization or dropout inside the cell is one kernel over the whole
      // sequence where the backend has it: the same formulas, the same float32 operations per element.
      if (this.cell === 'gru' && !this.ln && this.activationName === 'tanh' && masks.every((m) => !m.recurrent && !m.candidate) && fusedGruSequenceAvailable()) {
        const inputTerm = wholeSequence ? xW() : tf.stack(xs.map((xt, t) => tf.matMul(masks[t]!.input ? tf.mul(xt, masks[t]!.input!) : xt, kernel)), 1);
        return fusedGruSequence(inputTerm, bias, recurrent, this.returnSequences);
      }
      // The same for an LSTM without batch or layer normalization. (Its step adds the bias last,
      // (x W + h U) + b; the kernel adds it to x W first: the same sum, rounded once differently.)
      // Both kernels take x W and the bias apart and add them themselves (their gradient sums the bias's).
      if (this.cell === 'lstm' && !this.bn && !this.ln && this.activationName === 'tanh' && masks.every((m) => !m.recurrent && !m.candidate) && fusedLstmSequenceAvailable()) {
        const inputTerm = wholeSequence ? xW() : tf.stack(xs.map((xt, t) => tf.matMul(masks[t]!.input ? tf.mul(xt, masks[t]!.input!) : xt, kernel)), 1);
        return fusedLstmSequence(inputTerm, bias, recurrent, this.returnSequences);
      }
      const projected = wholeSequence ? tf.unstack(xW(), 1) : [];
      const fused = this.cell === 'lstm' && !this.bn && !this.ln && this.activationName === 'tanh' && fusedLstmCellAvailable();
      const u = this.units;
      const bnStats: Array<{ x: StepStats; h: StepStats; c: StepStats }> = [];

      let h: tf.Tensor = tf.zeros([batch, u]);
      let c: tf.Tensor = tf.zeros([batch, u]);
      const outputs: tf.Tensor[] = [];
      for (let t = 0; t < timeSteps; t++) {
        const m = masks[t]!;
        const hIn = m.recurrent ? tf.mul(h, m.recurrent) : h;
        const wx = wholeSequence ? projected[t]! : tf.matMul(m.input ? tf.mul(xs[t]!, m.input) : xs[t]!, kernel);
        if (this.cell === 'gru') {
          h = this.gruStep(wx, h, hIn, recurrent, bias, m.candidate);
        } else {
          const uh = tf.matMul(hIn, recurrent);
          let pre: tf.Tensor;
          let stats: { x: StepStats; h: StepStats } | null = null;
          if (this.bn) {
            const nx = this.batchNorm(wx, t, training, this.bn.gammaX, null, this.bn.meanX, this.bn.varX);
            const nh = this.batchNorm(uh, t, training, this.bn.gammaH, null, this.bn.meanH, this.bn.varH);
            pre = tf.add(tf.add(nx.out, nh.out), bias);
            if (nx.stats && nh.stats) stats = { x: nx.stats, h: nh.stats };
          } else if (this.ln) {
            pre = tf.add(tf.add(layerNormalize(wx, this.ln.gainX.read(), this.ln.biasX.read(), LAYER_NORM_EPSILON), layerNormalize(uh, this.ln.gainH.read(), this.ln.biasH.read(), LAYER_NORM_EPSILON)), bias);
          } else {
            pre = tf.add(tf.add(wx, uh), bias);
          }
          if (this.cell === 'simpleRnn') {
            h = this.activate(pre);
          } else if (fused && !m.candidate) {
            ({ h, c } = fusedLstmCell(pre, c));
          } else {
            const [zi, zf, zg, zo] = tf.split(pre, 4, 1) as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
            const g = this.activate(zg);
            const update = tf.mul(tf.sigmoid(zi), m.candidate ? tf.mul(g, m.candidate) : g);
            c = tf.add(tf.mul(tf.sigmoid(zf), c), update);
            let cOut: tf.Tensor = c;
            if (this.bn) {
              const nc = this.batchNorm(c, t, training, this.bn.gammaC, this.bn.betaC, this.bn.meanC, this.bn.varC);
              cOut = nc.out;
              if (stats && nc.stats) bnStats.push({ ...stats, c: nc.stats });
            } else if (this.ln) {
              cOut = layerNormalize(c, this.ln.gainC!.read(), this.ln.biasC!.read(), LAYER_NORM_EPSILON);
            }
            h = tf.mul(tf.sigmoid(zo), this.activate(cOut));
          }
        }
        if (this.returnSequences) outputs.push(h);
      }
      if (this.bn && training && bnStats.length > 0) this.updateRunningStatistics(bnStats);
      return this.returnSequences ? tf.stack(outputs, 1) : h;
    });
  }

  /**
   * GRU step (TF.js GRUCell / Keras reset_after = false): z, r = σ(x W + h U + b) blocks,
   * h̃ = act(x W_h + b_h + (r⊙h) U_h), h_t = z⊙h_{t−1} + (1 − z)⊙h̃. `hIn` is h_{t−1} as it enters
   * the matrix products (variational mask applied); the carried state `h` is never dropped. With
   * layer normalization, the recurrent term is normalised in two parts, h U_{z,r} and (r⊙h) U_h,
   * because the second depends on r, which depends on the first.
   */
  private gruStep(wx: tf.Tensor, h: tf.Tensor, hIn: tf.Tensor, recurrent: tf.Tensor, bias: tf.Tensor, candidateMask: tf.Tensor | null): tf.Tensor {
    const u = this.units;
    const ln = this.ln;
    const xPart = ln ? layerNormalize(wx, ln.gainX.read(), ln.biasX.read(), LAYER_NORM_EPSILON) : wx;
    const [xz, xr, xh] = tf.split(tf.add(xPart, bias), 3, 1) as [tf.Tensor, tf.Tensor, tf.Tensor];
    const [rk1, rk2] = tf.split(recurrent, [2 * u, u], 1) as [tf.Tensor, tf.Tensor];
    let inner = tf.matMul(hIn, rk1);
    if (ln) {
      const [gZr, gH] = tf.split(ln.gainH.read(), [2 * u, u], 0);
      const [bZr, bH] = tf.split(ln.biasH.read(), [2 * u, u], 0);
      inner = layerNormalize(inner, gZr!, bZr!, LAYER_NORM_EPSILON);
      const [hz, hr] = tf.split(inner, 2, 1) as [tf.Tensor, tf.Tensor];
      const z = tf.sigmoid(tf.add(xz, hz));
      const r = tf.sigmoid(tf.add(xr, hr));
      const rh = layerNormalize(tf.matMul(tf.mul(r, hIn), rk2), gH!, bH!, LAYER_NORM_EPSILON);
      return this.gruUpdate(z, h, this.activate(tf.add(xh, rh)), candidateMask);
    }
    const [hz, hr] = tf.split(inner, 2, 1) as [tf.Tensor, tf.Tensor];
    const z = tf.sigmoid(tf.add(xz, hz));
    const r = tf.sigmoid(tf.add(xr, hr));
    const hh = this.activate(tf.add(xh, tf.matMul(tf.mul(r, hIn), rk2)));
    return this.gruUpdate(z, h, hh, candidateMask);
  }

  private gruUpdate(z: tf.Tensor, h: tf.Tensor, hh: tf.Tensor, candidateMask: tf.Tensor | null): tf.Tensor {
    const candidate = candidateMask ? tf.mul(hh, candidateMask) : hh;
    return tf.add(tf.mul(z, h), tf.mul(tf.sub(1, z), candidate));
  }

  private activate(v: tf.Tensor): tf.Tensor {
    return this.activationLayer.apply(v) as tf.Tensor;
  }

  /**
   * Batch normalization of one term at time step t (Cooijmans et al. 2016): training uses the
   * batch's mean and biased variance (returned for the running update); inference uses the running
   * statistics of step min(t, T − 1). γ·x̂ (+ β where the term has one).
   */
  private batchNorm(
    v: tf.Tensor,
    t: number,
    training: boolean,
    gamma: LayerVariable,
    beta: LayerVariable | null,
    runningMean: LayerVariable,
    runningVar: LayerVariable,
  ): { out: tf.Tensor; stats: StepStats | null } {
    const epsilon = this.recurrentBatchNorm!.epsilon;
    let mean: tf.Tensor;
    let variance: tf.Tensor;
    let stats: StepStats | null = null;
    if (training) {
      const moments = tf.moments(v, 0);
      mean = moments.mean;
      variance = moments.variance;
      stats = { mean, variance };
    } else {
      const row = Math.min(t, this.recurrentBatchNorm!.maxSteps - 1);
      mean = tf.slice(runningMean.read(), [row, 0], [1, -1]);
      variance = tf.slice(runningVar.read(), [row, 0], [1, -1]);
    }
    let out = tf.mul(tf.mul(tf.sub(v, mean), tf.rsqrt(tf.add(variance, epsilon))), gamma.read());
    if (beta) out = tf.add(out, beta.read());
    return { out, stats };
  }

  /**
   * running ← momentum · running + (1 − momentum) · batch for the steps t < maxSteps of this pass
   * (later steps are normalised with their batch statistics in training but have no row of their
   * own). Variable assignment inside call, as tf.layers.batchNormalization does.
   */
  private updateRunningStatistics(stats: Array<{ x: StepStats; h: StepStats; c: StepStats }>): void {
    const { maxSteps, momentum } = this.recurrentBatchNorm!;
    const k = Math.min(stats.length, maxSteps);
    const used = stats.slice(0, k);
    const bn = this.bn!;
    const update = (variable: LayerVariable, values: tf.Tensor[]) => {
      tf.tidy(() => {
        const running = variable.read();
        const top = tf.add(tf.mul(tf.slice(running, [0, 0], [k, -1]), momentum), tf.mul(tf.stack(values), 1 - momentum));
        variable.write(k < maxSteps ? tf.concat([top, tf.slice(running, [k, 0], [-1, -1])], 0) : top);
      });
    };
    update(bn.meanX, used.map((s) => s.x.mean));
    update(bn.varX, used.map((s) => s.x.variance));
    update(bn.meanH, used.map((s) => s.h.mean));
    update(bn.varH, used.map((s) => s.h.variance));
    update(bn.meanC, used.map((s) => s.c.mean));
    update(bn.varC, used.map((s) => s.c.variance));
  }

  override getConfig(): tf.serialization.ConfigDict {
    const base = super.getConfig();
    if (this.isStandard) {
      // Only keys the stock TF.js / Keras class knows. Its dropout is the variational kind, so the
      // rates are carried in that mode only; the other modes have no stock equivalent (the
      // exported layer is then equivalent at inference, where dropout is off).
      const variational = this.dropoutMode === 'variational';
      const config: tf.serialization.ConfigDict = {
        ...base,
        units: this.units,
        activation: this.activationName,
        useBias: true,
        returnSequences: this.returnSequences,
        returnState: false,
        goBackwards: false,
        stateful: false,
        unroll: false,
        dropout: variational ? this.dropout : 0,
        recurrentDropout: variational ? this.recurrentDropout : 0,
      };
      if (this.cell === 'lstm') Object.assign(config, { recurrentActivation: 'sigmoid', unitForgetBias: true, implementation: 2 });
      if (this.cell === 'gru') Object.assign(config, { recurrentActivation: 'sigmoid', implementation: 2, resetAfter: false });
      return config;
    }
    return {
      ...base,
      cell: this.cell,
      units: this.units,
      activation: this.activationName,
      recurrentActivation: 'sigmoid',
      returnSequences: this.returnSequences,
      dropout: this.dropout,
      recurrentDropout: this.recurrentDropout,
      dropoutMode: this.dropoutMode,
      recurrentBatchNorm: this.recurrentBatchNorm ? { ...this.recurrentBatchNorm } : null,
      layerNorm: this.layerNorm,
      seed: this.seed,
    };
  }

  /** Rebuilds a TrainyardRecurrent layer from its config (default initializers, a fresh clock). */
  static override fromConfig<T extends tf.serialization.Serializable>(
    cls: tf.serialization.SerializableConstructor<T>,
    config: tf.serialization.ConfigDict,
  ): T {
    const bn = config['recurrentBatchNorm'] as Partial<RecurrentBatchNormOptions> | null | undefined;
    const args: RecurrentLayerArgs = {
      name: config['name'] as string,
      cell: config['cell'] as RecurrentCell,
      units: config['units'] as number,
      activation: (config['activation'] as string | undefined) ?? 'tanh',
      returnSequences: config['returnSequences'] === true,
      dropout: (config['dropout'] as number | undefined) ?? 0,
      recurrentDropout: (config['recurrentDropout'] as number | undefined) ?? 0,
      dropoutMode: (config['dropoutMode'] as RecurrentDropoutMode | undefined) ?? 'standard',
      recurrentBatchNorm: bn
        ? { maxSteps: bn.maxSteps ?? 1, momentum: bn.momentum ?? 0.99, epsilon: bn.epsilon ?? 1e-3, gammaInit: bn.gammaInit ?? 0.1 }
        : null,
      layerNorm: config['layerNorm'] === true,
      kernelInitializer: tf.initializers.glorotUniform({}),
      recurrentInitializer: tf.initializers.orthogonal({}),
      biasInitializer: tf.initializers.zeros(),
      seed: (config['seed'] as number | undefined) ?? 0,
      clock: { step: 0 },
      ...(Array.isArray(config['batchInputShape']) ? { batchInputShape: config['batchInputShape'] as Array<number | null> } : {}),
      ...(typeof config['trainable'] === 'boolean' ? { trainable: config['trainable'] } : {}),
    };
    return new cls(args);
  }
}
tf.serialization.registerClass(RecurrentLayer);

/** LSTM bias: the forget-gate block starts at 1, the others from the bias initializer (Keras unit_forget_bias). */
function unitForgetBias(biasInitializer: Initializer, units: number): Initializer {
  return {
    apply: (_shape: tf.Shape, dtype?: tf.DataType) =>
      tf.tidy(() => tf.concat([biasInitializer.apply([units], dtype), tf.ones([units], dtype), biasInitializer.apply([2 * units], dtype)])),
    getConfig: () => ({}),
    getClassName: () => 'UnitForgetBias',
    fromConfigUsesCustomObjects: () => false,
  };
}
