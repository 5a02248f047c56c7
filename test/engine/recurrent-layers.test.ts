import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { testBackend } from '../support/test-backend.js';
import { selectBackend } from '../../src/engine/backend.js';
import {
  RecurrentLayer,
  recurrentDropoutMasks,
  recurrentMaskSeed,
  type RecurrentCell,
  type RecurrentLayerArgs,
  type RecurrentMaskOptions,
} from '../../src/engine/layers/recurrent.js';

beforeAll(async () => {
  await selectBackend(testBackend);
});

let uid = 0;
const makeLayer = (over: Partial<RecurrentLayerArgs> = {}): RecurrentLayer =>
  new RecurrentLayer({
    name: `rec_${uid++}`,
    cell: 'lstm',
    units: 3,
    activation: 'tanh',
    returnSequences: false,
    dropout: 0,
    recurrentDropout: 0,
    dropoutMode: 'standard',
    recurrentBatchNorm: null,
    layerNorm: false,
    kernelInitializer: tf.initializers.glorotUniform({ seed: 11 }),
    recurrentInitializer: tf.initializers.orthogonal({ seed: 12 }),
    // A nonzero bias, so a mistake in the bias layout shows.
    biasInitializer: tf.initializers.randomUniform({ minval: -0.5, maxval: 0.5, seed: 13 }),
    seed: 1234,
    clock: { step: 0 },
    ...over,
  });

const run = (layer: tf.layers.Layer, x: tf.Tensor, training: boolean): number[] => {
  const out = layer.apply(x, { training }) as tf.Tensor;
  const values = Array.from(out.dataSync());
  out.dispose();
  return values;
};
const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  expect(a.length).toBe(b.length);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
};
const randomInput = (shape: [number, number, number], seed: number) => tf.randomNormal(shape, 0, 1, 'float32', seed);
/** Copies `from`'s weights into a layer built on the same input. */
const sameWeights = (from: tf.layers.Layer, to: tf.layers.Layer, x: tf.Tensor) => {
  if (!to.built) (to.apply(x) as tf.Tensor).dispose();
  to.setWeights(from.getWeights());
};
const stockLayer = (cell: RecurrentCell, units: number, returnSequences: boolean, activation = 'tanh') => {
  const args = { units, returnSequences, activation: activation as 'tanh' };
  if (cell === 'simpleRnn') return tf.layers.simpleRNN(args);
  if (cell === 'lstm') return tf.layers.lstm({ ...args, recurrentActivation: 'sigmoid' });
  return tf.layers.gru({ ...args, recurrentActivation: 'sigmoid' });
};
const cells: RecurrentCell[] = ['simpleRnn', 'lstm', 'gru'];

/** A saved-and-loaded model predicts what the original does; disposes both and the input. */
function expectSamePredictions(model: tf.LayersModel, loaded: tf.LayersModel, x: tf.Tensor): void {
  const a = model.predict(x) as tf.Tensor;
  const b = loaded.predict(x) as tf.Tensor;
  expect(maxAbsDiff(a.dataSync(), b.dataSync())).toBeLessThan(1e-5);
  tf.dispose([x, a, b]);
  model.dispose();
  loaded.dispose();
}

describe('plain recurrent layers match the stock TF.js layers', () => {
  for (const cell of cells) {
    for (const returnSequences of [false, true]) {
      it(`${cell}, returnSequences ${returnSequences}`, () => {
        const x = randomInput([3, 5, 4], 1);
        const ours = makeLayer({ cell, units: 6, returnSequences });
        const a = ours.apply(x) as tf.Tensor;
        expect(a.shape).toEqual(returnSequences ? [3, 5, 6] : [3, 6]);
        const stock = stockLayer(cell, 6, returnSequences);
        sameWeights(ours, stock, x);
        expect(stock.getWeights().map((w) => w.shape)).toEqual(ours.getWeights().map((w) => w.shape));
        const b = stock.apply(x) as tf.Tensor;
        expect(maxAbsDiff(a.dataSync(), b.dataSync())).toBeLessThan(1e-5);
        // Not trivially equal: the output is not constant.
        expect(Math.max(...a.dataSync()) - Math.min(...a.dataSync())).toBeGreaterThan(0.1);
        tf.dispose([x, a, b]);
      });
    }
  }

  it('names its weights kernel, recurrent_kernel, bias; the LSTM forget bias starts at 1', () => {
    const layer = makeLayer({ cell: 'lstm', units: 2, biasInitializer: tf.initializers.zeros() });
    const x = randomInput([1, 2, 3], 2);
    run(layer, x, false);
    expect(layer.trainableWeights.map((w) => w.originalName.split('/').pop())).toEqual(['kernel', 'recurrent_kernel', 'bias']);
    expect(layer.trainableWeights.every((w) => w.dtype === 'float32')).toBe(true);
    expect(Array.from(layer.getWeights()[2]!.dataSync())).toEqual([0, 0, 1, 1, 0, 0, 0, 0]);
    x.dispose();
  });

  it('works in a functional model with a variable sequence length', () => {
    const input = tf.input({ shape: [null, 3] });
    const layer = makeLayer({ cell: 'gru', units: 4, returnSequences: true });
    const output = layer.apply(input) as tf.SymbolicTensor;
    expect(output.shape).toEqual([null, null, 4]);
    const model = tf.model({ inputs: input, outputs: output });
    for (const T of [2, 7]) {
      const x = randomInput([2, T, 3], T);
      const y = model.predict(x) as tf.Tensor;
      expect(y.shape).toEqual([2, T, 4]);
      tf.dispose([x, y]);
    }
    model.dispose();
  });

  it('leaks no tensors per call (training, dropout, batch normalization)', () => {
    const layer = makeLayer({ cell: 'lstm', dropout: 0.3, recurrentBatchNorm: { maxSteps: 3, momentum: 0.9, epsilon: 1e-3, gammaInit: 0.1 } });
    const x = randomInput([2, 5, 4], 3);
    run(layer, x, true); // builds
    const before = tf.memory().numTensors;
    run(layer, x, true);
    run(layer, x, false);
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
  });
});

