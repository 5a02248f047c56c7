import type { SelectedBackend } from '../engine/backend.js';
import type { TrainingEvent, TrainingResult } from '../engine/events.js';
import type { ResolvedJobSpec } from '../spec/job-spec.js';

/** Messages over the IPC channel between a worker and its training child process. */
export type HostToTrainer =
  | { type: 'run'; jobId: string; spec: ResolvedJobSpec }
  | { type: 'abort'; jobId: string; reason: string };

export type TrainerToHost =
  | { type: 'ready'; backend: SelectedBackend }
  | { type: 'startupFailed'; message: string }
  | { type: 'event'; jobId: string; event: TrainingEvent }
  | { type: 'done'; jobId: string; result: TrainingResult }
  | { type: 'failed'; jobId: string; error: { name: string; message: string } };
