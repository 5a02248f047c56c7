import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { defaultWorkerMemoryLimitMb, trainingThreadLimit } from '../../src/config/config.js';
import { describeDataset } from '../../src/spec/dataset-spec.js';
import { jobSpecSchema, resolveJobSpec, type JobSpecInput } from '../../src/spec/job-spec.js';
import { estimateMemory, RUNTIME_BYTES, sharesByField } from '../../src/spec/memory-estimate.js';
import { resourceRefusal, trainingThreadsOf, type MemoryRefusalDetails, type WorkerLimits } from '../../src/spec/resource-limits.js';
import { oversizedSpecs } from '../support/oversized-specs.js';
import { tinyIrisSpec } from '../support/specs.js';

const MIB = 2 ** 20;
const resolve = (input: JobSpecInput) => resolveJobSpec(jobSpecSchema.parse(input));
const estimate = (input: JobSpecInput, threads = 0) => {
  const spec = resolve(input);
  return estimateMemory(spec, describeDataset(spec.dataset)!, { threads });
};
const refusal = (input: JobSpecInput, limits: WorkerLimits) => {
  const spec = resolve(input);
  return resourceRefusal(spec, describeDataset(spec.dataset)!, limits);
};
/** The limits of a deployment left at its defaults on this machine. */
const defaults: WorkerLimits = { memoryBytes: defaultWorkerMemoryLimitMb() * MIB, threads: trainingThreadLimit({}) };
// However small the machine, its default is at least this (2 GiB of memory): what the specs below must fit.
const smallMachine: WorkerLimits = { memoryBytes: defaultWorkerMemoryLimitMb(1, 2 * 2 ** 30) * MIB, threads: 2 };

const examples = readdirSync('examples')
  .filter((file) => file.endsWith('.json'))
  .sort()
  .map((file) => [file, JSON.parse(readFileSync(`examples/${file}`, 'utf8')) as JobSpecInput] as const);

describe('the memory estimate', () => {
  it("counts attention's scores, which grow with the square of the sequence", () => {
    const activations = (delay: number) =>
      estimate({
        dataset: { name: 'copy', symbols: 4, length: 3, delay, inputs: 'tokens' },
        model: {
          layers: [
            { type: 'embedding', inputDim: 6, outputDim: 16 },
            { type: 'transformerEncoder', numHeads: 4, ffDim: 32 },
            { type: 'dense', units: 5 },
          ],
        },
      }).parts.activations;
    // 4× the steps (56 → 224) is ~16× the scores: well beyond 4× the activations.
    expect(activations(218) / activations(50)).toBeGreaterThan(8);
  });

  it('counts a dense layer as its weights, their gradients and the optimizer slots', () => {
    const layers = [{ type: 'dense' as const, units: 128 }, { type: 'dense' as const, units: 10 }];
    const parts = (optimizer: JobSpecInput['optimizer']) => estimate({ dataset: { name: 'mnist' }, model: { layers }, optimizer }).parts;
    const values = 784 * 128 + 128 + 128 * 10 + 10;
    const adam = parts('adam');
    expect(adam.weights).toBe(values * 4);
    // The gradients, and the backward pass's temporaries of their size.
    expect(adam.gradients).toBe(2 * values * 4);
    expect(adam.optimizerState).toBe(2 * values * 4);
    expect(parts('sgd').optimizerState).toBe(0);
    expect(parts('momentum').optimizerState).toBe(values * 4);
    expect(parts({ type: 'adam', amsgrad: true }).optimizerState).toBe(3 * values * 4);
    // Phases: the largest optimizer's state (each phase starts fresh).
    expect(parts([{ optimizer: 'sgd', untilEpoch: 2 }, { optimizer: 'adam' }]).optimizerState).toBe(2 * values * 4);
  });

  it('grows with the batch and, for a recurrent layer, with the steps', () => {
    const lstm = (length: number, batchSize: number) =>
      estimate({ dataset: { name: 'adding', rows: 4000, length }, model: { layers: [{ type: 'lstm', units: 64 }, { type: 'dense', units: 1 }] }, batchSize, validationSplit: 0 }).parts.activations;
    expect(lstm(100, 64) / lstm(100, 32)).toBeCloseTo(2, 1);
    expect(lstm(200, 32) / lstm(100, 32)).toBeCloseTo(2, 1);
  });

  it('counts one-hot targets (rows × steps × classes) unless the loss takes class indices', () => {
    const copy = (loss: JobSpecInput['loss']) =>
      estimate({
        dataset: { name: 'copy', rows: 1000, symbols: 50, length: 20, delay: 20, inputs: 'tokens' },
        model: { layers: [{ type: 'embedding', inputDim: 52, outputDim: 8 }, { type: 'gru', units: 8, returnSequences: true }, { type: 'dense', units: 51 }] },
        loss,
      }).parts.labels;
    const steps = 2 * 20 + 20;
    // Class indices (int32) twice, and one-hot floats twice (tf.oneHot's int32 tensor, then its float copy).
    expect(copy('categoricalCrossentropy')).toBe(2 * 1000 * steps * 4 + 2 * 1000 * steps * 51 * 4);
    expect(copy('sparseCategoricalCrossentropy')).toBe(2 * 1000 * steps * 4);
  });

  it('gives every training thread its own copy of the model, a batch and the training rows', () => {
    const spec: JobSpecInput = { ...tinyIrisSpec(), distributed: { strategy: 'sync', workers: 2 } };
    const one = estimate(spec, 1).parts.threads;
    const four = estimate(spec, 4).parts.threads;
    const perThread = (four - one) / 3;
    // Its runtime, the model, and the iris rows (and the shared copies on top).
    expect(perThread).toBeGreaterThan(64 * MIB);
    expect(one).toBeGreaterThan(perThread);
  });

  it('a tiny job is the training process itself and little more', () => {
    const tiny = estimate(tinyIrisSpec());
    expect(tiny.bytes).toBeGreaterThan(RUNTIME_BYTES);
    expect(tiny.bytes).toBeLessThan(RUNTIME_BYTES + MIB);
  });
});