/** Saves a model to memory and loads it back with the stock loader. */
async function roundTrip(model: tf.LayersModel): Promise<tf.LayersModel> {
  let saved: tf.io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      saved = artifacts;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  return tf.loadLayersModel(tf.io.fromMemory(saved!));
}

describe('serialization', () => {
  const stockNames: Record<RecurrentCell, string> = { simpleRnn: 'SimpleRNN', lstm: 'LSTM', gru: 'GRU' };
  for (const cell of cells) {
    it(`a plain ${cell} saves as the stock ${stockNames[cell]} and loads with its weights and outputs`, async () => {
      const model = tf.sequential();
      model.add(makeLayer({ cell, units: 5, inputShape: [4, 3], dropout: 0.2 }));
      model.add(tf.layers.dense({ units: 2 }));
      const loaded = await roundTrip(model);
      const layer = loaded.layers[0]!;
      expect(layer.getClassName()).toBe(stockNames[cell]);
      expect(layer).not.toBeInstanceOf(RecurrentLayer);
      if (cell !== 'simpleRnn') expect(layer.getConfig()['recurrentActivation']).toBe('sigmoid');
      if (cell === 'lstm') expect(layer.getConfig()['unitForgetBias']).toBe(true);
      // Only keys the stock class knows (a Keras loader rejects unknown ones).
      const stockKeys = Object.keys(layer.getConfig());
      expect(Object.keys(model.layers[0]!.getConfig()).filter((key) => !stockKeys.includes(key))).toEqual([]);
      const x = randomInput([3, 4, 3], 4);
      expectSamePredictions(model, loaded, x);
    });
  }

  for (const [label, over] of [
    ['layerNorm gru', { cell: 'gru', layerNorm: true }],
    ['recurrent batch norm lstm', { cell: 'lstm', recurrentBatchNorm: { maxSteps: 2, momentum: 0.5, epsilon: 1e-3, gammaInit: 0.1 }, dropoutMode: 'cellUpdate', dropout: 0.25 }],
  ] as Array<[string, Partial<RecurrentLayerArgs>]>) {
    it(`a ${label} saves as TrainyardRecurrent and loads as a RecurrentLayer with the same config and outputs`, async () => {
      const model = tf.sequential();
      const original = makeLayer({ units: 4, inputShape: [3, 2], returnSequences: true, ...over });
      model.add(original);
      const x = randomInput([4, 3, 2], 5);
      // One training pass, so the running statistics are not at their initial values.
      (model.apply(x, { training: true }) as tf.Tensor).dispose();
      const loaded = await roundTrip(model);
      const layer = loaded.layers[0]!;
      expect(layer.getClassName()).toBe('TrainyardRecurrent');
      expect(layer).toBeInstanceOf(RecurrentLayer);
      const { name: _a, ...configA } = original.getConfig();
      const { name: _b, ...configB } = layer.getConfig();
      expect(configB).toEqual(configA);
      expectSamePredictions(model, loaded, x);
    });
  }
});

const maskOptions = (over: Partial<RecurrentMaskOptions>): RecurrentMaskOptions => ({
  cell: 'lstm',
  mode: 'standard',
  dropout: 0.5,
  recurrentDropout: 0,
  training: true,
  seed: 99,
  step: 0,
  timeSteps: 4,
  batch: 3,
  inputDim: 8,
  units: 6,
  ...over,
});
const values = (t: tf.Tensor | null) => (t ? Array.from(t.dataSync()) : null);
const disposeMasks = (masks: ReturnType<typeof recurrentDropoutMasks>) =>
  tf.dispose(masks.flatMap((m) => [m.input, m.recurrent, m.candidate].filter((t): t is tf.Tensor2D => t !== null)));

