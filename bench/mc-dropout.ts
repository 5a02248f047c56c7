import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/engine/backend.js';
import type { BackendPreference } from '../src/config/config.js';
import { rowsPerCall, sampleWithDropout } from '../src/engine/mc-dropout.js';
import { buildModel } from '../src/engine/model-builder.js';
import { createRng } from '../src/engine/random.js';
import { ClassificationUncertainty } from '../src/inference/uncertainty.js';
import { jobSpecSchema, resolveJobSpec } from '../src/spec/job-spec.js';

export interface McDropoutRow {
  measure: string;
  /** T passes per input; 0 for the plain prediction. */
  samples: number;
  forwardCalls: number;
  /** Median wall time of the repeats, for all the inputs. */
  ms: number;
}

/**
 * What Monte Carlo dropout costs against one plain prediction, as POST /v1/jobs/{id}/predict does
 * both: an MNIST MLP (784-256-256-10, dropout 0.5 after each hidden layer) on `inputs` rows. The
 * plain prediction is the model with dropout off and a softmax; each MC row is T passes per input
 * through sampleWithDropout (batched into as few forward calls as the memory bound allows) plus
 * the float64 entropies. Rounds are interleaved; the median over rounds is reported.
 */
export async function benchMcDropout(options: { backend: BackendPreference; inputs: number; samples: number[]; repeats: number }): Promise<{ backend: string; rows: McDropoutRow[] }> {
  const backend = await selectBackend(options.backend);
  const spec = resolveJobSpec(
    jobSpecSchema.parse({
      dataset: { name: 'mnist' },
      model: {
        layers: [
          { type: 'dense', units: 256, activation: 'relu' },
          { type: 'dropout', rate: 0.5 },
          { type: 'dense', units: 256, activation: 'relu' },
          { type: 'dropout', rate: 0.5 },
          { type: 'dense', units: 10 },
        ],
      },
      seed: 1,
    }),
  );
  const built = buildModel(spec, [784]);
  const rng = createRng(2);
  const rows = Float32Array.from({ length: options.inputs * 784 }, () => rng());
  const x = tf.tensor(rows, [options.inputs, 784]);
  const maxRowsPerCall = rowsPerCall(spec, [784]);

  const plain = async (): Promise<number> => {
    const started = performance.now();
    const output = tf.tidy(() => tf.softmax(built.model.predict(x, { batchSize: options.inputs }) as tf.Tensor));
    await output.data();
    output.dispose();
    return performance.now() - started;
  };
  const sampled = async (samples: number): Promise<{ ms: number; calls: number }> => {
    const started = performance.now();
    const summary = new ClassificationUncertainty(options.inputs, samples, [10]);
    const { forwardCalls } = await sampleWithDropout(built.model, built.clock, rows, [784], { samples, seed: 1, maxRowsPerCall, link: (raw) => tf.softmax(raw) }, (block) => summary.add(block));
    for (let i = 0; i < options.inputs; i++) summary.result(i);
    return { ms: performance.now() - started, calls: forwardCalls };
  };

  // One warm-up of each, then interleaved repeats.
  await plain();
  for (const t of options.samples) await sampled(t);
  const times = new Map<number, number[]>([[0, []], ...options.samples.map((t) => [t, []] as [number, number[]])]);
  const calls = new Map<number, number>([[0, 1]]);
  // In each round every measure runs three times in a row and keeps its fastest: the first run after
  // another measure's large allocations pays for the collector, which is not the measure's cost.
  const best = async (run: () => Promise<number>) => Math.min(await run(), await run(), await run());
  for (let r = 0; r < options.repeats; r++) {
    times.get(0)!.push(await best(plain));
    for (const t of options.samples) {
      times.get(t)!.push(
        await best(async () => {
          const { ms, calls: forwardCalls } = await sampled(t);
          calls.set(t, forwardCalls);
          return ms;
        }),
      );
    }
  }
  x.dispose();
  built.model.dispose();
  const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
  return {
    backend: `${backend.name} (${backend.device})`,
    rows: [...times.entries()].map(([samples, values]) => ({
      measure: samples === 0 ? 'plain prediction (dropout off)' : `MC dropout, T = ${samples}`,
      samples,
      forwardCalls: calls.get(samples)!,
      ms: median(values),
    })),
  };
}
