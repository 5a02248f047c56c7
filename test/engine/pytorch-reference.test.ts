import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend, type SelectedBackend } from '../../src/engine/backend.js';
import { ReduceOnPlateau } from '../../src/engine/callbacks/reduce-on-plateau.js';
import type { TrainingEvent } from '../../src/engine/events.js';
import { applyMaxNorm } from '../../src/engine/max-norm.js';
import { buildModel } from '../../src/engine/model-builder.js';
import { createOptimizer } from '../../src/engine/optimizers/create-optimizer.js';
import { learningRateAt } from '../../src/engine/schedules.js';
import { runTraining } from '../../src/engine/trainer.js';
import { jobSpecSchema, resolveJobSpec, type JobSpecInput } from '../../src/spec/job-spec.js';
import { optimizerConfigSchema } from '../../src/spec/optimizer-spec.js';
import { resolveSchedule, scheduleSchema } from '../../src/spec/schedule-spec.js';
import { testBackend } from '../support/test-backend.js';
import { weightsByName } from '../support/training-run.js';

/**
 * Every number here was produced by PyTorch 1.13 (Debian's python3-torch) running
 * scripts/pytorch-reference/generate.py, which wrote test/fixtures/pytorch/*.json. Each case names
 * the Trainyard spec fragment and the PyTorch call it corresponds to; the test runs the fragment and
 * compares rate by rate, value by value.
 */
const fixture = <T>(name: string): T => JSON.parse(readFileSync(new URL(`../fixtures/pytorch/${name}`, import.meta.url), 'utf8')) as T;

/** Relative difference, with an absolute floor for values near 0. */
const close = (actual: number, expected: number, tolerance: number) => Math.abs(actual - expected) <= tolerance * Math.max(1, Math.abs(expected));

function expectClose(actual: ArrayLike<number>, expected: number[], tolerance: number, what: string): number {
  expect(actual.length, what).toBe(expected.length);
  let worst = 0;
  expected.forEach((value, i) => {
    worst = Math.max(worst, Math.abs(actual[i]! - value) / Math.max(1, Math.abs(value)));
    if (!close(actual[i]!, value, tolerance)) expect.fail(`${what}[${i}]: ${actual[i]} where PyTorch has ${value}`);
  });
  return worst;
}

let backend: SelectedBackend;
beforeAll(async () => {
  backend = await selectBackend(testBackend);
});

interface ScheduleCase {
  name: string;
  schedule: unknown;
  stepsPerEpoch: number;
  epochs: number;
  torch: string;
  rates: number[];
}
interface PlateauCase {
  name: string;
  schedule: unknown;
  torch: string;
  metrics: number[];
  rates: number[];
}

describe('learning-rate schedules equal PyTorch\'s schedulers rate by rate', () => {
  const { cases, plateau } = fixture<{ cases: ScheduleCase[]; plateau: PlateauCase[] }>('schedules.json');

  it.each(cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const schedule = resolveSchedule(scheduleSchema.parse(c.schedule), 0.05);
    const rates = c.rates.map((_, i) => {
      const step = i + 1;
      const epoch = Math.ceil(step / c.stepsPerEpoch);
      return learningRateAt(schedule, { step, epoch, phaseSteps: c.stepsPerEpoch * c.epochs, phaseEpochs: c.epochs });
    });
    expectClose(rates, c.rates, 1e-9, c.torch);
  });

  it.each(plateau.map((c) => [c.name, c] as const))('ReduceLROnPlateau: %s', (_name, c) => {
    const schedule = resolveSchedule(scheduleSchema.parse(c.schedule), 0.1);
    const callback = new ReduceOnPlateau('val_loss');
    callback.enterPhase(0, schedule);
    const monitor = (schedule as { monitor: string }).monitor;
    const rates = c.metrics.map((metric, epoch) => {
      const rate = learningRateAt(schedule, { step: 1, epoch: epoch + 1, phaseSteps: 1, phaseEpochs: c.metrics.length }, callback.rate);
      callback.onEpochEnd({ epoch: epoch + 1, metrics: { [monitor]: metric }, last: false });
      return rate;
    });
    expectClose(rates, c.rates, 1e-9, c.torch);
  });
});

