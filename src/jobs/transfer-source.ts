import { readCheckpointWeightShapes } from '../checkpoints/checkpoint-files.js';
import { isUuid } from '../db/ids.js';
import { ConflictError, NotFoundError } from '../errors/errors.js';
import type { SourceCheckpoint } from '../spec/transfer-plan.js';
import type { JobStore } from './job-store.js';

/**
 * The checkpoint an `init.from` source (or a progressive column) names, with the shapes of its weights: a missing job or checkpoint is a
 * 404, a job without checkpoints yet a 409, so nothing is queued that could not start.
 */
export async function findSourceCheckpoint(
  store: JobStore,
  artifactDir: string,
  projectId: string,
  from: { job: string; checkpoint: string },
  /** Where the reference sits in the spec, for the error. */
  field = 'init.from',
): Promise<SourceCheckpoint & { path: string; sha256: string }> {
  const found = isUuid(from.job) ? await store.get(from.job) : null;
  // Another project's job is as unknown as a missing one.
  const job = found?.projectId === projectId ? found : null;
  if (!job) throw new NotFoundError(`source job (${field}.job)`, from.job);
  let checkpoint;
  if (from.checkpoint === 'last') {
    checkpoint = await store.latestCheckpoint(job.id);
  } else if (from.checkpoint === 'best') {
    const all = await store.listCheckpoints(job.id);
    checkpoint = all.filter((c) => c.isBest).at(-1) ?? all.at(-1) ?? null;
  } else {
    checkpoint = await store.getCheckpoint(job.id, from.checkpoint);
    if (!checkpoint) throw new NotFoundError(`checkpoint (${field}.checkpoint) of job ${job.id}`, from.checkpoint);
  }
  if (!checkpoint) {
    throw new ConflictError(`source job ${job.id} has no checkpoints yet (it is ${job.status}): start from it once it has finished an epoch`, { currentStatus: job.status });
  }
  let weights: Record<string, number[]>;
  try {
    weights = readCheckpointWeightShapes(artifactDir, checkpoint.path);
  } catch {
    throw new ConflictError(`checkpoint ${checkpoint.id} of job ${job.id} is no longer on disk (pruned or removed): pick another`);
  }
  return { job: job.id, checkpoint: checkpoint.id, weights, path: checkpoint.path, sha256: checkpoint.sha256 };
}
