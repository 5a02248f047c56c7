import { existsSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/engine/backend.js';
import { loadNativeAddon, type NativeAddon } from '../../src/engine/backends/native-kernels.js';
import { Dense } from '../../src/engine/layers/dense.js';
import { gradientNeeded, variableGradients } from '../../src/engine/layers/gradient-reach.js';
import { plainObjective, taskLoss } from '../../src/engine/objective.js';
import { computeGradients } from '../../src/engine/train-step.js';

const haveAddon = existsSync(new URL('../../native/build/Release/trainyard_native.node', import.meta.url));
const random = (shape: number[], seed: number) => tf.randomNormal(shape, 0, 1, 'float32', seed);

/** x·w whose gradient records, for each input, whether backpropagation will ask for it. */
function recordingProduct(seen: boolean[][]) {
  return tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [x, w, save] = args as [tf.Tensor, tf.Tensor, tf.GradSaveFunc];
    save([x, w]);
    return {
      value: tf.matMul(x as tf.Tensor2D, w as tf.Tensor2D),
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
        const [sx, sw] = saved as [tf.Tensor2D, tf.Tensor2D];
        seen.push([gradientNeeded(sx), gradientNeeded(sw)]);
        return [tf.matMul(dy as tf.Tensor2D, sw, false, true), tf.matMul(sx, dy as tf.Tensor2D, true, false)];
      },
    };
  });
}

describe('which inputs backpropagation asks a gradient for', () => {
  it('in a training step: not the data batch, but a variable and whatever a variable reaches, through reshapes too', () => {
    const seen: boolean[][] = [];
    const product = recordingProduct(seen);
    const [w1, w2] = [tf.variable(random([5, 4], 1)), tf.variable(random([4, 3], 2))];
    const x = random([6, 5], 3);
    tf.tidy(() => {
      variableGradients(() => {
        const hidden = tf.reshape(tf.reshape(product(x, w1), [24]), [6, 4]);
        return tf.sum(product(tf.relu(hidden), w2));
      }, [w1, w2]);
    });
    // Backpropagation runs the later product first.
    expect(seen).toEqual([
      [true, true],
      [false, true],
    ]);
    tf.dispose([w1, w2, x]);
  });

  it('a product of two variables, and the data batch once a variable has been added to it, need theirs', () => {
    const seen: boolean[][] = [];
    const product = recordingProduct(seen);
    const [shift, w] = [tf.variable(random([6, 5], 4)), tf.variable(random([5, 2], 5))];
    const x = random([6, 5], 6);
    tf.tidy(() => {
      variableGradients(() => tf.sum(tf.add(product(tf.add(x, shift), w), product(shift, w))), [shift, w]);
    });
    expect(seen).toEqual([
      [true, true],
      [true, true],
    ]);
    tf.dispose([shift, w, x]);
  });

  it("outside a training step every input's gradient may be asked for (tf.grad of an input, tf.variableGrads)", () => {
    const seen: boolean[][] = [];
    const product = recordingProduct(seen);
    const w = tf.variable(random([5, 4], 7));
    const x = random([6, 5], 8);
    tf.tidy(() => {
      tf.grad((input: tf.Tensor) => tf.sum(product(input, w)))(x);
      tf.variableGrads(() => tf.sum(product(x, w)), [w]);
    });
    expect(seen).toEqual([
      [true, true],
      [true, true],
    ]);
    tf.dispose([w, x]);
  });
});

describe.skipIf(!haveAddon && !process.env.CI)('the native dense gradient in a training step', () => {
  let addon: NativeAddon;
  beforeAll(async () => {
    const loaded = loadNativeAddon();
    if (loaded instanceof Error) throw loaded;
    addon = loaded;
    await selectBackend('native');
  });
  afterAll(async () => {
    await selectBackend('wasm');
  });

  it("skips the first layer's input gradient and gives the weights' gradients of the full kernel, to the bit", () => {
    const model = tf.sequential({
      layers: [
        new Dense({ units: 32, activation: 'relu', inputShape: [20], kernelInitializer: tf.initializers.glorotUniform({ seed: 11 }) }),
        new Dense({ units: 16, activation: 'sigmoid', kernelInitializer: tf.initializers.glorotUniform({ seed: 12 }) }),
        new Dense({ units: 4, kernelInitializer: tf.initializers.glorotUniform({ seed: 13 }) }),
      ],
    });
    const variables = model.trainableWeights.map((weight) => weight.read() as tf.Variable);
    const [x, y] = [random([9, 20], 14), tf.oneHot(tf.tensor1d([0, 1, 2, 3, 0, 1, 2, 3, 0], 'int32'), 4).toFloat()];
    const objective = plainObjective('categoricalCrossentropy', false);
    const loss = () => taskLoss(model.apply(x, { training: true }) as tf.Tensor, y, objective);
    const weightGradients = (grads: tf.NamedTensorMap) => variables.map((v) => grads[v.name]!.dataSync() as Float32Array);
    const denseGrad = addon.denseGrad;
    const inputGradients: boolean[] = [];
    addon.denseGrad = (...args: Parameters<NativeAddon['denseGrad']>) => {
      inputGradients.push(args[4] !== null);
      denseGrad.apply(addon, args);
    };
    try {
      // Backpropagation runs the last layer first.
      const trained = computeGradients(model, variables, x, y, objective);
      tf.dispose([trained.loss, trained.correct, trained.entropy, ...trained.gradients]);
      expect(inputGradients).toEqual([true, true, false]);
      inputGradients.length = 0;
      const step = tf.tidy(() => weightGradients(variableGradients(loss, variables).grads));
      expect(inputGradients).toEqual([true, true, false]);
      inputGradients.length = 0;
      // tf.variableGrads (outside a training step) has every dx computed: the weights' gradients are those bits all the same.
      const everyInput = tf.tidy(() => weightGradients(tf.variableGrads(loss, variables).grads));
      expect(inputGradients).toEqual([true, true, true]);
      step.forEach((values, i) => expect(Array.from(values), variables[i]!.name).toEqual(Array.from(everyInput[i]!)));
    } finally {
      addon.denseGrad = denseGrad;
    }
    tf.dispose([x, y]);
    model.dispose();
  });
});
