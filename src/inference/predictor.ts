import * as tf from '@tensorflow/tfjs';
import { readCheckpoint } from '../checkpoints/checkpoint-files.js';
import type { DatasetService } from '../datasets/dataset-service.js';
import { isUuid } from '../db/ids.js';
import { selectBackend, type BackendChoice } from '../engine/backend.js';
import { applyPreprocessing, type FittedPreprocessing } from '../engine/dataset-split.js';
import { builtInDatasets } from '../engine/datasets/catalog.js';
// Registers the recurrent layer class, so models with normalised recurrent layers load.
import '../engine/layers/recurrent.js';
import { outputsProbabilities } from '../engine/model-builder.js';
import { ConflictError, NotFoundError, ValidationError } from '../errors/errors.js';
import type { JobStore } from '../jobs/job-store.js';
import type { JobRecord } from '../jobs/job-types.js';
import { describeDataset } from '../spec/job-spec.js';

export interface Prediction {
  /** Classification: the most probable class, its name, and every class's probability. */
  class?: number;
  label?: string;
  probabilities?: number[];
  /** Regression (and sequences): the model's outputs for the row. */
  values?: number[] | number[][];
}

interface LoadedModel {
  model: tf.LayersModel;
  /** One row's shape, without the batch dimension. */
  inputShape: number[];
  preprocessing: FittedPreprocessing | null;
}

const MAX_CACHED = 4;

/**
 * Predictions from a job's checkpoint: inputs in the data set's raw form (the job's fitted
 * preprocessing is applied here), run in chunks, with the last few loaded models cached per
 * process (a checkpoint never changes, so a cache entry never goes stale).
 */
export class Predictor {
  private readonly cache = new Map<string, Promise<LoadedModel>>();
  private backend: Promise<unknown> | null = null;

  constructor(
    private readonly store: JobStore,
    private readonly datasets: DatasetService,
    private readonly artifactDir: string,
    private readonly backendChoice: BackendChoice,
  ) {}

  async predict(projectId: string, jobId: string, inputs: unknown[], checkpointId?: string): Promise<{ checkpoint: string; predictions: Prediction[] }> {
    const found = isUuid(jobId) ? await this.store.get(jobId) : null;
    const job = found?.projectId === projectId ? found : null;
    if (!job) throw new NotFoundError('job', jobId);
    const checkpoint = checkpointId
      ? await this.store.getCheckpoint(jobId, checkpointId)
      : ((await this.store.latestCheckpoint(jobId, 'final')) ?? (await this.store.latestCheckpoint(jobId)));
    if (!checkpoint) {
      if (checkpointId) throw new NotFoundError('checkpoint', `${checkpointId} of job ${jobId}`);
      throw new ConflictError(`job ${jobId} has no checkpoint to predict with yet (it is ${job.status})`, { currentStatus: job.status });
    }
    this.backend ??= selectBackend(this.backendChoice.preference, this.backendChoice.options);
    await this.backend;
    const loaded = await this.load(`${jobId}:${checkpoint.id}`, checkpoint.path, checkpoint.sha256);
    const rows = flattenRows(inputs, loaded.inputShape);
    const classNames = await this.classNames(job);
    const probabilities = outputsProbabilities(job.spec);
    const regression = classNames === null;
    const predictions: Prediction[] = [];
    const size = loaded.inputShape.reduce((a, b) => a * b, 1);
    for (let begin = 0; begin < rows.length; begin += 1024) {
      const chunk = rows.slice(begin, begin + 1024);
      const x = new Float32Array(chunk.length * size);
      chunk.forEach((row, i) => x.set(row, i * size));
      if (loaded.preprocessing) applyPreprocessing(loaded.preprocessing, x);
      const output = tf.tidy(() => {
        const raw = loaded.model.predict(tf.tensor(x, [chunk.length, ...loaded.inputShape])) as tf.Tensor;
        if (regression || probabilities) return raw;
        return job.spec.loss === 'binaryCrossentropy' ? tf.sigmoid(raw) : tf.softmax(raw);
      });
      const values = (await output.array()) as number[][] | number[][][];
      output.dispose();
      for (const row of values) predictions.push(regression ? { values: row } : classify(row as number[], classNames));
    }
    return { checkpoint: checkpoint.id, predictions };
  }