describe('resource limits', () => {
  it.each(oversizedSpecs)('$name is refused, naming $field, with the estimate and the limit', ({ spec, field }) => {
    for (const limits of [defaults, smallMachine]) {
      const refused = refusal(spec, limits);
      expect(refused?.field).toBe(field);
      if (field === 'distributed.workers') {
        expect(refused?.extensions).toEqual({ threads: 64, threadLimit: limits.threads });
        continue;
      }
      const details = refused!.extensions as MemoryRefusalDetails;
      expect(details.estimateBytes).toBeGreaterThan(details.limitBytes);
      expect(details.limitBytes).toBe(limits.memoryBytes);
      expect(details.largest[0]!.field).toBe(field);
      expect(Object.values(details.breakdown).reduce((a, b) => a + b, 0)).toBeCloseTo(details.estimateBytes, -3);
      expect(refused!.detail).toContain(field);
    }
  });

  it('even at 64 threads on a machine that may run them, the memory is counted per thread', () => {
    const spec = oversizedSpecs.find((s) => s.field === 'distributed.workers')!.spec;
    expect(refusal(spec, { memoryBytes: 1024 * MIB, threads: 64 })?.field).toBe('distributed.workers');
  });

  it('names backupWorkers when the workers alone fit', () => {
    const spec: JobSpecInput = { ...tinyIrisSpec(), distributed: { strategy: 'sync', workers: 2, backupWorkers: 1 } };
    expect(refusal(spec, { memoryBytes: 8192 * MIB, threads: 2 })).toMatchObject({ field: 'distributed.backupWorkers', extensions: { threads: 3, threadLimit: 2 } });
    expect(refusal(spec, { memoryBytes: 8192 * MIB, threads: 3 })).toBeNull();
    expect(trainingThreadsOf(resolve({ ...tinyIrisSpec(), distributed: { strategy: 'async', workers: 'auto' } }), 6)).toBe(6);
  });

  it.each(examples)('examples/%s fits the default limit, and that of a 2 GiB machine', (_file, example) => {
    for (const limits of [defaults, smallMachine]) expect(refusal(example, limits)).toBeNull();
    expect(estimate(example).bytes).toBeLessThan(1024 * MIB);
  });

  it('the specs the tests train fit a 2 GiB machine', () => {
    const specs: JobSpecInput[] = [
      tinyIrisSpec(),
      tinyIrisSpec({ distributed: { strategy: 'sync', workers: 2 } }),
      // test/engine/initialization.test.ts: 20 ReLU layers of width 256.
      {
        dataset: { name: 'blobs', rows: 300, features: 64, classes: 4 },
        model: { layers: [...Array.from({ length: 20 }, () => ({ type: 'dense' as const, units: 256, activation: 'relu' as const })), { type: 'dense', units: 4 }] },
      },
      { dataset: { name: 'mnist', shape: 'image' }, model: { layers: [{ type: 'conv2d', filters: 32, padding: 'same' }, { type: 'maxPool2d' }, { type: 'flatten' }, { type: 'dense', units: 10 }] } },
      // The largest data set the spec allows: 10 million values.
      { dataset: { name: 'blobs', rows: 100_000, features: 100, classes: 100 }, model: { layers: [{ type: 'dense', units: 100 }] } },
    ];
    for (const spec of specs) expect(refusal(spec, smallMachine), JSON.stringify(spec)).toBeNull();
  });

  it('a limit that is too low for a job refuses it, naming what sets most of its memory', () => {
    const cnn = examples.find(([file]) => file === 'cnn-batchnorm.json')![1];
    const refused = refusal(cnn, { memoryBytes: 400 * MIB, threads: 2 });
    expect(refused?.field).toBe('model.layers[0].filters');
    expect(refused?.message).toMatch(/^sets [\d.]+ MiB of the estimated [\d.]+ MiB; the limit is 400 MiB\. Try fewer filters$/);
    expect(sharesByField(estimate(cnn))[0]!.field).toBe('model.layers[0].filters');
  });

  it('the default limit is half the memory shared by the training processes, at most 8 GiB', () => {
    expect(defaultWorkerMemoryLimitMb(1, 64 * 2 ** 30)).toBe(8192);
    expect(defaultWorkerMemoryLimitMb(1, 8 * 2 ** 30)).toBe(4096);
    expect(defaultWorkerMemoryLimitMb(4, 8 * 2 ** 30)).toBe(1024);
  });
});