interface OptimizerCase {
  name: string;
  optimizer: unknown;
  torch: string;
  lr: number;
  trajectory: number[][];
}

describe('optimizers equal torch.optim step by step (coupled weight decay, dampening, centered, amsgrad)', () => {
  const { objective, cases } = fixture<{ objective: { a: number[][]; b: number[][]; a2: number[]; b2: number[]; theta0: [number[][], number[]]; quartic: number }; cases: OptimizerCase[] }>(
    'optimizers.json',
  );

  it.each(cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const optimizer = createOptimizer(optimizerConfigSchema.parse(c.optimizer));
    const theta = [tf.variable(tf.tensor2d(objective.theta0[0])), tf.variable(tf.tensor1d(objective.theta0[1]))];
    const targets: [tf.Tensor, tf.Tensor][] = [
      [tf.tensor2d(objective.a), tf.tensor2d(objective.b)],
      [tf.tensor1d(objective.a2), tf.tensor1d(objective.b2)],
    ];
    let worst = 0;
    c.trajectory.forEach((expected, t) => {
      // ∇ of Σ a (θ − b)² / 2 + q Σ θ⁴: a (θ − b) + 4q θ³.
      const gradients = theta.map((variable, i) => tf.tidy(() => tf.add(tf.mul(targets[i]![0], tf.sub(variable, targets[i]![1])), tf.mul(4 * objective.quartic, tf.pow(variable, 3)))));
      optimizer.apply(theta, gradients, c.lr);
      tf.dispose(gradients);
      worst = Math.max(worst, expectClose([...theta[0]!.dataSync(), ...theta[1]!.dataSync()], expected, 2e-6, `${c.torch}, step ${t + 1}`));
    });
    optimizer.dispose();
    tf.dispose([...theta, ...targets.flat()]);
    expect(worst).toBeLessThan(2e-6);
  });
});

interface BatchNormCase {
  name: string;
  layer: JobSpecInput['model']['layers'][number];
  inputShape: number[];
  batchRows: number;
  steps: { input: number[]; output: number[]; runningMean: number[]; runningVar: number[] }[];
  probe: number[];
  probeRows: number;
  eval: number[];
}

describe('batch normalization equals torch.nn.BatchNorm (unbiased running variance, center/scale)', () => {
  const { cases } = fixture<{ cases: BatchNormCase[] }>('batchnorm.json');

  it.each(cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const spec = resolveJobSpec(
      jobSpecSchema.parse({ dataset: { name: 'blobs', rows: 200, features: 3 }, model: { layers: [c.layer, ...(c.inputShape.length > 1 ? [{ type: 'flatten' as const }] : []), { type: 'dense', units: 3 }] } }),
    );
    const { model } = buildModel(spec, c.inputShape);
    const bn = model.layers[0]!;
    for (const [i, step] of c.steps.entries()) {
      const x = tf.tensor(step.input, [c.batchRows, ...c.inputShape]);
      const y = bn.apply(x, { training: true }) as tf.Tensor;
      expectClose(y.dataSync(), step.output, 5e-6, `training output, batch ${i + 1}`);
      const weights = bn.getWeights();
      const [mean, variance] = weights.slice(-2);
      expectClose(mean!.dataSync(), step.runningMean, 5e-6, `running mean, batch ${i + 1}`);
      expectClose(variance!.dataSync(), step.runningVar, 5e-6, `running variance, batch ${i + 1}`);
      tf.dispose([x, y]);
    }
    const probe = tf.tensor(c.probe, [c.probeRows, ...c.inputShape]);
    const out = bn.apply(probe, { training: false }) as tf.Tensor;
    expectClose(out.dataSync(), c.eval, 5e-6, 'eval() output');
    tf.dispose([probe, out]);
    model.dispose();
  });
});

describe('max-norm equals torch.renorm', () => {
  const { cases } = fixture<{ cases: { name: string; maxNorm: number; shape: number[]; kernel: number[]; renormed: number[]; torch: string }[] }>('maxnorm.json');

  it.each(cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const variable = tf.variable(tf.tensor(c.kernel, c.shape));
    applyMaxNorm([{ variable, maxNorm: c.maxNorm, axes: c.shape.slice(0, -1).map((_, axis) => axis) }]);
    expectClose(variable.dataSync(), c.renormed, 1e-6, c.torch);
    variable.dispose();
  });
});