  private load(key: string, folder: string, sha256: string): Promise<LoadedModel> {
    let entry = this.cache.get(key);
    if (entry) {
      // Most recently used last.
      this.cache.delete(key);
      this.cache.set(key, entry);
      return entry;
    }
    entry = (async () => {
      const data = readCheckpoint(this.artifactDir, folder, sha256);
      const model = await tf.loadLayersModel(tf.io.fromMemory({ modelTopology: data.model.modelTopology, weightSpecs: data.model.weightSpecs, weightData: data.model.weightData }));
      return { model, inputShape: model.inputs[0]!.shape.slice(1) as number[], preprocessing: data.preprocessing };
    })();
    this.cache.set(key, entry);
    entry.catch(() => this.cache.delete(key));
    while (this.cache.size > MAX_CACHED) {
      const [oldest, evicted] = this.cache.entries().next().value!;
      this.cache.delete(oldest);
      void evicted.then((loaded) => loaded.model.dispose()).catch(() => undefined);
    }
    return entry;
  }

  /** The names of the classes the model outputs, or null for a regression. */
  private async classNames(job: JobRecord): Promise<string[] | null> {
    const ref = job.spec.dataset;
    if (ref.name === 'upload') {
      // A data set deleted since is a model without class names; a database that is down is a 503.
      const dataset = await this.datasets.get(job.projectId, ref.id).catch((error: unknown) => {
        if (error instanceof NotFoundError) return null;
        throw error;
      });
      if (!dataset) return [];
      return dataset.labelType === 'number' ? null : dataset.classNames;
    }
    const shape = describeDataset(ref)!;
    if (shape.classes === 0) return null;
    if (ref.name === 'iris' || ref.name === 'mnist') {
      const names = builtInDatasets[ref.name].classNames;
      return (ref.classes ?? names.map((_, i) => i)).map((c) => names[c]!);
    }
    return Array.from({ length: shape.classes }, (_, i) => String(i));
  }
}

function classify(row: number[], classNames: string[]): Prediction {
  // One sigmoid unit: P(class 1).
  const probabilities = row.length === 1 ? [1 - row[0]!, row[0]!] : row;
  let best = 0;
  probabilities.forEach((p, i) => p > probabilities[best]! && (best = i));
  return { class: best, ...(classNames[best] !== undefined ? { label: classNames[best] } : {}), probabilities };
}

/** Each input as a flat row, checked against one row's shape (nested as the shape, or flat). */
function flattenRows(inputs: unknown[], shape: number[]): Float32Array[] {
  const size = shape.reduce((a, b) => a * b, 1);
  const problems: { field: string; message: string }[] = [];
  const rows = inputs.map((input, i) => {
    const flat = Array.isArray(input) ? (input as unknown[]).flat(shape.length) : [input];
    const nestedOk = shapeOf(input).join() === shape.join();
    const flatOk = Array.isArray(input) && (input as unknown[]).every((v) => typeof v === 'number');
    // A ragged nested row can look right by its first elements: its size must match too.
    if (!(nestedOk || flatOk) || flat.length !== size || !flat.every((v) => typeof v === 'number' && Number.isFinite(v))) {
      if (problems.length < 10) {
        problems.push({ field: `inputs[${i}]`, message: `expected shape [${shape.join(', ')}] (or ${size} numbers), got ${describe(input)}` });
      }
      return new Float32Array(size);
    }
    return Float32Array.from(flat as number[]);
  });
  if (problems.length > 0) throw new ValidationError(`invalid inputs: ${problems.map((p) => `${p.field}: ${p.message}`).join('; ')}`, problems);
  return rows;
}

function shapeOf(value: unknown): number[] {
  return Array.isArray(value) ? [value.length, ...shapeOf(value[0])] : [];
}

function describe(value: unknown): string {
  if (!Array.isArray(value)) return typeof value;
  const flat = (value as unknown[]).flat(10);
  const bad = flat.find((v) => typeof v !== 'number' || !Number.isFinite(v));
  return bad !== undefined ? `a non-number value ${JSON.stringify(bad)}` : `shape [${shapeOf(value).join(', ')}]`;
}