describe('dropout masks (the pure mask function)', () => {
  it('variational: one input mask and one state mask, the same at every time step', () => {
    const masks = recurrentDropoutMasks(maskOptions({ mode: 'variational', dropout: 0.5, recurrentDropout: 0.3 }));
    expect(masks).toHaveLength(4);
    for (const m of masks) {
      expect(m.candidate).toBeNull();
      expect(m.input!.shape).toEqual([3, 8]);
      expect(m.recurrent!.shape).toEqual([3, 6]);
      expect(values(m.input)).toEqual(values(masks[0]!.input));
      expect(values(m.recurrent)).toEqual(values(masks[0]!.recurrent));
    }
    // Inverted dropout: entries are 0 or 1/(1 − p), and both occur.
    expect(new Set(values(masks[0]!.input)!.map((v) => v.toFixed(4)))).toEqual(new Set(['0.0000', '2.0000']));
    expect(new Set(values(masks[0]!.recurrent)!.map((v) => v.toFixed(4)))).toEqual(new Set(['0.0000', (1 / 0.7).toFixed(4)]));
    disposeMasks(masks);
  });

  it('standard: a fresh input mask at every step, the state never masked', () => {
    const masks = recurrentDropoutMasks(maskOptions({ mode: 'standard' }));
    for (const m of masks) {
      expect(m.recurrent).toBeNull();
      expect(m.candidate).toBeNull();
      expect(m.input).not.toBeNull();
    }
    expect(values(masks[1]!.input)).not.toEqual(values(masks[0]!.input));
    expect(values(masks[3]!.input)).not.toEqual(values(masks[2]!.input));
    disposeMasks(masks);
  });

  it('cellUpdate: a fresh candidate mask at every step and nothing else', () => {
    const masks = recurrentDropoutMasks(maskOptions({ mode: 'cellUpdate', cell: 'gru' }));
    for (const m of masks) {
      expect(m.input).toBeNull();
      expect(m.recurrent).toBeNull();
      expect(m.candidate!.shape).toEqual([3, 6]);
    }
    expect(values(masks[1]!.candidate)).not.toEqual(values(masks[0]!.candidate));
    disposeMasks(masks);
  });

  it('no masks at inference or at rate 0', () => {
    for (const mode of ['standard', 'variational', 'cellUpdate'] as const) {
      const off = recurrentDropoutMasks(maskOptions({ mode, training: false, recurrentDropout: mode === 'variational' ? 0.5 : 0 }));
      const zero = recurrentDropoutMasks(maskOptions({ mode, dropout: 0 }));
      for (const m of [...off, ...zero]) expect([m.input, m.recurrent, m.candidate]).toEqual([null, null, null]);
    }
  });

  it('differ between optimizer steps, repeat within one (reproducible)', () => {
    for (const mode of ['standard', 'variational', 'cellUpdate'] as const) {
      const a = recurrentDropoutMasks(maskOptions({ mode, step: 0 }));
      const again = recurrentDropoutMasks(maskOptions({ mode, step: 0 }));
      const b = recurrentDropoutMasks(maskOptions({ mode, step: 1 }));
      const pick = (m: (typeof a)[number]) => values(m.input ?? m.candidate);
      expect(a.map(pick)).toEqual(again.map(pick));
      expect(pick(b[0]!)).not.toEqual(pick(a[0]!));
      [a, again, b].forEach(disposeMasks);
    }
    expect(recurrentMaskSeed(1, 0, 0, 'input')).not.toBe(recurrentMaskSeed(1, 0, 0, 'recurrent'));
    expect(recurrentMaskSeed(1, 0, -1, 'input')).not.toBe(recurrentMaskSeed(1, 0, 0, 'input'));
  });
});

/** A linear simpleRnn whose weights are set by hand. */
function linearRnn(over: Partial<RecurrentLayerArgs>, kernel: tf.Tensor2D, recurrent: tf.Tensor2D, x: tf.Tensor): RecurrentLayer {
  const layer = makeLayer({ cell: 'simpleRnn', units: recurrent.shape[0], activation: 'linear', returnSequences: true, ...over });
  run(layer, x, false);
  layer.setWeights([kernel, recurrent, tf.zeros([recurrent.shape[0]])]);
  return layer;
}
/** h_t of a [1, T, units] output, as rows. */
const stepsOf = (out: number[], units: number) => Array.from({ length: out.length / units }, (_, t) => out.slice(t * units, (t + 1) * units));

