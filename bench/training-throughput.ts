import * as tf from '@tensorflow/tfjs';
import { selectBackend, type BackendOptions, type SelectedBackend } from '../src/engine/backend.js';
import { buildModel } from '../src/engine/model-builder.js';
import { variableGradients } from '../src/engine/layers/gradient-reach.js';
import { createOptimizer } from '../src/engine/optimizers/create-optimizer.js';
import type { TrainingOptimizer } from '../src/engine/optimizers/training-optimizer.js';
import { jobSpecSchema, resolveJobSpec, type JobSpecInput } from '../src/spec/job-spec.js';

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
  build(): tf.LayersModel;
}

/**
 * A bench model is a job spec's model, built by the engine's own builder: the layers users train.
 * An uploaded data set, as the spec alone does not tie it to a shape or a class count.
 */
function fromSpec(layers: JobSpecInput['model']['layers'], inputShape: number[]): () => tf.LayersModel {
  const dataset = { name: 'upload', id: '00000000-0000-4000-8000-000000000000' } as const;
  const spec = resolveJobSpec(jobSpecSchema.parse({ dataset, model: { layers }, optimizer: 'adam', seed: 1 }), { datasetClasses: 10 });
  return () => buildModel(spec, inputShape, false).model;
}

export const benchModels: BenchModel[] = [
  {
    name: 'MLP 784-256-256-10',
    batch: 128,
    inputShape: [784],
    build: fromSpec([{ type: 'dense', units: 256, activation: 'relu' }, { type: 'dense', units: 256, activation: 'relu' }, { type: 'dense', units: 10 }], [784]),
  },
  {
    name: 'CNN 28x28x1 conv32-conv64-pool-dense128',
    batch: 64,
    inputShape: [28, 28, 1],
    build: fromSpec(
      [
        { type: 'conv2d', filters: 32, kernelSize: 3, activation: 'relu' },
        { type: 'conv2d', filters: 64, kernelSize: 3, activation: 'relu' },
        { type: 'maxPool2d', poolSize: 2 },
        { type: 'flatten' },
        { type: 'dense', units: 128, activation: 'relu' },
        { type: 'dense', units: 10 },
      ],
      [28, 28, 1],
    ),
  },
  {
    // The engine's LSTM (sigmoid gates, as PyTorch's), not tf.layers.lstm (hard-sigmoid gates by default).
    name: 'LSTM seq 50, 32 features, hidden 128',
    batch: 64,
    inputShape: [50, 32],
    build: fromSpec([{ type: 'lstm', units: 128 }, { type: 'dense', units: 10 }], [50, 32]),
  },
  {
    // Keras's GRU (reset gate before the recurrent product); PyTorch's applies it after: the same work.
    name: 'GRU seq 50, 32 features, hidden 128',
    batch: 64,
    inputShape: [50, 32],
    build: fromSpec([{ type: 'gru', units: 128 }, { type: 'dense', units: 10 }], [50, 32]),
  },
];

/**
 * One forward + backward + Adam update, the same work as a step of src/engine/train-step.ts: the
 * gradients of the trainable weights, then the product's own Adam (a native kernel on `native`).
 */
export function step(model: tf.LayersModel, optimizer: TrainingOptimizer, x: tf.Tensor, y: tf.Tensor): tf.Scalar {
  return tf.tidy(() => {
    const variables = model.trainableWeights.map((weight) => weight.read() as tf.Variable);
    const { value, grads } = variableGradients(() => tf.losses.softmaxCrossEntropy(y, model.apply(x, { training: true }) as tf.Tensor) as tf.Scalar, variables);
    optimizer.apply(variables, variables.map((variable) => grads[variable.name]!), 0.001);
    return value;
  });
}

/** The model, its Adam, and one fixed synthetic batch (uniform inputs, one-hot labels of 10 classes). */
export function benchSetup(benchModel: BenchModel): { model: tf.LayersModel; optimizer: TrainingOptimizer; x: tf.Tensor; y: tf.Tensor } {
  return {
    model: benchModel.build(),
    optimizer: createOptimizer({ type: 'adam', beta1: 0.9, beta2: 0.999, epsilon: 1e-8 }),
    x: tf.randomUniform([benchModel.batch, ...benchModel.inputShape]),
    y: tf.oneHot(tf.randomUniform([benchModel.batch], 0, 10, 'int32'), 10).toFloat(),
  };
}

/** `budgetMs`: time the steps that fit; or `{ steps }`: exactly that many (for instruction counts, where time is meaningless). */
export async function measure(benchModel: BenchModel, budgetMs: number | { steps: number }, slowStepMs: number): Promise<{ steps: number; ms: number; cpuMs: number; note: string }> {
  const { model, optimizer, x, y } = benchSetup(benchModel);
  try {
    // The first step pays kernel set-up; it is timed separately and, if slow, is the measurement.
    let start = performance.now();
    const warm = step(model, optimizer, x, y);
    await warm.data();
    warm.dispose();
    const firstMs = performance.now() - start;
    if (firstMs > slowStepMs) return { steps: 1, ms: firstMs, cpuMs: NaN, note: `one step only (> ${slowStepMs / 1000} s/step)` };
    let steps = 0;
    const cpuStart = process.cpuUsage();
    start = performance.now();
    const more = typeof budgetMs === 'number' ? () => performance.now() - start < budgetMs || steps < 3 : () => steps < budgetMs.steps;
    while (more()) {
      const loss = step(model, optimizer, x, y);
      await loss.data();
      loss.dispose();
      steps += 1;
    }
    const ms = performance.now() - start;
    const cpu = process.cpuUsage(cpuStart);
    return { steps, ms, cpuMs: (cpu.user + cpu.system) / 1000, note: '' };
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
  /** Dawn's backend and adapter for the webgpu rows (WEBGPU_BACKEND, WEBGPU_ADAPTER), kernel threads for native. */
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
