import * as tf from '@tensorflow/tfjs';
import { readCheckpoint } from '../checkpoints/checkpoint-files.js';
import type { DatasetService } from '../datasets/dataset-service.js';
import { isUuid } from '../db/ids.js';
import { selectBackend, type BackendChoice } from '../engine/backend.js';
import { restoreModel } from '../engine/checkpoint-data.js';
import { applyPreprocessing, scalingOf, vocabularyOf, type FittedPreprocessing } from '../engine/dataset-split.js';
import { builtInDatasets } from '../engine/datasets/catalog.js';
import type { StepClock } from '../engine/layers/seeded-dropout.js';
// Registers the recurrent layer class, so models with normalised recurrent layers load.
import '../engine/layers/recurrent.js';
import { dropoutSites, rowsPerCall, sampleWithDropout } from '../engine/mc-dropout.js';
import { buildModel, outputsProbabilities } from '../engine/model-builder.js';
import { TokenEncoder, type FittedVocabulary } from '../engine/text-vocabulary.js';
import { ConflictError, NotFoundError, UnprocessableError, ValidationError } from '../errors/errors.js';
import type { JobStore } from '../jobs/job-store.js';
import type { JobRecord } from '../jobs/job-types.js';
import { describeDataset } from '../spec/dataset-spec.js';
import { ClassificationUncertainty, RegressionUncertainty } from './uncertainty.js';

export interface Prediction {
  /** Classification: the most probable class, its name, and every class's probability (per step for a class per step). */
  class?: number | number[];
  label?: string | string[];
  probabilities?: number[] | number[][];
  /** Regression (and sequences): the model's outputs for the row. */
  values?: number[] | number[][];
  /** With an uncertainty request: the spread of the T passes (src/inference/uncertainty.ts). */
  uncertainty?: {
    predictiveEntropy?: number | number[];
    expectedEntropy?: number | number[];
    mutualInformation?: number | number[];
    variance?: number[] | number[][];
  };
}

/** Monte Carlo dropout: T passes with dropout on, seeded (docs/jobs.md#predictive-uncertainty). */
export interface UncertaintyRequest {
  method: 'mcDropout';
  samples: number;
  seed: number;
}

export interface PredictRequest {
  inputs: unknown[];
  checkpoint?: string;
  uncertainty?: UncertaintyRequest;
}

export interface PredictResult {
  checkpoint: string;
  /** The request's method, samples and seed, and the forward calls the passes took. */
  uncertainty?: UncertaintyRequest & { forwardCalls: number };
  predictions: Prediction[];
}

/** inputs × samples one request may ask for: every one is a row through the model. */
export const MAX_SAMPLE_ROWS = 200_000;

interface LoadedModel {
  model: tf.LayersModel;
  /** One row's shape, without the batch dimension. */
  inputShape: number[];
  preprocessing: FittedPreprocessing | null;
}

/** The model rebuilt from the job's spec (seeded dropout, recurrent dropout modes) with the checkpoint's weights. */
interface SamplingModel {
  model: tf.LayersModel;
  clock: StepClock;
  rowsPerCall: number;
}

const MAX_CACHED = 4;

/**
 * Predictions from a job's checkpoint: inputs in the data set's raw form (the job's fitted
 * preprocessing is applied here), run in chunks, with the last few loaded models cached per
 * process (a checkpoint never changes, so a cache entry never goes stale).
 */
export class Predictor {
  private readonly cache = new Map<string, Promise<LoadedModel>>();
  private readonly samplingCache = new Map<string, Promise<SamplingModel>>();
  private backend: Promise<unknown> | null = null;

  constructor(
    private readonly store: JobStore,
    private readonly datasets: DatasetService,
    private readonly artifactDir: string,
    private readonly backendChoice: BackendChoice,
  ) {}

