import * as tf from '@tensorflow/tfjs';
import type { FittedPreprocessing } from './dataset-split.js';
import type { MetricValues } from './events.js';
import type { OptimizerState } from './optimizers/training-optimizer.js';

import type { CheckpointReason } from './checkpoint-reasons.js';

export { checkpointReasons, type CheckpointReason } from './checkpoint-reasons.js';

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

/** A callback's part of the run state: its plain values, and the shapes of its tensors (stored in a blob). */
export interface CallbackRecord {
  values: unknown;
  shapes: number[][];
}

/**
 * Everything besides the tensors that a run needs to continue exactly where it stopped: the next
 * batch to run, the counters, the shuffle RNG as it was when this epoch's order was drawn, and each
 * callback's state (src/engine/callbacks/): early stopping, divergence recovery, reduce-on-plateau,
 * checkpointing.
 */
export interface RunState {
  version: 2;
  completedEpochs: number;
  /** The next batch to run: batch `batch` (0-based) of epoch `epoch` (1-based). */
  position: { epoch: number; batch: number };
  step: number;
  phase: number;
  epochShuffleState: number;
  epochSums: PartialSums;
  windowSums: PartialSums;
  optimizer: { step: number; slots: { name: string; shapes: number[][] }[] };
  callbacks: Record<string, CallbackRecord>;
}

/** The run state checkpoints held before callbacks (version 1): still read, so old checkpoints resume. */
export interface RunStateV1 extends Omit<RunState, 'version' | 'callbacks'> {
  version: 1;
  rateScale: number;
  retries: number;
  bestLoss: number | null;
  best: { metric: string; value: number; epoch: number } | null;
  bestMetrics: MetricValues | null;
  epochsSinceBest: number;
}

/**
 * A version 1 state as version 2: its early-stopping, best-checkpoint and divergence counters
 * become those callbacks' states (the best weights, if any, stay in best-weights.bin).
 */
export function upgradeRunState(state: RunState | RunStateV1, bestWeightShapes: number[][]): RunState {
  if (state.version === 2) return state;
  const { rateScale, retries, bestLoss, best, bestMetrics, epochsSinceBest, version: _version, ...rest } = state;
  const bestValue = best ? { value: best.value, epoch: best.epoch } : null;
  return {
    ...rest,
    version: 2,
    callbacks: {
      earlyStopping: { values: { best: bestValue, bestMetrics, wait: epochsSinceBest, stoppedEpoch: null }, shapes: bestWeightShapes },
      checkpointing: { values: { best: bestValue, lastWasBest: false }, shapes: [] },
      divergence: {
        values: { retries, rateScale, history: { best: bestLoss, first: bestLoss }, confirmed: null, candidate: null },
        shapes: [],
      },
    },
  };
}

/** A checkpoint in memory: the model in TF.js's own format, optimizer slots, run state. */
export interface CheckpointData {
  reason: CheckpointReason;
  state: RunState | RunStateV1;
  /** Metrics of the last completed epoch (of the best one, once early stopping restored its weights). */
  metrics: MetricValues;
  isBest: boolean;
  model: { modelTopology: object; weightSpecs: tf.io.WeightsManifestEntry[]; weightData: ArrayBuffer };
  /** Every optimizer slot, float32, in state.optimizer.slots order. */
  optimizerData: Float32Array;
  /** Every weight of the best epoch (model.weights order, float32), kept for early stopping's restoreBest. */
  bestWeights: Float32Array | null;
  /** The auxiliary heads' weights (training model order, float32): not in the exported model, needed to resume. */
  headWeights: Float32Array | null;
  /** Divergence recovery's rollback points (weights, optimizer and callback state, float32), in the order its state lists them. */
  rollback?: Float32Array | null;
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

/** Tensors, concatenated as float32 (the blobs of a checkpoint). */
export async function concatFloat32(tensors: tf.Tensor[]): Promise<Float32Array> {
  const parts = await Promise.all(tensors.map((t) => t.data() as Promise<Float32Array>));
  const out = new Float32Array(parts.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** A blob back into tensors of `shapes` (the caller owns them). */
export function splitFloat32(data: Float32Array | null | undefined, shapes: number[][]): tf.Tensor[] {
  let offset = 0;
  const tensors = shapes.map((shape) => {
    const size = shape.reduce((a, b) => a * b, 1);
    const tensor = tf.tensor(data!.subarray(offset, offset + size), shape, 'float32');
    offset += size;
    return tensor;
  });
  if (shapes.length > 0 && offset !== data!.length) throw new Error(`a checkpoint blob holds ${data!.length} values, its layout ${offset}`);
  return tensors;
}

/** Where callbacks' tensors live in a checkpoint: early stopping's best weights, divergence recovery's rollback points. */
const CALLBACK_BLOBS = { earlyStopping: 'bestWeights', divergence: 'rollback' } as const;
type CallbackBlob = (typeof CALLBACK_BLOBS)[keyof typeof CALLBACK_BLOBS];

/** The callbacks' tensors as a checkpoint's blobs (null where a callback has none). */
export async function callbackBlobs(states: Record<string, { tensors: tf.Tensor[] }>): Promise<Record<CallbackBlob, Float32Array | null>> {
  const blob = async (name: keyof typeof CALLBACK_BLOBS) => {
    const tensors = states[name]?.tensors ?? [];
    return tensors.length > 0 ? concatFloat32(tensors) : null;
  };
  return { bestWeights: await blob('earlyStopping'), rollback: await blob('divergence') };
}

/** Each callback's state in a checkpoint: its values, and its tensors cut from their blob (the caller owns them). */
export function callbackStatesOf(checkpoint: CheckpointData, state: RunState): Record<string, { values: unknown; tensors: tf.Tensor[] }> {
  const blobs: Record<CallbackBlob, Float32Array | null | undefined> = { bestWeights: checkpoint.bestWeights, rollback: checkpoint.rollback };
  return Object.fromEntries(
    Object.entries(state.callbacks).map(([name, record]) => {
      const blob = CALLBACK_BLOBS[name as keyof typeof CALLBACK_BLOBS];
      return [name, { values: record.values, tensors: blob ? splitFloat32(blobs[blob], record.shapes) : [] }];
    }),
  );
}
