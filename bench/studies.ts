import { startBenchApi } from './bench-api.js';
import type { StudySpecInput } from '../src/spec/study-spec.js';
import { createTrainingWorker } from '../src/worker/training-worker.js';

export const studyAlgorithms = ['random', 'asha', 'pbt'] as const;
export type StudyAlgorithm = (typeof studyAlgorithms)[number];

export interface StudyBenchRow {
  algorithm: StudyAlgorithm;
  seed: number;
  status: string;
  bestValAccuracy: number | null;
  bestTrial: number | null;
  trials: number;
  stopped: number;
  trialEpochs: number;
  fullTrainingEpochs: number;
  trialSeconds: number;
  wallSeconds: number;
}

const TRIALS = 16;
const EPOCHS = 9;

/**
 * The search on MNIST: an MLP, learning rate log-uniform 1e-4…1, batch size, dropout rate
 * and the optimizer among sgd, momentum and adam. Random search trains 16 trials to the end; ASHA
 * (η 3, rungs at epochs 1 and 3) judges 16; PBT trains a population of 16 within the same 144 trial-epochs.
 */
function studySpec(algorithm: StudyAlgorithm, seed: number): StudySpecInput {
  const algorithms = {
    random: { type: 'random' },
    asha: { type: 'asha', reductionFactor: 3, minEpochs: 1 },
    pbt: { type: 'pbt', population: TRIALS, perturbationInterval: 3, quantileFraction: 0.25, resampleProbability: 0.25 },
  } as const;
  return {
    name: `bench: ${algorithm} seed ${seed}`,
    base: {
      dataset: { name: 'mnist' },
      validationSplit: 0.2,
      model: { layers: [{ type: 'dense', units: 128, activation: 'relu' }, { type: 'dropout', rate: 0.2 }, { type: 'dense', units: 10 }] },
      optimizer: 'adam',
      epochs: EPOCHS,
      batchSize: 64,
      logEveryBatches: 0,
    },
    space: {
      optimizer: { type: 'choice', values: ['sgd', 'momentum', 'adam'] },
      learningRate: { type: 'logUniform', low: 1e-4, high: 1 },
      batchSize: { type: 'choice', values: [32, 64, 128, 256] },
      'model.layers[1].rate': { type: 'uniform', low: 0, high: 0.5 },
    },
    objective: { metric: 'val_accuracy' },
    algorithm: algorithms[algorithm],
    maxTrials: TRIALS,
    maxConcurrentTrials: 2,
    // PBT may take a checkpoint older than the trial's own and train those epochs again: the budget
    // holds it to random search's compute.
    ...(algorithm === 'pbt' ? { budget: { trialEpochs: TRIALS * EPOCHS } } : {}),
    seed,
  };
}

interface StudyBody {
  status: string;
  best: { trial: number; value: number } | null;
  trials: { state: string }[];
  compute: { trialEpochs: number; fullTrainingEpochs: number; trialSeconds: number };
}

/**
 * Each study through the real stack (API with auth on, PostgreSQL, BullMQ, two training processes on
 * the native backend, the study scheduler) in a database and queue prefix of its own, one after the
 * other so each has the machine to itself.
 */
export async function benchStudies(options: { seeds: number[]; algorithms: readonly StudyAlgorithm[]; onRow?: (row: StudyBenchRow) => void }): Promise<StudyBenchRow[]> {
  const bench = await startBenchApi('studies', {
    TRAINYARD_BACKEND: process.env.TRAINYARD_BACKEND ?? 'native',
    WORKER_CONCURRENCY: '2',
    STUDY_SCHEDULER_INTERVAL_MS: '250',
  });
  const worker = createTrainingWorker(bench.services);
  await worker.start();
  const scheduler = bench.services.newStudyScheduler();
  scheduler.start();
  const rows: StudyBenchRow[] = [];
  try {
    const headers = { ...bench.headers, 'content-type': 'application/json' };
    for (const seed of options.seeds) {
      for (const algorithm of options.algorithms) {
        const row = await runStudy(bench.address, headers, algorithm, seed);
        rows.push(row);
        options.onRow?.(row);
      }
    }
  } finally {
    await scheduler.close();
    await worker.close();
    await bench.close();
  }
  return rows;
}

async function runStudy(address: string, headers: Record<string, string>, algorithm: StudyAlgorithm, seed: number): Promise<StudyBenchRow> {
  const started = performance.now();
  const response = await fetch(`${address}/v1/studies`, { method: 'POST', headers, body: JSON.stringify(studySpec(algorithm, seed)) });
  if (response.status !== 201) throw new Error(`POST /v1/studies answered ${response.status}: ${await response.text()}`);
  const { id } = (await response.json()) as { id: string };
  let study: StudyBody;
  for (;;) {
    study = (await (await fetch(`${address}/v1/studies/${id}`, { headers })).json()) as StudyBody;
    if (['succeeded', 'failed', 'cancelled'].includes(study.status)) break;
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
  return {
    algorithm,
    seed,
    status: study.status,
    bestValAccuracy: study.best?.value ?? null,
    bestTrial: study.best?.trial ?? null,
    trials: study.trials.length,
    stopped: study.trials.filter((trial) => trial.state === 'stopped').length,
    trialEpochs: study.compute.trialEpochs,
    fullTrainingEpochs: study.compute.fullTrainingEpochs,
    trialSeconds: study.compute.trialSeconds,
    wallSeconds: (performance.now() - started) / 1000,
  };
}