interface RunCase {
  name: string;
  spec: { optimizer: JobSpecInput['optimizer']; learningRate: JobSpecInput['learningRate']; maxNorm?: number; batchNorm?: { momentum: number; epsilon: number } };
  torch: string;
  epochLosses: number[];
  rates: number[];
  kernel: number[];
  bias: number[];
  batchNorm?: { gamma: number[]; beta: number[]; runningMean: number[]; runningVar: number[] };
  evalPredictions?: number[];
}

describe('whole runs in the data set\'s order equal PyTorch\'s (shuffle false, optimizers, schedules, max-norm, batch norm)', () => {
  const data = fixture<{ rows: number; batchSize: number; epochs: number; features: number[]; targets: number[]; cases: RunCase[] }>('runs.json');
  const uploaded = {
    name: 'pytorch-reference',
    features: Float32Array.from(data.features),
    featureSize: 3,
    rows: data.rows,
    target: { kind: 'values' as const, values: Float32Array.from(data.targets), shape: [1] },
  };

  it.each(data.cases.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const dense = { type: 'dense' as const, units: 1, kernelInitializer: 'zeros' as const, ...(c.spec.maxNorm ? { maxNorm: c.spec.maxNorm } : {}) };
    const input: JobSpecInput = {
      dataset: { name: 'upload', id: '00000000-0000-4000-8000-000000000000' },
      model: { layers: c.spec.batchNorm ? [{ type: 'batchNormalization', ...c.spec.batchNorm }, dense] : [dense] },
      loss: 'meanSquaredError',
      optimizer: c.spec.optimizer,
      learningRate: c.spec.learningRate,
      epochs: data.epochs,
      batchSize: data.batchSize,
      validationSplit: 0,
      shuffle: false,
      logEveryBatches: 1,
      seed: 1,
    };
    const spec = resolveJobSpec(jobSpecSchema.parse(input), { datasetClasses: 0 });
    const events: TrainingEvent[] = [];
    const checkpoints: Parameters<NonNullable<Parameters<typeof runTraining>[1]['checkpoint']>>[0][] = [];
    await runTraining(spec, { emit: (event) => events.push(event), checkpoint: (data) => checkpoints.push(data) }, { backend, uploaded });
    const losses = events.flatMap((e) => (e.type === 'epochMetrics' ? [e.values.loss!] : []));
    const rates = events.flatMap((e) => (e.type === 'batchMetrics' ? [e.values.learning_rate!] : []));
    expectClose(rates, c.rates, 1e-9, `${c.torch}: rates`);
    expectClose(losses, c.epochLosses, 1e-5, `${c.torch}: epoch losses`);
    const final = checkpoints.at(-1)!;
    const weights = weightsByName(final.model);
    const layer = (suffix: string) => Object.entries(weights).find(([name]) => name.endsWith(suffix))![1];
    expectClose(layer('dense_' + (c.spec.batchNorm ? 1 : 0) + '/kernel'), c.kernel, 1e-5, `${c.torch}: kernel`);
    expectClose(layer('dense_' + (c.spec.batchNorm ? 1 : 0) + '/bias'), c.bias, 1e-5, `${c.torch}: bias`);
    if (c.batchNorm) {
      expectClose(layer('/gamma'), c.batchNorm.gamma, 1e-5, 'γ');
      expectClose(layer('/beta'), c.batchNorm.beta, 1e-5, 'β');
      expectClose(layer('/moving_mean'), c.batchNorm.runningMean, 1e-5, 'running mean');
      expectClose(layer('/moving_variance'), c.batchNorm.runningVar, 1e-5, 'running variance');
      // Predictions of the trained model in inference mode: PyTorch's eval().
      const model = await tf.loadLayersModel(tf.io.fromMemory({ modelTopology: final.model.modelTopology, weightSpecs: final.model.weightSpecs, weightData: final.model.weightData }));
      const x = tf.tensor2d(data.features, [data.rows, 3]);
      const predictions = model.predict(x) as tf.Tensor;
      expectClose(predictions.dataSync(), c.evalPredictions!, 1e-5, 'eval() predictions');
      tf.dispose([x, predictions]);
      model.dispose();
    }
  });
});