  async predict(projectId: string, jobId: string, request: PredictRequest): Promise<PredictResult> {
    const { inputs, checkpoint: checkpointId, uncertainty } = request;
    const found = isUuid(jobId) ? await this.store.get(jobId) : null;
    const job = found?.projectId === projectId ? found : null;
    if (!job) throw new NotFoundError('job', jobId);
    const shape = job.spec.dataset.name === 'upload' ? null : describeDataset(job.spec.dataset);
    const decodes = shape?.decodes;
    if (decodes && uncertainty) throw new UnprocessableError('uncertainty is not available for a seq2seq model: its predictions are decoded greedily, one token at a time');
    if (uncertainty) checkSampling(job, inputs.length, uncertainty);
    const checkpoint = checkpointId
      ? await this.store.getCheckpoint(jobId, checkpointId)
      : ((await this.store.latestCheckpoint(jobId, 'final')) ?? (await this.store.latestCheckpoint(jobId)));
    if (!checkpoint) {
      if (checkpointId) throw new NotFoundError('checkpoint', `${checkpointId} of job ${jobId}`);
      throw new ConflictError(`job ${jobId} has no checkpoint to predict with yet (it is ${job.status})`, { currentStatus: job.status });
    }
    this.backend ??= selectBackend(this.backendChoice.preference, this.backendChoice.options);
    await this.backend;
    const key = `${jobId}:${checkpoint.id}`;
    const loaded = await this.load(key, checkpoint.path, checkpoint.sha256);
    const vocabulary = vocabularyOf(loaded.preprocessing);
    const rows = vocabulary ? encodeTexts(inputs, vocabulary) : flattenRows(inputs, decodes ? [decodes.sourceLength] : loaded.inputShape);
    const scaling = scalingOf(loaded.preprocessing);
    if (shape?.vocabulary !== undefined) checkTokens(rows, shape.vocabulary);
    const classNames = await this.classNames(job);
    const probabilities = outputsProbabilities(job.spec);
    const regression = classNames === null;
    const link = (raw: tf.Tensor): tf.Tensor => {
      if (regression || probabilities) return raw;
      return job.spec.loss === 'binaryCrossentropy' ? tf.sigmoid(raw) : tf.softmax(raw);
    };
    const size = loaded.inputShape.reduce((a, b) => a * b, 1);
    const batchOf = (chunk: Float32Array[]): Float32Array => {
      const x = new Float32Array(chunk.length * size);
      chunk.forEach((row, i) => x.set(row, i * size));
      if (scaling) applyPreprocessing(scaling, x);
      return x;
    };
    if (uncertainty) {
      const sampling = await this.sampling(key, checkpoint.path, checkpoint.sha256, job, loaded.inputShape, regression);
      return { checkpoint: checkpoint.id, ...(await sample(sampling, batchOf(rows), rows.length, loaded.inputShape, uncertainty, { link, regression, classNames })) };
    }
    const predictions: Prediction[] = [];
    if (decodes) {
      for (let begin = 0; begin < rows.length; begin += 1024) {
        const decoded = await decodeGreedily(loaded.model, rows.slice(begin, begin + 1024), decodes, link);
        predictions.push(...decoded.map((steps) => classify(steps, classNames ?? [])));
      }
      return { checkpoint: checkpoint.id, predictions };
    }
    for (let begin = 0; begin < rows.length; begin += 1024) {
      const chunk = rows.slice(begin, begin + 1024);
      const x = batchOf(chunk);
      const output = tf.tidy(() => link(loaded.model.predict(tf.tensor(x, [chunk.length, ...loaded.inputShape])) as tf.Tensor));
      const values = (await output.array()) as number[][] | number[][][];
      output.dispose();
      for (const row of values) predictions.push(regression ? { values: row } : classify(row, classNames));
    }
    return { checkpoint: checkpoint.id, predictions };
  }

  /**
   * The job's model as its spec builds it, for sampling: the plain loaded model has TF.js's own
   * dropout and recurrent layers, whose masks are neither seeded nor placed by dropoutMode.
   */
  private sampling(key: string, folder: string, sha256: string, job: JobRecord, inputShape: number[], regression: boolean): Promise<SamplingModel> {
    return cached(this.samplingCache, key, async () => {
      const data = readCheckpoint(this.artifactDir, folder, sha256);
      const built = buildModel(job.spec, inputShape, regression);
      // Auxiliary heads are not in a checkpoint's model and not wanted here.
      const shared = new Set(built.model.layers);
      for (const layer of built.training.layers) if (!shared.has(layer) && layer.getClassName() !== 'InputLayer') layer.dispose();
      restoreModel(built.model, data.model);
      return { model: built.model, clock: built.clock, rowsPerCall: rowsPerCall(job.spec, inputShape) };
    }, (entry) => entry.model.dispose());
  }

