import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import type { ResolvedJobSpec } from '../spec/job-spec.js';
import { applyPreprocessing, inputShapeOf, ScalingFit, splitOrder, targetEncoding, targetRows, targetTensor, type FittedScaling, type Split, type TargetEncoding } from './dataset-split.js';
import type { Dataset } from './datasets/loader.js';
import { StreamedRows } from './streamed-rows.js';
import type { Objective } from './objective.js';
import { evaluateChunks } from './train-step.js';
import { EVALUATION_CHUNK_ROWS, STREAMED_FIT_CHUNK_ROWS as FIT_CHUNK_ROWS } from '../spec/memory-estimate.js';

/** Positions `start` … `start + count − 1` of a split's order. */
export const positions = (start: number, count: number): Int32Array => Int32Array.from({ length: count }, (_, i) => start + i);

/**
 * What the `started` event says of a streamed split: the data set and file its rows are read from
 * (by name: the folder is the deployment's business), and how many bytes they are.
 */
export function streamingOf(split: Split): { streamed?: { dataset: string; file: string; featureBytes: number } } {
  const streamed = split.streamed;
  return streamed ? { streamed: { dataset: streamed.dataset, file: path.basename(streamed.from), featureBytes: streamed.fileBytes } } : {};
}

/**
 * A split whose features stay in the data set's features.f32: it holds the split order (4 bytes a
 * row) and the fitted scaling, and makes each batch's x and y tensors from rows read on demand.
 * Positions are indices into the order, [train | validation | test], as in the in-memory split, so
 * a batch of the same positions has the same values bit for bit.
 */
export class StreamedSplit {
  private constructor(
    /** The data set's name (an upload's id). */
    readonly dataset: string,
    private readonly reader: StreamedRows,
    private readonly order: Int32Array,
    private readonly target: Dataset['target'],
    private readonly encoding: TargetEncoding,
    private readonly inputShape: number[],
    private scaling: FittedScaling | null,
    private readonly parts: { train: number; validation: number; test: number },
  ) {}

  /** Where the rows are read from, for the `started` event. */
  get from(): string {
    return this.reader.path;
  }

  get fileBytes(): number {
    return this.reader.rows * this.reader.featureSize * 4;
  }

  /** splitDataset's split of a data set with a `featureFile`: the same order, and scaling fitted by passes over the file. */
  static async split(dataset: Dataset, spec: ResolvedJobSpec): Promise<Split> {
    if (!dataset.featureFile) throw new Error(`data set ${dataset.name} has no feature file to stream`);
    const { order, trainRows, validationRows, testRows } = splitOrder(dataset, spec);
    const reader = await StreamedRows.open(dataset.featureFile, dataset.featureSize, dataset.rows);
    const inputShape = inputShapeOf(spec, dataset);
    const streamed = new StreamedSplit(dataset.name, reader, order, dataset.target, targetEncoding(spec, dataset.target), inputShape, null, { train: trainRows, validation: validationRows, test: testRows });
    try {
      const method = spec.preprocessing.features;
      streamed.scaling = method === 'none' ? null : await streamed.fitScaling(new ScalingFit(method, dataset.featureSize), trainRows);
    } catch (error) {
      await reader.close();
      throw error;
    }
    return { trainX: null, trainY: null, valX: null, valY: null, testX: null, testY: null, trainRows, validationRows, testRows, inputShape, preprocessing: streamed.scaling, streamed };
  }

  /** Starts reading the rows at `at` (positions in the order), to be taken soon. */
  prefetch(at: Int32Array): void {
    this.reader.prefetch(this.rowsAt(at));
  }

  /** x [rows, ...inputShape] (scaled) and y (as the loss takes it) of the rows at `at`. */
  async batch(at: Int32Array): Promise<{ x: tf.Tensor; y: tf.Tensor }> {
    const rows = this.rowsAt(at);
    const x = await this.reader.take(rows);
    if (this.scaling) applyPreprocessing(this.scaling, x);
    return { x: tf.tensor(x, [at.length, ...this.inputShape]), y: targetTensor(targetRows(this.target, rows), at.length, this.target, this.encoding) };
  }

  /** The validation or test rows scored as `evaluate` scores them, the next chunk read while one is scored. */
  async evaluate(model: tf.LayersModel, part: 'validation' | 'test', objective: Pick<Objective, 'loss' | 'probabilities' | 'regression'>): Promise<{ loss: number; score: number }> {
    const start = part === 'validation' ? this.parts.train : this.parts.train + this.parts.validation;
    const rows = this.parts[part];
    return evaluateChunks(model, rows, (begin, size) => {
      const next = begin + size;
      const batch = this.batch(positions(start + begin, size));
      if (next < rows) this.prefetch(positions(start + next, Math.min(EVALUATION_CHUNK_ROWS, rows - next)));
      return batch;
    }, objective);
  }

  close(): Promise<void> {
    return this.reader.close();
  }

  private rowsAt(at: Int32Array): Int32Array {
    return at.map((position) => this.order[position]!);
  }

  private async fitScaling(fit: ScalingFit, trainRows: number): Promise<FittedScaling> {
    for (let pass = 0; pass < fit.passes; pass++) {
      for (let begin = 0; begin < trainRows; begin += FIT_CHUNK_ROWS) {
        const chunk = this.rowsAt(positions(begin, Math.min(FIT_CHUNK_ROWS, trainRows - begin)));
        const next = begin + FIT_CHUNK_ROWS;
        const read = this.reader.take(chunk);
        if (next < trainRows) this.reader.prefetch(this.rowsAt(positions(next, Math.min(FIT_CHUNK_ROWS, trainRows - next))));
        fit.add(pass, await read);
      }
    }
    return fit.result();
  }
}