describe('dropout modes, behaviourally', () => {
  it('variational drops the inputs with the same mask at every step; standard with a fresh one', () => {
    const T = 5;
    const D = 12;
    const U = 4;
    const xRow = tf.randomNormal([1, 1, D], 0, 1, 'float32', 7);
    const x = tf.tile(xRow, [1, T, 1]);
    const kernel = tf.randomNormal([D, U], 0, 1, 'float32', 8) as tf.Tensor2D;
    const zero = tf.zeros([U, U]) as tf.Tensor2D;
    const variational = linearRnn({ dropout: 0.5, dropoutMode: 'variational' }, kernel, zero, x);
    const hv = stepsOf(run(variational, x, true), U);
    for (const h of hv) expect(maxAbsDiff(h, hv[0]!)).toBeLessThan(1e-6);
    // …and it did drop something: not the dropout-free output.
    const clean = stepsOf(run(variational, x, false), U);
    expect(maxAbsDiff(hv[0]!, clean[0]!)).toBeGreaterThan(1e-3);

    const standard = linearRnn({ dropout: 0.5, dropoutMode: 'standard' }, kernel, zero, x);
    const hs = stepsOf(run(standard, x, true), U);
    expect(maxAbsDiff(hs[1]!, hs[0]!)).toBeGreaterThan(1e-3);
    expect(maxAbsDiff(hs[2]!, hs[1]!)).toBeGreaterThan(1e-3);
    tf.dispose([xRow, x, kernel, zero]);
  });

  it('standard leaves the recurrent path untouched; variational with recurrentDropout drops it', () => {
    const T = 6;
    const U = 16;
    const first = tf.randomUniform([1, 1, U], 0.5, 1.5, 'float32', 9);
    const x = tf.concat([first, tf.zeros([1, T - 1, U])], 1);
    const eye = tf.eye(U) as tf.Tensor2D;
    const standard = linearRnn({ dropout: 0.6, dropoutMode: 'standard' }, eye, eye, x);
    const hs = stepsOf(run(standard, x, true), U);
    expect(hs[0]!.some((v) => v !== 0)).toBe(true);
    expect(hs[0]!.some((v) => v === 0)).toBe(true); // the input at t = 0 was dropped…
    for (const h of hs) expect(maxAbsDiff(h, hs[0]!)).toBeLessThan(1e-6); // …the state never is

    const variational = linearRnn({ dropout: 0, recurrentDropout: 0.6, dropoutMode: 'variational' }, eye, eye, x);
    const hv = stepsOf(run(variational, x, true), U);
    expect(maxAbsDiff(hv[0]!, Array.from(first.dataSync()))).toBeLessThan(1e-6); // no input dropout
    expect(maxAbsDiff(hv[1]!, hv[0]!)).toBeGreaterThan(1e-3);
    tf.dispose([first, x, eye]);
  });

  for (const cell of ['lstm', 'gru'] as const) {
    it(`cellUpdate (${cell}) drops the candidate only, exactly as the hand-written recurrence`, () => {
      const [B, T, D, U] = [3, 4, 5, 6];
      const clock = { step: 3 };
      const layer = makeLayer({ cell, units: U, returnSequences: true, dropout: 0.5, dropoutMode: 'cellUpdate', clock, seed: 77 });
      const x = randomInput([B, T, D], 10);
      const got = run(layer, x, true);
      const masks = recurrentDropoutMasks(
        maskOptions({ cell, mode: 'cellUpdate', dropout: 0.5, seed: 77, step: 3, timeSteps: T, batch: B, inputDim: D, units: U }),
      );
      const [K, R, b] = layer.getWeights() as [tf.Tensor2D, tf.Tensor2D, tf.Tensor1D];
      const expected = tf.tidy(() => {
        const xs = tf.unstack(x, 1);
        let h: tf.Tensor = tf.zeros([B, U]);
        let c: tf.Tensor = tf.zeros([B, U]);
        const hs: tf.Tensor[] = [];
        for (let t = 0; t < T; t++) {
          const m = masks[t]!.candidate!;
          if (cell === 'lstm') {
            const [i, f, g, o] = tf.split(tf.add(tf.add(tf.matMul(xs[t]!, K), tf.matMul(h, R)), b), 4, 1);
            c = tf.add(tf.mul(tf.sigmoid(f!), c), tf.mul(tf.sigmoid(i!), tf.mul(tf.tanh(g!), m)));
            h = tf.mul(tf.sigmoid(o!), tf.tanh(c));
          } else {
            const [xz, xr, xh] = tf.split(tf.add(tf.matMul(xs[t]!, K), b), 3, 1);
            const [Rzr, Rh] = tf.split(R, [2 * U, U], 1);
            const [hz, hr] = tf.split(tf.matMul(h, Rzr!), 2, 1);
            const z = tf.sigmoid(tf.add(xz!, hz!));
            const r = tf.sigmoid(tf.add(xr!, hr!));
            const hh = tf.tanh(tf.add(xh!, tf.matMul(tf.mul(r, h), Rh!)));
            h = tf.add(tf.mul(z, h), tf.mul(tf.sub(1, z), tf.mul(hh, m)));
          }
          hs.push(h);
        }
        return tf.stack(hs, 1);
      });
      expect(maxAbsDiff(got, expected.dataSync())).toBeLessThan(1e-5);
      // The masks did something.
      expect(maxAbsDiff(got, run(layer, x, false))).toBeGreaterThan(1e-3);
      disposeMasks(masks);
      tf.dispose([x, expected]);
    });
  }

  it('rejects what the catalogue does not define', () => {
    expect(() => makeLayer({ cell: 'simpleRnn', dropoutMode: 'cellUpdate', dropout: 0.2 })).toThrow(/cellUpdate/);
    expect(() => makeLayer({ dropoutMode: 'standard', recurrentDropout: 0.2 })).toThrow(/variational/);
    expect(() => makeLayer({ dropoutMode: 'cellUpdate', recurrentDropout: 0.2 })).toThrow(/variational/);
    const bn = { maxSteps: 3, momentum: 0.9, epsilon: 1e-3, gammaInit: 0.1 };
    expect(() => makeLayer({ cell: 'gru', recurrentBatchNorm: bn })).toThrow(/lstm/);
    expect(() => makeLayer({ cell: 'lstm', recurrentBatchNorm: bn, layerNorm: true })).toThrow(/not both/);
    expect(() => makeLayer({ dropout: 1 })).toThrow();
    expect(() => makeLayer({ activation: 'nonsense' })).toThrow();
  });

  for (const [mode, over] of [
    ['standard', { dropout: 0.5 }],
    ['variational', { dropout: 0.5, recurrentDropout: 0.5 }],
    ['cellUpdate', { dropout: 0.5 }],
  ] as const) {
    it(`${mode} dropout is off at inference`, () => {
      const x = randomInput([2, 5, 4], 11);
      const dropped = makeLayer({ cell: 'lstm', dropoutMode: mode, ...over });
      const plain = makeLayer({ cell: 'lstm' });
      run(dropped, x, false);
      sameWeights(dropped, plain, x);
      const a = run(dropped, x, false);
      expect(run(dropped, x, false)).toEqual(a);
      expect(maxAbsDiff(a, run(plain, x, false))).toBeLessThan(1e-6);
      expect(maxAbsDiff(a, run(plain, x, true))).toBeLessThan(1e-6);
      expect(maxAbsDiff(run(dropped, x, true), a)).toBeGreaterThan(1e-3);
      x.dispose();
    });
  }

  it('the masks follow the clock: a new step, new masks; the same step, the same output', () => {
    for (const mode of ['standard', 'variational', 'cellUpdate'] as const) {
      const clock = { step: 0 };
      const layer = makeLayer({ cell: 'gru', dropoutMode: mode, dropout: 0.5, clock });
      const x = randomInput([2, 4, 5], 12);
      const a = run(layer, x, true);
      expect(run(layer, x, true)).toEqual(a);
      clock.step = 1;
      const b = run(layer, x, true);
      expect(maxAbsDiff(a, b)).toBeGreaterThan(1e-4);
      clock.step = 0;
      expect(run(layer, x, true)).toEqual(a);
      x.dispose();
    }
  });
});

