import * as tf from '@tensorflow/tfjs';
import { selectBackend, type BackendOptions, type SelectedBackend } from '../src/engine/backend.js';
import { createOptimizer } from '../src/engine/optimizers/create-optimizer.js';
import type { TrainingOptimizer } from '../src/engine/optimizers/training-optimizer.js';

export interface ThroughputRow {
  backend: string;
  device: string;
  model: string;
  batch: number;
  samplesPerSecond: number | null;
  msPerStep: number | null;
  steps: number;
  note: string;
}

export interface BenchModel {
  name: string;
  batch: number;
  inputShape: number[];
  build(): tf.Sequential;
}

export const benchModels: BenchModel[] = [
  {
    name: 'MLP 784-256-256-10',
    batch: 128,
    inputShape: [784],
    build: () =>
      tf.sequential({
        layers: [
          tf.layers.dense({ inputShape: [784], units: 256, activation: 'relu' }),
          tf.layers.dense({ units: 256, activation: 'relu' }),
          tf.layers.dense({ units: 10 }),
        ],
      }),
  },
  {
    name: 'CNN 28x28x1 conv32-conv64-pool-dense128',
    batch: 64,
    inputShape: [28, 28, 1],
    build: () =>
      tf.sequential({
        layers: [
          tf.layers.conv2d({ inputShape: [28, 28, 1], filters: 32, kernelSize: 3, activation: 'relu' }),
          tf.layers.conv2d({ filters: 64, kernelSize: 3, activation: 'relu' }),
          tf.layers.maxPooling2d({ poolSize: 2 }),
          tf.layers.flatten(),
          tf.layers.dense({ units: 128, activation: 'relu' }),
          tf.layers.dense({ units: 10 }),
        ],
      }),
  },
  {
    name: 'LSTM seq 50, 32 features, hidden 128',
    batch: 64,
    inputShape: [50, 32],
    build: () =>
      tf.sequential({
        layers: [tf.layers.lstm({ inputShape: [50, 32], units: 128 }), tf.layers.dense({ units: 10 })],
      }),
  },
];

/**
 * One forward + backward + Adam update, the same work as a step of src/engine/train-step.ts: the
 * gradients of the trainable weights, then the product's own Adam (a native kernel on `native`).
 */
function step(model: tf.Sequential, optimizer: TrainingOptimizer, x: tf.Tensor, y: tf.Tensor): tf.Scalar {
  return tf.tidy(() => {
    const variables = model.trainableWeights.map((weight) => weight.read() as tf.Variable);
    const { value, grads } = tf.variableGrads(() => tf.losses.softmaxCrossEntropy(y, model.apply(x, { training: true }) as tf.Tensor) as tf.Scalar, variables);
    optimizer.apply(variables, variables.map((variable) => grads[variable.name]!), 0.001);
    return value;
  });
}

export async function measure(benchModel: BenchModel, budgetMs: number, slowStepMs: number): Promise<{ steps: number; ms: number; note: string }> {
  const model = benchModel.build();
  const optimizer = createOptimizer({ type: 'adam', beta1: 0.9, beta2: 0.999, epsilon: 1e-8 });
  const x = tf.randomUniform([benchModel.batch, ...benchModel.inputShape]);
  const y = tf.oneHot(tf.randomUniform([benchModel.batch], 0, 10, 'int32'), 10).toFloat();
  try {
    // The first step pays kernel set-up; it is timed separately and, if slow, is the measurement.
    let start = performance.now();
    const warm = step(model, optimizer, x, y);
    await warm.data();
    warm.dispose();
    const firstMs = performance.now() - start;
    if (firstMs > slowStepMs) return { steps: 1, ms: firstMs, note: `one step only (> ${slowStepMs / 1000} s/step)` };
    let steps = 0;
    start = performance.now();
    while (performance.now() - start < budgetMs || steps < 3) {
      const loss = step(model, optimizer, x, y);
      await loss.data();
      loss.dispose();
      steps += 1;
    }
    return { steps, ms: performance.now() - start, note: '' };
  } finally {
    tf.dispose([x, y]);
    optimizer.dispose();
    model.dispose();
  }
}

/** Samples/s of each bench model on each backend this machine can start, in one process. */
export const benchBackends = ['tensorflow', 'webgpu', 'native', 'wasm', 'cpu'] as const;

export async function benchThroughput(options: {
  budgetMs: number;
  slowStepMs: number;
  /** Dawn's backend and adapter for the webgpu rows (WEBGPU_BACKEND, WEBGPU_ADAPTER), OpenBLAS threads for native. */
  backendOptions?: Partial<BackendOptions>;
  backends?: readonly (typeof benchBackends)[number][];
}): Promise<ThroughputRow[]> {
  const rows: ThroughputRow[] = [];
  for (const name of options.backends ?? benchBackends) {
    let backend: SelectedBackend;
    try {
      backend = await selectBackend(name, options.backendOptions);
    } catch (error) {
      for (const benchModel of benchModels) {
        rows.push({
          backend: name,
          device: '-',
          model: benchModel.name,
          batch: benchModel.batch,
          samplesPerSecond: null,
          msPerStep: null,
          steps: 0,
          note: `unavailable: ${(error as Error).message.replace(/^no TensorFlow\.js backend could start \(\w+: /, '').replace(/\)$/, '').slice(0, 120)}`,
        });
      }
      continue;
    }
    for (const benchModel of benchModels) {
      try {
        const { steps, ms, note } = await measure(benchModel, options.budgetMs, options.slowStepMs);
        rows.push({
          backend: name,
          device: backend.device,
          model: benchModel.name,
          batch: benchModel.batch,
          samplesPerSecond: (steps * benchModel.batch * 1000) / ms,
          msPerStep: ms / steps,
          steps,
          note,
        });
      } catch (error) {
        rows.push({ backend: name, device: backend.device, model: benchModel.name, batch: benchModel.batch, samplesPerSecond: null, msPerStep: null, steps: 0, note: `failed: ${(error as Error).message.slice(0, 80)}` });
      }
    }
  }
  return rows;
}
