import type { LabelType } from '../datasets/tabular-parser.js';
import type { SelectedBackend } from '../engine/backend.js';
import type { TrainingEvent, TrainingResult } from '../engine/events.js';
import type { CheckpointMeta } from '../jobs/job-lifecycle.js';
import type { ResolvedJobSpec } from '../spec/job-spec.js';

export interface RunRequest {
  jobId: string;
  spec: ResolvedJobSpec;
  artifactDir: string;
  /** The checkpoint to continue from (relative folder and its recorded checksum). */
  resume?: { path: string; sha256: string };
  /** Where an uploaded data set's rows are, and their shape. */
  upload?: {
    id: string;
    folder: string;
    featureSize: number;
    inputShape?: number[];
    labelType: LabelType;
    classes: number;
    /** Rows stored last as the data set's own validation, then test set (an image archive's folders). */
    heldOut?: { validation: number; test: number };
    /** A text set: its rows are texts (texts.utf8), made token ids by the job's vocabulary. */
    text?: boolean;
  };
  /** Pause, checkpointed, at the end of this epoch (the job's pauseAtEpoch). */
  pauseAfterEpoch?: number;
  /** The checkpoints a transfer starts from (spec.init), in initSources' order, on a fresh start only. */
  initFrom?: { path: string; sha256: string }[];
  /** A progressive net's earlier columns' checkpoints, in column order, on a fresh start only. */
  columnsFrom?: { path: string; sha256: string }[];
}

/** Messages over the IPC channel between a worker and its training child process. */
export type HostToTrainer = ({ type: 'run' } & RunRequest) | { type: 'abort'; jobId: string; reason: string };

export type TrainerToHost =
  | { type: 'ready'; backend: SelectedBackend }
  | { type: 'startupFailed'; message: string }
  /** `at`: when training produced it (ms since the epoch), so delays can be measured from there. */
  | { type: 'event'; jobId: string; event: TrainingEvent; at: number }
  | { type: 'checkpoint'; jobId: string; checkpoint: CheckpointMeta; at: number }
  | { type: 'done'; jobId: string; result: TrainingResult }
  | { type: 'failed'; jobId: string; error: { name: string; message: string; abortReason?: string } };