// ---- Recurrent batch normalization: a scalar (units = 1, inputDim = 1) reference in plain numbers.
interface ScalarLstm {
  k: number[]; // [i, f, g, o]
  r: number[];
  b: number[];
}
interface Running {
  meanX: number[][];
  varX: number[][];
  meanH: number[][];
  varH: number[][];
  meanC: number[][];
  varC: number[][];
}
const sig = (v: number) => 1 / (1 + Math.exp(-v));
const stats = (v: number[]) => {
  const mean = v.reduce((s, a) => s + a, 0) / v.length;
  return { mean, variance: v.reduce((s, a) => s + (a - mean) ** 2, 0) / v.length };
};
/**
 * x[b][t]; gamma 0.1 everywhere, betaC 0. Training: batch statistics, returns them per step;
 * inference: running statistics of row min(t, maxSteps − 1).
 */
function referenceBnLstm(w: ScalarLstm, x: number[][], eps: number, training: boolean, running: Running | null, maxSteps: number, gamma = 0.1) {
  const B = x.length;
  const T = x[0]!.length;
  let h = new Array<number>(B).fill(0);
  let c = new Array<number>(B).fill(0);
  const steps: Array<{ x: ReturnType<typeof stats>[]; h: ReturnType<typeof stats>[]; c: ReturnType<typeof stats> }> = [];
  const out: number[][] = x.map(() => []);
  for (let t = 0; t < T; t++) {
    const row = Math.min(t, maxSteps - 1);
    const wx = [0, 1, 2, 3].map((j) => x.map((xb) => xb[t]! * w.k[j]!));
    const uh = [0, 1, 2, 3].map((j) => h.map((hb) => hb * w.r[j]!));
    const sx = wx.map(stats);
    const sh = uh.map(stats);
    const norm = (v: number, s: { mean: number; variance: number }) => (gamma * (v - s.mean)) / Math.sqrt(s.variance + eps);
    const statX = (j: number) => (training ? sx[j]! : { mean: running!.meanX[row]![j]!, variance: running!.varX[row]![j]! });
    const statH = (j: number) => (training ? sh[j]! : { mean: running!.meanH[row]![j]!, variance: running!.varH[row]![j]! });
    const pre = (j: number, bIdx: number) => norm(wx[j]![bIdx]!, statX(j)) + norm(uh[j]![bIdx]!, statH(j)) + w.b[j]!;
    c = c.map((cb, bIdx) => sig(pre(1, bIdx)) * cb + sig(pre(0, bIdx)) * Math.tanh(pre(2, bIdx)));
    const sc = stats(c);
    const statC = training ? sc : { mean: running!.meanC[row]![0]!, variance: running!.varC[row]![0]! };
    h = c.map((cb, bIdx) => sig(pre(3, bIdx)) * Math.tanh(norm(cb, statC)));
    h.forEach((hb, bIdx) => out[bIdx]!.push(hb));
    steps.push({ x: sx, h: sh, c: sc });
  }
  return { out, steps };
}

