import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describeDataset } from '../src/spec/dataset-spec.js';
import { jobSpecSchema, resolveJobSpec, type JobSpecInput } from '../src/spec/job-spec.js';
import { runShape, splittableRows } from '../src/spec/run-shape.js';
import { createTrainingWorker } from '../src/worker/training-worker.js';
import { startBenchApi } from './bench-api.js';

const run = promisify(execFile);

export interface OverheadRound {
  round: number;
  /** The engine's own samples/s (training steps only), median over epochs 2…N. */
  engine: { bare: number; service: number };
  /** Samples/s from one epoch's end to the next (validation, events, checkpoints included), median over epochs 2…N. */
  wall: { bare: number; service: number };
}

/** MNIST's MLP from the kernels bench, as a job: 10 epochs of batch 128, a 10 % validation split. */
const spec: JobSpecInput = {
  name: 'bench: service against the bare engine',
  dataset: { name: 'mnist' },
  validationSplit: 0.1,
  model: { layers: [{ type: 'dense', units: 256, activation: 'relu' }, { type: 'dense', units: 256, activation: 'relu' }, { type: 'dense', units: 10 }] },
  optimizer: 'adam',
  epochs: 10,
  batchSize: 128,
  seed: 1,
};

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

/** Training rows per epoch over the seconds between consecutive epoch ends. */
function wallRate(ends: number[], rowsPerEpoch: number): number {
  return median(ends.slice(1).map((end, i) => (rowsPerEpoch / (end - ends[i]!)) * 1000));
}

/**
 * The same spec trained by the bare engine (runTraining in a child process: no events kept, no
 * checkpoints) and as a job through the service (API with auth, PostgreSQL, BullMQ, the worker and
 * its training process, events and a checkpoint per epoch), interleaved, `rounds` times each.
 */
export async function benchServiceOverhead(options: { rounds: number; backend: string }): Promise<OverheadRound[]> {
  const resolved = resolveJobSpec(jobSpecSchema.parse(spec), { drawSeed: () => 1 });
  const info = describeDataset(resolved.dataset)!;
  const { trainRows } = runShape(resolved, splittableRows(resolved.dataset, info), info.fixedTestRows);
  const bench = await startBenchApi('service', { TRAINYARD_BACKEND: options.backend });
  const worker = createTrainingWorker(bench.services);
  await worker.start();
  const headers = { ...bench.headers, 'content-type': 'application/json' };
  const rounds: OverheadRound[] = [];
  try {
    for (let round = 1; round <= options.rounds; round++) {
      const { stdout } = await run(process.execPath, ['--import', 'tsx', new URL('./engine-run-child.ts', import.meta.url).pathname, options.backend, JSON.stringify(resolved)], {
        env: { ...process.env, TRAINYARD_BACKEND: options.backend },
        maxBuffer: 1 << 20,
      });
      const bare = (JSON.parse(stdout) as { epochs: { at: number; samplesPerSecond: number }[] }).epochs;

      const response = await fetch(`${bench.address}/v1/jobs`, { method: 'POST', headers, body: JSON.stringify(spec) });
      if (response.status !== 201) throw new Error(`POST /v1/jobs answered ${response.status}: ${await response.text()}`);
      const { id } = (await response.json()) as { id: string };
      for (;;) {
        const job = (await (await fetch(`${bench.address}/v1/jobs/${id}`, { headers })).json()) as { status: string; failureReason?: string };
        if (job.status === 'succeeded') break;
        if (job.status === 'failed' || job.status === 'cancelled') throw new Error(`the service's job ${job.status}: ${job.failureReason ?? ''}`);
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
      const events = (await (await fetch(`${bench.address}/v1/jobs/${id}/events?limit=1000`, { headers })).json()) as {
        data: { type: string; emittedAt: string; data: { scope?: string; samplesPerSecond?: number } }[];
      };
      const service = events.data.filter((event) => event.type === 'metrics' && event.data.scope === 'epoch');
      rounds.push({
        round,
        engine: { bare: median(bare.slice(1).map((e) => e.samplesPerSecond)), service: median(service.slice(1).map((e) => e.data.samplesPerSecond ?? NaN)) },
        wall: { bare: wallRate(bare.map((e) => e.at), trainRows), service: wallRate(service.map((e) => Date.parse(e.emittedAt)), trainRows) },
      });
    }
  } finally {
    await worker.close();
    await bench.close();
  }
  return rounds;
}
