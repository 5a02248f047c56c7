import { existsSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend, type SelectedBackend } from '../../src/engine/backend.js';
import { namedWeights } from '../../src/engine/checkpoint-data.js';
import type { JobSpecInput } from '../../src/spec/job-spec.js';
import { collectRun, epochMetrics, resolveSpec, type CollectedRun } from '../support/training-run.js';

// Dawn's OpenGL backend over Mesa's llvmpipe: Debian's libegl-mesa0 and libgl1-mesa-dri, which
// .ci/run installs. Outside CI a machine without them skips; in CI their absence is a failure.
const haveMesa = existsSync('/usr/lib/x86_64-linux-gnu/libEGL_mesa.so.0');

// SGD, so a difference in a gradient stays a difference of the same size (Adam's first steps are
// ±η whatever the gradient's size, and would turn rounding into a sign).
const models: Record<string, JobSpecInput> = {
  'MLP on iris': {
    dataset: { name: 'iris' },
    model: { layers: [{ type: 'dense', units: 16, activation: 'relu' }, { type: 'dense', units: 3 }] },
    optimizer: 'sgd',
    learningRate: 0.05,
    epochs: 3,
    batchSize: 16,
    seed: 11,
  },
  'CNN with batch norm on MNIST': {
    dataset: { name: 'mnist', shape: 'image', limit: 96 },
    model: {
      layers: [
        { type: 'conv2d', filters: 4, kernelSize: 3 },
        { type: 'batchNormalization' },
        { type: 'activation', activation: 'relu' },
        { type: 'maxPool2d' },
        { type: 'flatten' },
        { type: 'dense', units: 10 },
      ],
    },
    optimizer: 'sgd',
    learningRate: 0.05,
    epochs: 2,
    batchSize: 16,
    seed: 12,
  },
  'LSTM on the adding problem': {
    dataset: { name: 'adding', rows: 128, length: 10, seed: 1 },
    model: { layers: [{ type: 'lstm', units: 8 }, { type: 'dense', units: 1 }] },
    optimizer: 'sgd',
    learningRate: 0.1,
    epochs: 2,
    batchSize: 32,
    seed: 13,
  },
};

const finalWeights = (run: CollectedRun) => {
  const final = run.checkpoints.at(-1)!;
  return Object.fromEntries(Object.entries(namedWeights(final)).map(([name, tensor]) => [name, tensor.dataSync() as Float32Array]));
};

describe.skipIf(!haveMesa && !process.env.CI)('the webgpu backend (Dawn OpenGL on Mesa llvmpipe)', () => {
  const cpuRuns: Record<string, CollectedRun> = {};
  const webgpuRuns: Record<string, CollectedRun> = {};
  let webgpu: SelectedBackend;

  beforeAll(async () => {
    expect(haveMesa, 'Mesa EGL is missing: apt-get install libegl1 libegl-mesa0 libgles2 libgl1-mesa-dri').toBe(true);
    const cpu = await selectBackend('cpu');
    for (const [name, spec] of Object.entries(models)) cpuRuns[name] = await collectRun(resolveSpec(spec), cpu);
    webgpu = await selectBackend('webgpu', { webgpu: { backend: 'opengl' } });
    for (const [name, spec] of Object.entries(models)) webgpuRuns[name] = await collectRun(resolveSpec(spec), webgpu);
    // Checkpoint weights are read back on the CPU, where dataSync works.
    await selectBackend('cpu');
  }, 240_000);

  it('starts on the software adapter and records its name and limits', () => {
    expect(webgpu.name).toBe('webgpu');
    expect(webgpu.adapter).toMatchObject({ backend: 'opengl', software: true });
    expect(webgpu.adapter!.name).toMatch(/llvmpipe/i);
    expect(webgpu.adapter!.limits.maxBufferSize).toBeGreaterThan(0);
    expect(webgpu.device).toMatch(/^CPU \(WebGPU through Dawn opengl on llvmpipe.*, a software adapter\)$/);
    const started = webgpuRuns['MLP on iris']!.events.find((event) => event.type === 'started');
    expect(started).toMatchObject({ backend: 'webgpu', adapter: { name: webgpu.adapter!.name } });
  });

  for (const name of Object.keys(models)) {
    it(`${name}: the same losses and weights as the cpu backend`, () => {
      const [cpu, gpu] = [cpuRuns[name]!, webgpuRuns[name]!];
      expect(cpu.error).toBeUndefined();
      expect(gpu.error).toBeUndefined();
      const cpuLosses = epochMetrics(cpu).map((values) => values.loss!);
      const gpuLosses = epochMetrics(gpu).map((values) => values.loss!);
      expect(gpuLosses).toHaveLength(cpuLosses.length);
      gpuLosses.forEach((loss, i) => expect(Math.abs(loss - cpuLosses[i]!) / Math.abs(cpuLosses[i]!)).toBeLessThan(1e-4));
      const [cpuWeights, gpuWeights] = [finalWeights(cpu), finalWeights(gpu)];
      expect(Object.keys(gpuWeights)).toEqual(Object.keys(cpuWeights));
      let worst = 0;
      for (const [weight, values] of Object.entries(cpuWeights)) {
        const other = gpuWeights[weight]!;
        for (let i = 0; i < values.length; i += 1) worst = Math.max(worst, Math.abs(values[i]! - other[i]!));
      }
      expect(worst).toBeLessThan(1e-4);
      // The run did train: the weights moved.
      expect(epochMetrics(gpu).at(-1)!.loss).not.toBe(epochMetrics(gpu)[0]!.loss);
    });
  }

  it('leaves the process on the cpu backend for the tests after it', () => {
    expect(tf.getBackend()).toBe('cpu');
  });
});