describe('recurrent batch normalization (LSTM)', () => {
  const scalar: ScalarLstm = { k: [0.8, -0.5, 1.2, 0.6], r: [0.7, 0.4, -0.9, 1.1], b: [0.1, 1, -0.2, 0.3] };
  const setScalarWeights = (layer: RecurrentLayer, x: tf.Tensor) => {
    run(layer, x, false);
    const rest = layer.getWeights().slice(3);
    layer.setWeights([tf.tensor2d([scalar.k]), tf.tensor2d([scalar.r]), tf.tensor1d(scalar.b), ...rest]);
  };
  const weight = (layer: RecurrentLayer, suffix: string) => {
    const w = layer.weights.find((v) => v.originalName.endsWith(`/${suffix}`))!;
    return w.read().arraySync() as number[] | number[][];
  };

  it('γ starts at 0.1 (x, h and cell terms), β of the cell at 0, running statistics per step', () => {
    const layer = makeLayer({ cell: 'lstm', units: 3, recurrentBatchNorm: { maxSteps: 4, momentum: 0.9, epsilon: 1e-3, gammaInit: 0.1 } });
    const x = randomInput([2, 3, 5], 13);
    run(layer, x, false);
    for (const name of ['bn_x_gamma', 'bn_h_gamma']) expect(weight(layer, name)).toEqual(new Array(12).fill(Math.fround(0.1)));
    expect(weight(layer, 'bn_c_gamma')).toEqual([0.1, 0.1, 0.1].map(Math.fround));
    expect(weight(layer, 'bn_c_beta')).toEqual([0, 0, 0]);
    expect((weight(layer, 'bn_x_moving_mean') as number[][]).length).toBe(4);
    expect(layer.trainableWeights.map((w) => w.originalName.split('/').pop())).toEqual(['kernel', 'recurrent_kernel', 'bias', 'bn_x_gamma', 'bn_h_gamma', 'bn_c_gamma', 'bn_c_beta']);
    expect(layer.nonTrainableWeights).toHaveLength(6);
    x.dispose();
  });

  it('training: batch statistics per step, running ← momentum · running + (1 − momentum) · batch (hand computation)', () => {
    const maxSteps = 3;
    const momentum = 0.9;
    const eps = 1e-3;
    const layer = makeLayer({ cell: 'lstm', units: 1, returnSequences: true, recurrentBatchNorm: { maxSteps, momentum, epsilon: eps, gammaInit: 0.1 } });
    const xs = [
      [1, 2],
      [3, -1],
    ];
    const x = tf.tensor3d(xs.map((row) => row.map((v) => [v])));
    setScalarWeights(layer, x);
    const got = run(layer, x, true);
    const ref = referenceBnLstm(scalar, xs, eps, true, null, maxSteps);
    expect(maxAbsDiff(got, ref.out.flat())).toBeLessThan(1e-5);
    const meanX = weight(layer, 'bn_x_moving_mean') as number[][];
    const varX = weight(layer, 'bn_x_moving_variance') as number[][];
    const meanH = weight(layer, 'bn_h_moving_mean') as number[][];
    const varH = weight(layer, 'bn_h_moving_variance') as number[][];
    const meanC = weight(layer, 'bn_c_moving_mean') as number[][];
    const varC = weight(layer, 'bn_c_moving_variance') as number[][];
    for (let t = 0; t < 2; t++) {
      const s = ref.steps[t]!;
      for (let j = 0; j < 4; j++) {
        expect(meanX[t]![j]).toBeCloseTo((1 - momentum) * s.x[j]!.mean, 5);
        expect(varX[t]![j]).toBeCloseTo(momentum + (1 - momentum) * s.x[j]!.variance, 5);
        expect(meanH[t]![j]).toBeCloseTo((1 - momentum) * s.h[j]!.mean, 5);
        expect(varH[t]![j]).toBeCloseTo(momentum + (1 - momentum) * s.h[j]!.variance, 5);
      }
      expect(meanC[t]![0]).toBeCloseTo((1 - momentum) * s.c.mean, 5);
      expect(varC[t]![0]).toBeCloseTo(momentum + (1 - momentum) * s.c.variance, 5);
    }
    // h_0 = 0: the step-0 hidden term has zero mean and variance; step 1's does not.
    expect(varH[0]![0]).toBeCloseTo(momentum, 6);
    expect(varH[1]![0]).not.toBeCloseTo(momentum, 4);
    // A row the sequence did not reach is untouched.
    expect(meanX[2]).toEqual([0, 0, 0, 0]);
    expect(varX[2]).toEqual([1, 1, 1, 1]);
    // A second pass moves the running statistics again.
    run(layer, x, true);
    expect((weight(layer, 'bn_x_moving_mean') as number[][])[0]![0]).toBeCloseTo((1 - momentum) * (1 + momentum) * ref.steps[0]!.x[0]!.mean, 5);
    x.dispose();
  });

  it('inference: running statistics of step min(t, T); a sequence longer than maxSteps works', () => {
    const maxSteps = 2;
    const eps = 1e-3;
    const layer = makeLayer({ cell: 'lstm', units: 1, returnSequences: true, recurrentBatchNorm: { maxSteps, momentum: 0.9, epsilon: eps, gammaInit: 0.1 } });
    const xs = [
      [0.5, -1, 2, 1.5, -0.3],
      [1, 0.2, -0.7, 0.4, 0.9],
    ];
    const x = tf.tensor3d(xs.map((row) => row.map((v) => [v])));
    setScalarWeights(layer, x);
    // Distinct statistics per row, so using the wrong row shows.
    const running: Running = {
      meanX: [
        [0.1, 0.2, -0.1, 0.3],
        [-0.4, 0.5, 0.2, -0.2],
      ],
      varX: [
        [0.5, 1.5, 2, 0.8],
        [1.2, 0.3, 0.9, 2.5],
      ],
      meanH: [
        [0, 0.1, 0.2, -0.3],
        [0.3, -0.2, 0.1, 0.4],
      ],
      varH: [
        [0.7, 0.9, 1.1, 1.3],
        [2, 0.4, 0.6, 0.5],
      ],
      meanC: [[0.2], [-0.5]],
      varC: [[0.6], [1.7]],
    };
    const w = layer.getWeights();
    layer.setWeights([
      ...w.slice(0, 7),
      tf.tensor2d(running.meanX),
      tf.tensor2d(running.varX),
      tf.tensor2d(running.meanH),
      tf.tensor2d(running.varH),
      tf.tensor2d(running.meanC),
      tf.tensor2d(running.varC),
    ]);
    expect(layer.nonTrainableWeights.map((v) => v.originalName.split('/').pop())).toEqual([
      'bn_x_moving_mean',
      'bn_x_moving_variance',
      'bn_h_moving_mean',
      'bn_h_moving_variance',
      'bn_c_moving_mean',
      'bn_c_moving_variance',
    ]);
    const got = run(layer, x, false);
    const ref = referenceBnLstm(scalar, xs, eps, false, running, maxSteps);
    expect(maxAbsDiff(got, ref.out.flat())).toBeLessThan(1e-5);
    // Using row 0 for every step would give another answer.
    const wrong = referenceBnLstm(scalar, xs, eps, false, running, 1);
    expect(maxAbsDiff(got, wrong.out.flat())).toBeGreaterThan(1e-3);
    // Longer-than-maxSteps sequences in training also work (batch statistics; rows 0..T−1 updated).
    expect(run(layer, x, true).every(Number.isFinite)).toBe(true);
    x.dispose();
  });

  it('at inference a sample\'s output does not depend on the rest of the batch (in training it does)', () => {
    const layer = makeLayer({ cell: 'lstm', units: 4, recurrentBatchNorm: { maxSteps: 3, momentum: 0.5, epsilon: 1e-3, gammaInit: 0.1 } });
    const batch = randomInput([3, 4, 2], 14);
    run(layer, batch, true);
    run(layer, batch, true);
    const alone = tf.slice(batch, [0, 0, 0], [1, -1, -1]);
    const together = run(layer, batch, false).slice(0, 4);
    expect(maxAbsDiff(run(layer, alone, false), together)).toBeLessThan(1e-6);
    const pair = tf.slice(batch, [0, 0, 0], [2, -1, -1]);
    expect(maxAbsDiff(run(layer, pair, true).slice(0, 4), run(layer, batch, true).slice(0, 4))).toBeGreaterThan(1e-4);
    tf.dispose([batch, alone, pair]);
  });
});

