import * as tf from '@tensorflow/tfjs';
import type { FittedPreprocessing } from './dataset-split.js';
import type { MetricValues } from './events.js';
import type { OptimizerState } from './optimizers/training-optimizer.js';

export const checkpointReasons = ['epoch', 'final', 'pause', 'shutdown', 'timeout'] as const;
export type CheckpointReason = (typeof checkpointReasons)[number];

/** Sums of a metric window in progress, so a resumed run reports the same numbers. */
export interface PartialSums {
  lossSum: number;
  correctSum: number;
  /** Σ over batches of (mean output entropy × rows). */
  entropySum: number;
  /** Σ over batches of (each auxiliary head's loss × rows), in head order; absent without heads. */
  headSums?: number[];
  rows: number;
}

/**
 * Everything besides the tensors that a run needs to continue exactly where it stopped: the next
 * batch to run, the counters, the shuffle RNG as it was when this epoch's order was drawn.
 */
export interface RunState {
  version: 1;
  completedEpochs: number;
  /** The next batch to run: batch `batch` (0-based) of epoch `epoch` (1-based). */
  position: { epoch: number; batch: number };
  step: number;
  phase: number;
  rateScale: number;
  retries: number;
  /** null stands for "none yet" (JSON has no Infinity). */
  bestLoss: number | null;
  epochShuffleState: number;
  epochSums: PartialSums;
  windowSums: PartialSums;
  best: { metric: string; value: number; epoch: number } | null;
  /** Metrics of the best epoch, and epochs since it (early stopping's patience counter). */
  bestMetrics: MetricValues | null;
  epochsSinceBest: number;
  optimizer: { step: number; slots: { name: string; shapes: number[][] }[] };
}

/** A checkpoint in memory: the model in TF.js's own format, optimizer slots, run state. */
export interface CheckpointData {
  reason: CheckpointReason;
  state: RunState;
  /** Metrics of the last completed epoch. */
  metrics: MetricValues;
  isBest: boolean;
  model: { modelTopology: object; weightSpecs: tf.io.WeightsManifestEntry[]; weightData: ArrayBuffer };
  /** Every optimizer slot, float32, in state.optimizer.slots order. */
  optimizerData: Float32Array;
  /** Every weight of the best epoch (model.weights order, float32), kept for early stopping's restoreBest. */
  bestWeights: Float32Array | null;
  /** The auxiliary heads' weights (training model order, float32): not in the exported model, needed to resume. */
  headWeights: Float32Array | null;
  /** The feature scaling the model expects its inputs to have had, if any. */
  preprocessing: FittedPreprocessing | null;
}

/** The model as `tf.loadLayersModel` expects it (topology + weight specs + one weight buffer). */
export async function captureModel(model: tf.LayersModel): Promise<CheckpointData['model']> {
  let captured: CheckpointData['model'] | undefined;
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      const weightData = artifacts.weightData;
      captured = {
        modelTopology: artifacts.modelTopology as object,
        weightSpecs: artifacts.weightSpecs ?? [],
        weightData: weightData instanceof ArrayBuffer ? weightData : tf.io.concatenateArrayBuffers(weightData ?? []),
      };
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  return captured!;
}

/** A checkpoint's model weights by name (`<layer>/<weight>`), for a transfer to pick from. */
export function namedWeights(checkpoint: CheckpointData): tf.NamedTensorMap {
  return tf.io.decodeWeights(checkpoint.model.weightData, checkpoint.model.weightSpecs);
}

/** Puts captured weights back into a model built from the same spec. */
export function restoreModel(model: tf.LayersModel, captured: CheckpointData['model']): void {
  const named = tf.io.decodeWeights(captured.weightData, captured.weightSpecs);
  const tensors = captured.weightSpecs.map((spec) => named[spec.name]!);
  model.setWeights(tensors);
  tf.dispose(tensors);
}

export async function packOptimizerState(state: OptimizerState): Promise<{ layout: RunState['optimizer']; data: Float32Array }> {
  const slots = Object.entries(state.slots);
  const values = await Promise.all(slots.flatMap(([, tensors]) => tensors.map((t) => t.data() as Promise<Float32Array>)));
  const total = values.reduce((sum, v) => sum + v.length, 0);
  const data = new Float32Array(total);
  let offset = 0;
  for (const v of values) {
    data.set(v, offset);
    offset += v.length;
  }
  return { layout: { step: state.step, slots: slots.map(([name, tensors]) => ({ name, shapes: tensors.map((t) => t.shape) })) }, data };
}

/** Tensors the caller owns and must dispose. */
export function unpackOptimizerState(layout: RunState['optimizer'], data: Float32Array): OptimizerState {
  const slots: Record<string, tf.Tensor[]> = {};
  let offset = 0;
  for (const { name, shapes } of layout.slots) {
    slots[name] = shapes.map((shape) => {
      const size = shape.reduce((a, b) => a * b, 1);
      const tensor = tf.tensor(data.subarray(offset, offset + size), shape, 'float32');
      offset += size;
      return tensor;
    });
  }
  if (offset !== data.length) throw new Error(`optimizer state holds ${data.length} values, its layout ${offset}`);
  return { step: layout.step, slots };
}
