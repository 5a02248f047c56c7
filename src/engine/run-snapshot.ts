import * as tf from '@tensorflow/tfjs';
import type { CallbackState } from './callbacks/training-callback.js';
import type { RunState } from './checkpoint-data.js';
import type { OptimizerState } from './optimizers/training-optimizer.js';

/**
 * A copy of a whole run at one point: its counters, every weight of the training model (heads and
 * running statistics included), the optimizer's slots, and the callbacks' states. What divergence
 * recovery returns to; the tensors are the snapshot's own.
 */
export interface RunSnapshot {
  state: RunState;
  weights: tf.Tensor[];
  optimizer: OptimizerState;
  callbacks: Record<string, CallbackState>;
}

/** Every tensor of a snapshot, in the order packSnapshot stores them. */
function snapshotTensors(snapshot: RunSnapshot): tf.Tensor[] {
  return [...snapshot.weights, ...Object.values(snapshot.optimizer.slots).flat(), ...Object.values(snapshot.callbacks).flatMap((state) => state.tensors)];
}

/** The snapshot as plain values and tensor copies (for a checkpoint); the state's layouts say which tensor is which. */
export function packSnapshot(snapshot: RunSnapshot): CallbackState {
  return { values: { state: snapshot.state, weights: snapshot.weights.length }, tensors: snapshotTensors(snapshot).map((t) => t.clone()) };
}

/** packSnapshot's inverse; copies the tensors, so the caller keeps ownership of its own. */
export function unpackSnapshot({ values, tensors }: CallbackState): RunSnapshot {
  const { state, weights } = values as { state: RunState; weights: number };
  let offset = 0;
  const take = (count: number) => {
    const taken = tensors.slice(offset, offset + count).map((t) => t.clone());
    offset += count;
    return taken;
  };
  const weightCopies = take(weights);
  const slots = Object.fromEntries(state.optimizer.slots.map(({ name, shapes }) => [name, take(shapes.length)]));
  const callbacks = Object.fromEntries(Object.entries(state.callbacks).map(([name, record]) => [name, { values: record.values, tensors: take(record.shapes.length) }]));
  return { state, weights: weightCopies, optimizer: { step: state.optimizer.step, slots }, callbacks };
}

export function disposeSnapshot(snapshot: RunSnapshot): void {
  tf.dispose(snapshotTensors(snapshot));
}