describe('layer normalization inside the cell', () => {
  for (const cell of cells) {
    it(`${cell}: a sample's output in training does not depend on the batch, and the cell is scale invariant`, () => {
      const layer = makeLayer({ cell, units: 5, layerNorm: true, returnSequences: true });
      const batch = randomInput([3, 4, 6], 15);
      const alone = tf.slice(batch, [1, 0, 0], [1, -1, -1]);
      const together = run(layer, batch, true).slice(20, 40);
      expect(maxAbsDiff(run(layer, alone, true), together)).toBeLessThan(1e-5);
      // W x_t and U h_{t−1} are normalised: scaling both kernels leaves the output unchanged
      // (up to ε, hence kernels large enough that ε is negligible: ×10 against ×40)…
      // getWeights gives the live variables: copy before overwriting them.
      const [K, R, ...rest] = layer.getWeights().map((w) => w.clone());
      layer.setWeights([tf.mul(K!, 10), tf.mul(R!, 10), ...rest]);
      const before = run(layer, batch, true);
      layer.setWeights([tf.mul(K!, 40), tf.mul(R!, 40), ...rest]);
      expect(maxAbsDiff(run(layer, batch, true), before)).toBeLessThan(5e-3);
      // …which is not so without layer normalization.
      const plain = makeLayer({ cell, units: 5, returnSequences: true });
      run(plain, batch, false);
      plain.setWeights([K!, R!, rest[0]!]);
      const plainBefore = run(plain, batch, true);
      plain.setWeights([tf.mul(K!, 4), tf.mul(R!, 4), rest[0]!]);
      expect(maxAbsDiff(run(plain, batch, true), plainBefore)).toBeGreaterThan(0.05);
      expect(layer.trainableWeights.map((w) => w.originalName.split('/').pop())).toEqual([
        'kernel',
        'recurrent_kernel',
        'bias',
        'ln_x_gamma',
        'ln_x_beta',
        'ln_h_gamma',
        'ln_h_beta',
        ...(cell === 'lstm' ? ['ln_c_gamma', 'ln_c_beta'] : []),
      ]);
      tf.dispose([batch, alone, K!, R!, ...rest]);
    });
  }
});

