import { existsSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/engine/backend.js';
import { createOptimizer } from '../../src/engine/optimizers/create-optimizer.js';
import { optimizerConfigSchema, type OptimizerConfig } from '../../src/spec/optimizer-spec.js';
import { catalogueOptimizerDefaults } from '../support/catalogue.js';

// The same formulas on the stock wasm ops and, where the addon is built (always in CI), as the
// native backend's single optimizer kernel.
const haveAddon = existsSync(new URL('../../native/build/Release/trainyard_native.node', import.meta.url));
const backends: ('wasm' | 'native')[] = ['wasm', ...(haveAddon || process.env.CI ? (['native'] as const) : [])];

// The catalogue's formulas (TECHNIQUES.md 1.2), written out again here in float64, element by
// element, independently of src/engine/optimizers. Each returns the next θ.
type Reference = (theta: number[], g: number[], lr: number, t: number, state: Record<string, number[]>) => number[];

const slot = (state: Record<string, number[]>, name: string, n: number, initial = 0) => (state[name] ??= new Array<number>(n).fill(initial));

const references: Record<string, { config: OptimizerConfig; step: Reference }> = {
  sgd: { config: { type: 'sgd' }, step: (theta, g, lr) => theta.map((x, i) => x - lr * g[i]!) },
  momentum: {
    config: { type: 'momentum', momentum: 0.9 },
    step: (theta, g, lr, _t, state) => {
      const v = slot(state, 'v', theta.length);
      return theta.map((x, i) => {
        v[i] = 0.9 * v[i]! + g[i]!;
        return x - lr * v[i]!;
      });
    },
  },
  nesterov: {
    config: { type: 'nesterov', momentum: 0.5 },
    step: (theta, g, lr, _t, state) => {
      const v = slot(state, 'v', theta.length);
      return theta.map((x, i) => {
        v[i] = 0.5 * v[i]! + g[i]!;
        return x - lr * (g[i]! + 0.5 * v[i]!);
      });
    },
  },
  adagrad: {
    config: { type: 'adagrad', epsilon: 1e-10, initialAccumulator: 0.1 },
    step: (theta, g, lr, _t, state) => {
      const G = slot(state, 'G', theta.length, 0.1);
      return theta.map((x, i) => {
        G[i] = G[i]! + g[i]! ** 2;
        return x - (lr * g[i]!) / (Math.sqrt(G[i]!) + 1e-10);
      });
    },
  },
  rmsprop: {
    config: { type: 'rmsprop', rho: 0.9, epsilon: 1e-8, momentum: 0 },
    step: (theta, g, lr, _t, state) => {
      const s = slot(state, 's', theta.length);
      return theta.map((x, i) => {
        s[i] = 0.9 * s[i]! + 0.1 * g[i]! ** 2;
        return x - (lr * g[i]!) / (Math.sqrt(s[i]!) + 1e-8);
      });
    },
  },
  'rmsprop with momentum': {
    config: { type: 'rmsprop', rho: 0.8, epsilon: 1e-6, momentum: 0.9 },
    step: (theta, g, lr, _t, state) => {
      const s = slot(state, 's', theta.length);
      const b = slot(state, 'b', theta.length);
      return theta.map((x, i) => {
        s[i] = 0.8 * s[i]! + 0.2 * g[i]! ** 2;
        b[i] = 0.9 * b[i]! + g[i]! / (Math.sqrt(s[i]!) + 1e-6);
        return x - lr * b[i]!;
      });
    },
  },
  adam: {
    config: { type: 'adam', beta1: 0.9, beta2: 0.999, epsilon: 1e-8 },
    step: (theta, g, lr, t, state) => {
      const m = slot(state, 'm', theta.length);
      const v = slot(state, 'v', theta.length);
      return theta.map((x, i) => {
        m[i] = 0.9 * m[i]! + 0.1 * g[i]!;
        v[i] = 0.999 * v[i]! + 0.001 * g[i]! ** 2;
        const mHat = m[i]! / (1 - 0.9 ** t);
        const vHat = v[i]! / (1 - 0.999 ** t);
        return x - (lr * mHat) / (Math.sqrt(vHat) + 1e-8);
      });
    },
  },
  adamw: {
    config: { type: 'adamw', beta1: 0.8, beta2: 0.99, epsilon: 1e-8, weightDecay: 0.1 },
    step: (theta, g, lr, t, state) => {
      const m = slot(state, 'm', theta.length);
      const v = slot(state, 'v', theta.length);
      return theta.map((x, i) => {
        m[i] = 0.8 * m[i]! + 0.2 * g[i]!;
        v[i] = 0.99 * v[i]! + 0.01 * g[i]! ** 2;
        const mHat = m[i]! / (1 - 0.8 ** t);
        const vHat = v[i]! / (1 - 0.99 ** t);
        // The decay uses θ before this step's update.
        return x - lr * 0.1 * x - (lr * mHat) / (Math.sqrt(vHat) + 1e-8);
      });
    },
  },
};

/** Known gradients: a fixed, sign-changing sequence, different for every element and step. */
function gradientAt(t: number, n: number): number[] {
  return Array.from({ length: n }, (_, i) => Math.sin(1.3 * t + 0.7 * i) * (1 + i / 3));
}

const initialTheta = [0.5, -1.2, 2.0, 0.0, -0.3, 1.1];
const STEPS = 8;
const LR = 0.05;

function runOptimizer(config: OptimizerConfig, steps: number, resumeAt?: number): number[][] {
  // Two variables (a 2×2 matrix and a vector), to check slots stay per variable.
  let optimizer = createOptimizer(config);
  // Variables outlive tidy; their initial tensors do not.
  const a = tf.tidy(() => tf.variable(tf.tensor2d(initialTheta.slice(0, 4), [2, 2])));
  const b = tf.tidy(() => tf.variable(tf.tensor1d(initialTheta.slice(4))));
  const trajectory: number[][] = [];
  for (let t = 1; t <= steps; t++) {
    if (t === resumeAt) {
      // As a checkpoint would: a fresh optimizer given the saved state.
      const state = optimizer.getState();
      optimizer.dispose();
      optimizer = createOptimizer(config);
      optimizer.setState(state);
      for (const values of Object.values(state.slots)) tf.dispose(values);
    }
    const g = gradientAt(t, initialTheta.length);
    const grads = [tf.tensor2d(g.slice(0, 4), [2, 2]), tf.tensor1d(g.slice(4))];
    optimizer.apply([a, b], grads, LR);
    tf.dispose(grads);
    trajectory.push([...a.dataSync(), ...b.dataSync()]);
  }
  optimizer.dispose();
  tf.dispose([a, b]);
  return trajectory;
}

for (const backendName of backends) {
  describe(`on ${backendName}`, () => {
    beforeAll(async () => {
      await selectBackend(backendName);
    });

    describe('optimizers follow the catalogue formulas step by step', () => {
      for (const [name, { config, step }] of Object.entries(references)) {
        it(name, () => {
          const actual = runOptimizer(config, STEPS);
          let theta = [...initialTheta];
          const state: Record<string, number[]> = {};
          for (let t = 1; t <= STEPS; t++) {
            theta = step(theta, gradientAt(t, theta.length), LR, t, state);
            theta.forEach((expected, i) => {
              // float32 tolerance on values of order 1
              expect(Math.abs(actual[t - 1]![i]! - expected)).toBeLessThan(2e-6 * Math.max(1, Math.abs(expected)));
            });
          }
        });
      }
    });

    describe('optimizer state', () => {
      it('restored from getState continues bit-for-bit', () => {
        for (const { config } of Object.values(references)) {
          expect(runOptimizer(config, STEPS, 4)).toEqual(runOptimizer(config, STEPS));
        }
      });

      it('holds its step count and per-variable slots, and leaks nothing', () => {
        const before = tf.memory().numTensors;
        runOptimizer({ type: 'adam', beta1: 0.9, beta2: 0.999, epsilon: 1e-8 }, 3);
        expect(tf.memory().numTensors).toBe(before);
        const optimizer = createOptimizer({ type: 'adam', beta1: 0.9, beta2: 0.999, epsilon: 1e-8 });
        const x = tf.tidy(() => tf.variable(tf.zeros([3])));
        const g = tf.ones([3]);
        optimizer.apply([x], [g], 0.1);
        optimizer.apply([x], [g], 0.1);
        const state = optimizer.getState();
        expect(state.step).toBe(2);
        expect(Object.keys(state.slots).sort()).toEqual(['m', 'v']);
        // m after two steps of g = 1: 0.1 + 0.9·0.1 = 0.19
        expect(Array.from(state.slots.m![0]!.dataSync()).map((v) => Number(v.toFixed(6)))).toEqual([0.19, 0.19, 0.19]);
        tf.dispose([x, g, ...Object.values(state.slots).flat()]);
        optimizer.dispose();
      });
    });
  });
}

describe.skipIf(!haveAddon && !process.env.CI)('the native optimizer kernel', () => {
  it('gives the TF.js ops\' float32 results to the last bit, for every optimizer', async () => {
    const configs = [...Object.values(references).map((r) => r.config), { type: 'adamw', beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0.01 } as OptimizerConfig];
    await selectBackend('native');
    expect(tf.getKernel('TrainyardOptimizerStep', tf.getBackend())).toBeDefined();
    const native = configs.map((config) => runOptimizer(config, STEPS));
    await selectBackend('wasm');
    expect(tf.getKernel('TrainyardOptimizerStep', tf.getBackend())).toBeUndefined();
    const stock = configs.map((config) => runOptimizer(config, STEPS));
    native.forEach((trajectory, i) => expect(trajectory, configs[i]!.type).toEqual(stock[i]));
  });
});

describe('optimizer defaults', () => {
  it('every optimizer has the catalogue defaults', () => {
    const defaults = Object.fromEntries(
      (['sgd', 'momentum', 'nesterov', 'adagrad', 'rmsprop', 'adam', 'adamw'] as const).map((type) => [type, optimizerConfigSchema.parse({ type })]),
    );
    expect(defaults).toEqual(catalogueOptimizerDefaults);
  });
});
