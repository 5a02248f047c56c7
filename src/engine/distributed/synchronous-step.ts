import { ThreadsLostError } from '../events.js';
import type { ThreadResult } from './thread-protocol.js';
import type { TrainingThreads } from './training-threads.js';
import type { WorkerStats } from './worker-stats.js';

export interface AveragedGradient {
  /** Σ rowsᵢ gᵢ / Σ rowsᵢ over the gradients used: the gradient of the mean loss over their rows. */
  gradient: Float32Array;
  loss: number;
  correct: number;
  entropy: number;
  headLosses: number[];
  rows: number;
}

/**
 * Synchronous SGD with backup workers (Chen et al. 2016): the step's rows go in disjoint shards to
 * every live thread (workers + backupWorkers of them), the first `workers` gradients to arrive are
 * averaged, the rest are dropped. With no backups this is exactly one step on all the rows.
 */
export function synchronousStep(
  threads: TrainingThreads,
  stats: WorkerStats,
  rows: Int32Array,
  options: { workers: number; backupWorkers: number; step: number; headWeights: number[]; delayMs?: (thread: number) => number },
): Promise<AveragedGradient> {
  const alive = threads.alive.slice(0, options.workers + options.backupWorkers);
  const need = options.workers;
  if (alive.length < need) {
    return Promise.reject(new ThreadsLostError(`only ${threads.alive.length} training threads are left and a sync step needs ${need} gradients: resume the job to start again from its checkpoint`));
  }
  const shards = alive.map((_, i) => rows.subarray(Math.floor((i * rows.length) / alive.length), Math.floor(((i + 1) * rows.length) / alive.length)));
  return new Promise((resolve, reject) => {
    const arrived: [number, ThreadResult][] = [];
    let failed = 0;
    let settled = false;
    alive.forEach((thread, i) => {
      threads
        .run(thread, { type: 'gradient', id: threads.newTaskId(), step: options.step, rows: shards[i]!, headWeights: options.headWeights, delayMs: options.delayMs?.(thread) ?? 0 })
        .then(
          (result) => {
            if (settled) return;
            arrived.push([thread, result]);
            if (arrived.length === need) {
              settled = true;
              for (const [index, used] of arrived) stats.used(index, used, undefined, options.step);
              // The step goes on without the stragglers: their gradients are dropped whenever they arrive.
              for (const other of alive) if (!arrived.some(([index]) => index === other)) stats.dropped(other);
              resolve(average(arrived.map(([, used]) => used)));
            }
          },
          (error: unknown) => {
            failed += 1;
            if (!settled && alive.length - failed < need) {
              settled = true;
              const why = error instanceof Error ? error.message : String(error);
              reject(new ThreadsLostError(`${why}; only ${threads.alive.length} training threads are left and a sync step needs ${need} gradients: resume from the last checkpoint`));
            }
          },
        );
    });
  });
}

function average(results: ThreadResult[]): AveragedGradient {
  const rows = results.reduce((sum, r) => sum + r.rows, 0);
  const gradient = new Float32Array(results[0]!.gradient!.length);
  for (const result of results) {
    const weight = result.rows / rows;
    const g = result.gradient!;
    for (let i = 0; i < gradient.length; i++) gradient[i]! += weight * g[i]!;
  }
  const weighted = (pick: (r: ThreadResult) => number) => results.reduce((sum, r) => sum + (pick(r) * r.rows) / rows, 0);
  return {
    gradient,
    loss: weighted((r) => r.loss),
    correct: results.reduce((sum, r) => sum + r.correct, 0),
    entropy: weighted((r) => r.entropy),
    headLosses: results[0]!.headLosses.map((_, k) => weighted((r) => r.headLosses[k]!)),
    rows,
  };
}
