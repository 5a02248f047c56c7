import type { ResolvedJobSpec } from '../../spec/job-spec.js';
import type { SelectedBackend } from '../backend.js';
import type { FittedPreprocessing } from '../dataset-split.js';
import type { SharedBuffers, WeightLayout } from './parameter-transport.js';

/** What a training thread starts with: the spec to build the model from, and shared memory. */
export interface ThreadInit {
  index: number;
  spec: ResolvedJobSpec;
  backend: SelectedBackend['name'];
  inputShape: number[];
  regression: boolean;
  layout: WeightLayout;
  buffers: SharedBuffers;
  /** The training rows, shared read-only. */
  trainX: { buffer: SharedArrayBuffer; shape: number[] };
  trainY: { buffer: SharedArrayBuffer; shape: number[]; dtype: 'float32' | 'int32' };
  /** The split's scaling: spec.augmentation transforms pixels, so a thread undoes it around the transforms. */
  preprocessing: FittedPreprocessing | null;
}

export type ThreadTask =
  /** Compute the gradient of `rows` at the current shared weights. */
  | { type: 'gradient'; id: number; step: number; rows: Int32Array; headWeights: number[]; delayMs?: number }
  /** Compute it and apply it to the shared weights at once (hogwild). */
  | { type: 'hogwild'; id: number; step: number; rows: Int32Array; headWeights: number[]; rate: number; delayMs?: number }
  /** Tests: fail as a crashing thread would. */
  | { type: 'crash' };

export interface ThreadResult {
  type: 'done';
  id: number;
  /** The version of each parameter shard the gradient was computed at. */
  versions: number[];
  rows: number;
  loss: number;
  correct: number;
  entropy: number;
  headLosses: number[];
  /** Trainable weights' gradients, flattened in layout order (absent for hogwild: already applied). */
  gradient?: Float32Array;
  computeMs: number;
}

export type ThreadMessage = { type: 'ready' } | ThreadResult | { type: 'error'; message: string };
