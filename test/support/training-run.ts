import type { SelectedBackend } from '../../src/engine/backend.js';
import { namedWeights, type CheckpointData } from '../../src/engine/checkpoint-data.js';
import type { TrainingEvent, TrainingResult } from '../../src/engine/events.js';
import { runTraining, type TrainingOptions } from '../../src/engine/trainer.js';
import { jobSpecSchema, resolveJobSpec, type JobSpecInput, type ResolvedJobSpec } from '../../src/spec/job-spec.js';

export interface CollectedRun {
  events: TrainingEvent[];
  checkpoints: CheckpointData[];
  result?: TrainingResult;
  error?: unknown;
}

export const resolveSpec = (input: JobSpecInput): ResolvedJobSpec => resolveJobSpec(jobSpecSchema.parse(input));

/** Runs the engine on a spec, keeping every event and checkpoint; `stopAt` pauses the run at an event. */
export async function collectRun(
  spec: ResolvedJobSpec,
  backend: SelectedBackend,
  options: {
    stopAt?: (event: TrainingEvent) => boolean;
    resumeFrom?: CheckpointData;
    /** spec.init's sources' checkpoints, in initSources' order. */
    initFrom?: CheckpointData | CheckpointData[];
    columns?: CheckpointData[];
    faults?: TrainingOptions['faults'];
    /** The rows of a spec on an upload. */
    uploaded?: TrainingOptions['uploaded'];
  } = {},
): Promise<CollectedRun> {
  const controller = new AbortController();
  const run: CollectedRun = { events: [], checkpoints: [] };
  try {
    run.result = await runTraining(
      spec,
      {
        emit: (event) => {
          run.events.push(event);
          if (options.stopAt?.(event)) controller.abort('pause');
        },
        checkpoint: (data) => run.checkpoints.push(data),
      },
      {
        backend,
        signal: controller.signal,
        resumeFrom: options.resumeFrom,
        ...(options.initFrom ? { initialWeights: [options.initFrom].flat().map(namedWeights) } : {}),
        ...(options.columns ? { columnWeights: options.columns.map(namedWeights) } : {}),
        ...(options.faults ? { faults: options.faults } : {}),
        ...(options.uploaded ? { uploaded: options.uploaded } : {}),
      },
    );
  } catch (error) {
    run.error = error;
  }
  return run;
}

export const epochMetrics = (run: CollectedRun) =>
  run.events.flatMap((event) => (event.type === 'epochMetrics' ? [event.values] : []));

/** Every weight of a saved model by name (`<layer>/<weight>`), from its specs and one float32 buffer. */
export function weightsByName(model: { weightSpecs: { name: string; shape: number[] }[]; weightData: ArrayBuffer }): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  let offset = 0;
  for (const spec of model.weightSpecs) {
    const size = spec.shape.reduce((a, b) => a * b, 1);
    out[spec.name] = Array.from(new Float32Array(model.weightData, offset * 4, size));
    offset += size;
  }
  return out;
}
