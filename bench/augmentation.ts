import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import type { BackendPreference } from '../src/config/config.js';
import { augmentationBase, augmentBatch } from '../src/engine/augmentation.js';
import { selectBackend } from '../src/engine/backend.js';
import { runTraining } from '../src/engine/trainer.js';
import { jobSpecSchema, resolveJobSpec, type JobSpecInput, type ResolvedJobSpec } from '../src/spec/job-spec.js';

export interface AugmentationBenchRow {
  measure: string;
  /** samples/s of each round, in round order. */
  rounds: number[];
}

/**
 * What augmentation costs a training run: examples/cnn-augmentation.json's MNIST CNN (shortened to
 * `rows` rows and 2 epochs, its augmentation on and off) trained by the bare engine, rounds
 * interleaved, samples/s of the second epoch by the engine's own clock (the first warms the
 * kernels up). Beside them: the transforms alone on the main thread, and what the run would do
 * if it waited for them each step, 1 / (1 / plain + 1 / transforms), which the augmentation
 * thread is there to avoid.
 */
export async function benchAugmentation(options: { backend: BackendPreference; rows: number; repeats: number }): Promise<{ backend: string; rows: AugmentationBenchRow[]; batchSize: number }> {
  const backend = await selectBackend(options.backend);
  const example = JSON.parse(readFileSync(new URL('../examples/cnn-augmentation.json', import.meta.url), 'utf8')) as JobSpecInput;
  const shortened = (augmented: boolean): ResolvedJobSpec =>
    resolveJobSpec(
      jobSpecSchema.parse({
        ...example,
        dataset: { name: 'mnist', shape: 'image', limit: options.rows },
        epochs: 2,
        validationSplit: 0,
        logEveryBatches: 0,
        augmentation: augmented ? example.augmentation : undefined,
      }),
    );
  const train = async (spec: ResolvedJobSpec): Promise<number> => {
    const rates: number[] = [];
    await runTraining(spec, { emit: (event) => void (event.type === 'epochMetrics' && rates.push(event.samplesPerSecond)) }, { backend });
    return rates.at(-1)!;
  };

  const augmented = shortened(true);
  const images = tf.tensor(Float32Array.from({ length: options.rows * 784 }, (_, i) => ((i * 7919) % 256) / 255));
  const source = { spec: augmented.augmentation!, base: augmentationBase(augmented.seed), rows: (await images.data()) as Float32Array, shape: [28, 28, 1], preprocessing: null };
  images.dispose();
  const transformsAlone = (): number => {
    const batch = Int32Array.from({ length: augmented.batchSize }, (_, i) => i);
    const started = performance.now();
    let samples = 0;
    for (let step = 1; performance.now() - started < 500; step++) {
      augmentBatch(source, step, batch);
      samples += batch.length;
    }
    return (samples * 1000) / (performance.now() - started);
  };

  const plain: number[] = [];
  const withAugmentation: number[] = [];
  const alone: number[] = [];
  await train(shortened(false));
  for (let r = 0; r < options.repeats; r++) {
    plain.push(await train(shortened(false)));
    withAugmentation.push(await train(augmented));
    alone.push(transformsAlone());
  }
  const inline = plain.map((p, i) => 1 / (1 / p + 1 / alone[i]!));
  return {
    backend: `${backend.name} (${backend.device})`,
    batchSize: augmented.batchSize,
    rows: [
      { measure: 'training, no augmentation', rounds: plain },
      { measure: 'training, augmentation on its thread', rounds: withAugmentation },
      { measure: 'the transforms alone (main thread)', rounds: alone },
      { measure: 'training if it waited for them (computed)', rounds: inline },
    ],
  };
}