  private load(key: string, folder: string, sha256: string): Promise<LoadedModel> {
    return cached(this.cache, key, async () => {
      const data = readCheckpoint(this.artifactDir, folder, sha256);
      const model = await tf.loadLayersModel(tf.io.fromMemory({ modelTopology: data.model.modelTopology, weightSpecs: data.model.weightSpecs, weightData: data.model.weightData }));
      return { model, inputShape: model.inputs[0]!.shape.slice(1) as number[], preprocessing: data.preprocessing };
    }, (loaded) => loaded.model.dispose());
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

/**
 * The last few entries a process keeps, most recently used last (a checkpoint never changes, so an
 * entry never goes stale); a failed load is forgotten, an evicted model disposed.
 */
function cached<T>(cache: Map<string, Promise<T>>, key: string, load: () => Promise<T>, dispose: (entry: T) => void): Promise<T> {
  let entry = cache.get(key);
  if (entry) {
    cache.delete(key);
    cache.set(key, entry);
    return entry;
  }
  entry = load();
  cache.set(key, entry);
  entry.catch(() => cache.delete(key));
  while (cache.size > MAX_CACHED) {
    const [oldest, evicted] = cache.entries().next().value!;
    cache.delete(oldest);
    void evicted.then(dispose).catch(() => undefined);
  }
  return entry;
}

/** Refuses, before any model is loaded, what sampling cannot answer: a model without dropout, too many rows. */
function checkSampling(job: JobRecord, inputs: number, request: UncertaintyRequest): void {
  if (dropoutSites(job.spec).length === 0) {
    throw new UnprocessableError(
      `job ${job.id}'s model has no dropout: Monte Carlo dropout samples the dropout masks, so it needs a dropout layer (rate > 0) or a recurrent layer with dropout; ` +
        'train one with dropout, or predict without `uncertainty`',
    );
  }
  if (inputs * request.samples > MAX_SAMPLE_ROWS) {
    throw new ValidationError(`invalid uncertainty request: ${inputs} inputs × ${request.samples} samples is more than ${MAX_SAMPLE_ROWS} passes`, [
      { field: 'uncertainty.samples', message: `${inputs} inputs × ${request.samples} samples is ${inputs * request.samples} rows through the model; at most ${MAX_SAMPLE_ROWS} a request` },
    ]);
  }
}

/** T passes per input with dropout on, summarised per input as its mean prediction and its uncertainty. */
async function sample(
  sampling: SamplingModel,
  x: Float32Array,
  inputs: number,
  inputShape: number[],
  request: UncertaintyRequest,
  { link, regression, classNames }: { link: (raw: tf.Tensor) => tf.Tensor; regression: boolean; classNames: string[] | null },
): Promise<Omit<PredictResult, 'checkpoint'>> {
  const outputShape = (sampling.model.outputs[0]!.shape.slice(1) as number[]).map((d) => d ?? 1);
  const summary = regression ? new RegressionUncertainty(inputs, request.samples, outputShape) : new ClassificationUncertainty(inputs, request.samples, outputShape);
  const { forwardCalls } = await sampleWithDropout(
    sampling.model,
    sampling.clock,
    x,
    inputShape,
    { samples: request.samples, seed: request.seed, maxRowsPerCall: sampling.rowsPerCall, link },
    (block) => summary.add(block),
  );
  const predictions = Array.from({ length: inputs }, (_, i): Prediction => {
    if (summary instanceof RegressionUncertainty) {
      const { values, variance } = summary.result(i);
      return { values, uncertainty: { variance } };
    }
    const { probabilities, ...spread } = summary.result(i);
    return { ...classify(probabilities, classNames ?? []), uncertainty: spread };
  });
  return { uncertainty: { ...request, forwardCalls }, predictions };
}

/** The most probable class of a row of probabilities (one sigmoid unit: P(class 1)), or of each step of a sequence's. */
function classify(row: number[] | number[][], classNames: string[]): Prediction {
  if (Array.isArray(row[0])) {
    const steps = (row as number[][]).map((step) => classify(step, classNames));
    const labels = steps.map((step) => step.label);
    return {
      class: steps.map((step) => step.class as number),
      ...(labels.every((label) => label !== undefined) ? { label: labels as string[] } : {}),
      probabilities: steps.map((step) => step.probabilities as number[]),
    };
  }
  const flat = row as number[];
  const probabilities = flat.length === 1 ? [1 - flat[0]!, flat[0]!] : flat;
  let best = 0;
  probabilities.forEach((p, i) => p > probabilities[best]! && (best = i));
  return { class: best, ...(classNames[best] !== undefined ? { label: classNames[best] } : {}), probabilities };
}

/**
 * A seq2seq pairs model's answer to sources alone: the decoder's input starts as the start token,
 * and each step's most probable token is fed back as the next step's input (greedy decoding), so the
 * model sees only what it produced, as it would in use. Returns each row's per-step probabilities.
 */
async function decodeGreedily(
  model: tf.LayersModel,
  sources: Float32Array[],
  { sourceLength, startToken }: { sourceLength: number; startToken: number },
  link: (raw: tf.Tensor) => tf.Tensor,
): Promise<number[][][]> {
  const width = 2 * sourceLength;
  const x = new Float32Array(sources.length * width);
  sources.forEach((source, i) => {
    x.set(source, i * width);
    x[i * width + sourceLength] = startToken;
  });
  const steps: number[][][] = sources.map(() => []);
  for (let t = 0; t < sourceLength; t++) {
    // The decoder is causal: step t's output depends on the decoder's inputs 0 … t only, all fixed by now.
    const output = tf.tidy(() => tf.squeeze(tf.slice(link(model.predict(tf.tensor2d(x, [sources.length, width])) as tf.Tensor), [0, t, 0], [-1, 1, -1]), [1]));
    const probabilities = (await output.array()) as number[][];
    output.dispose();
    probabilities.forEach((row, i) => {
      steps[i]!.push(row);
      let best = 0;
      row.forEach((p, c) => p > row[best]! && (best = c));
      if (t + 1 < sourceLength) x[i * width + sourceLength + t + 1] = best;
    });
  }
  return steps;
}

/** Token ids index an embedding table: anything but an integer in 0 … vocabulary − 1 is a 400 naming the input. */
function checkTokens(rows: Float32Array[], vocabulary: number): void {
  const problems: { field: string; message: string }[] = [];
  rows.forEach((row, i) => {
    const bad = row.findIndex((v) => !Number.isInteger(v) || v < 0 || v >= vocabulary);
    if (bad >= 0 && problems.length < 10) problems.push({ field: `inputs[${i}]`, message: `token ids are integers 0 … ${vocabulary - 1}; position ${bad} holds ${row[bad]}` });
  });
  if (problems.length > 0) throw new ValidationError(`invalid inputs: ${problems.map((p) => `${p.field}: ${p.message}`).join('; ')}`, problems);
}

/** A text model's inputs are raw texts, made into token ids by the vocabulary its training fitted. */
function encodeTexts(inputs: unknown[], vocabulary: FittedVocabulary): Float32Array[] {
  const problems = inputs.flatMap((input, i) => (typeof input === 'string' ? [] : [{ field: `inputs[${i}]`, message: `this job was trained on text: each input is a string, got ${describe(input)}` }]));
  if (problems.length > 0) throw new ValidationError(`invalid inputs: ${problems.slice(0, 10).map((p) => `${p.field}: ${p.message}`).join('; ')}`, problems.slice(0, 10));
  const ids = new TokenEncoder(vocabulary).encodeAll(inputs as string[]);
  const length = vocabulary.text.length;
  return inputs.map((_, i) => ids.subarray(i * length, (i + 1) * length));
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
  if (value === null) return 'null';
  if (!Array.isArray(value)) return typeof value;
  const flat = (value as unknown[]).flat(10);
  const bad = flat.find((v) => typeof v !== 'number' || !Number.isFinite(v));
  return bad !== undefined ? `a non-number value ${JSON.stringify(bad)}` : `shape [${shapeOf(value).join(', ')}]`;
}