describe('gradients', () => {
  const configs: Array<[string, Partial<RecurrentLayerArgs>]> = [
    ['simpleRnn, standard dropout', { cell: 'simpleRnn', dropout: 0.3 }],
    ['lstm, variational dropout', { cell: 'lstm', dropout: 0.3, recurrentDropout: 0.3, dropoutMode: 'variational' }],
    ['gru, cellUpdate dropout', { cell: 'gru', dropout: 0.3, dropoutMode: 'cellUpdate' }],
    ['lstm, recurrent batch norm', { cell: 'lstm', recurrentBatchNorm: { maxSteps: 2, momentum: 0.9, epsilon: 1e-3, gammaInit: 0.1 } }],
    ['gru, layer norm', { cell: 'gru', layerNorm: true }],
    ['lstm, layer norm', { cell: 'lstm', layerNorm: true }],
  ];
  for (const [label, over] of configs) {
    it(`${label}: finite, nonzero gradients for every trainable weight, inside a sequential model`, () => {
      const model = tf.sequential();
      model.add(makeLayer({ units: 4, inputShape: [5, 3], ...over }));
      model.add(tf.layers.dense({ units: 2 }));
      const x = randomInput([4, 5, 3], 16);
      const layer = model.layers[0]!;
      const vars = layer.trainableWeights.map((w) => w.read() as tf.Variable);
      const { value, grads } = tf.variableGrads(() => tf.tidy(() => tf.sum(tf.square(model.apply(x, { training: true }) as tf.Tensor))) as tf.Scalar, vars);
      expect(Object.keys(grads)).toHaveLength(vars.length);
      for (const w of layer.trainableWeights) {
        const g = grads[(w.read() as tf.Variable).name]!;
        const data = Array.from(g.dataSync());
        expect(data.every(Number.isFinite), w.originalName).toBe(true);
        expect(Math.max(...data.map(Math.abs)), w.originalName).toBeGreaterThan(0);
      }
      tf.dispose([value, x, ...Object.values(grads)]);
      model.dispose();
    });
  }
});
