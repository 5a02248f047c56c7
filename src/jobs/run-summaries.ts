import type { PrismaClient } from '../db/prisma.js';

/** How a run went, in the numbers a runs table shows: its last epoch, its best epochs, its test scores. */
export interface RunSummary {
  /** The last finished epoch; null before the first. */
  lastEpoch: number | null;
  /** Every metric of the last finished epoch. */
  final: Record<string, number>;
  /** Each metric's best value over the epochs: the highest accuracy, the lowest of anything else (test scores are in `test`). */
  best: Record<string, number>;
  /** Scores on the held-out test rows (test_*), once the run succeeded. */
  test: Record<string, number>;
  /** Training time: the run's own measure once it succeeded, else the time since it started. */
  durationMs: number | null;
  /** Training speed in the last finished epoch. */
  samplesPerSecond: number | null;
}

/** The metrics of which a larger value is better (accuracies); losses, errors and the rest go down. */
export const HIGHER_IS_BETTER = /accuracy$/;
export const higherIsBetter = (metric: string): boolean => HIGHER_IS_BETTER.test(metric);

type LastEpochRow = { job_id: string; data: { epoch?: number; values?: Record<string, number>; samplesPerSecond?: number } };
type ExtremeRow = { job_id: string; metric: string; low: number; high: number };
type SucceededRow = { job_id: string; data: { durationMs?: number; finalMetrics?: Record<string, number> } };

/**
 * Summaries of many runs in three queries, whatever their number: the last epoch's metrics event,
 * every metric's lowest and highest epoch value, and the success event with the test scores.
 * Reads only what the worker already wrote.
 */
export class RunSummaries {
  constructor(private readonly prisma: PrismaClient) {}

  async of(jobs: { id: string; startedAt: string | null; finishedAt: string | null }[]): Promise<Map<string, RunSummary>> {
    const ids = jobs.map((job) => job.id);
    const summaries = new Map<string, RunSummary>(jobs.map((job) => [job.id, { lastEpoch: null, final: {}, best: {}, test: {}, durationMs: elapsed(job), samplesPerSecond: null }]));
    if (ids.length === 0) return summaries;
    const [lastEpochs, extremes, successes] = await Promise.all([
      this.prisma.$queryRaw<LastEpochRow[]>`
        SELECT DISTINCT ON (job_id) job_id::text AS job_id, data FROM job_events
        WHERE job_id = ANY(${ids}::uuid[]) AND type = 'metrics' AND data->>'scope' = 'epoch'
        ORDER BY job_id, seq DESC`,
      this.prisma.$queryRaw<ExtremeRow[]>`
        SELECT m.job_id::text AS job_id, kv.key AS metric, min((kv.value #>> '{}')::float8) AS low, max((kv.value #>> '{}')::float8) AS high
        FROM metrics m CROSS JOIN LATERAL jsonb_each(m.values::jsonb) kv
        WHERE m.job_id = ANY(${ids}::uuid[]) AND m.scope = 'epoch' AND jsonb_typeof(kv.value) = 'number' AND kv.key <> 'learning_rate' AND kv.key NOT LIKE 'test\_%'
        GROUP BY m.job_id, kv.key`,
      this.prisma.$queryRaw<SucceededRow[]>`
        SELECT DISTINCT ON (job_id) job_id::text AS job_id, data FROM job_events
        WHERE job_id = ANY(${ids}::uuid[]) AND type = 'status' AND data->>'status' = 'succeeded'
        ORDER BY job_id, seq DESC`,
    ]);
    for (const { job_id, data } of lastEpochs) {
      const summary = summaries.get(job_id)!;
      summary.lastEpoch = data.epoch ?? null;
      summary.final = data.values ?? {};
      summary.samplesPerSecond = data.samplesPerSecond ?? null;
    }
    for (const { job_id, metric, low, high } of extremes) summaries.get(job_id)!.best[metric] = higherIsBetter(metric) ? high : low;
    for (const { job_id, data } of successes) {
      const summary = summaries.get(job_id)!;
      summary.test = Object.fromEntries(Object.entries(data.finalMetrics ?? {}).filter(([name]) => name.startsWith('test_')));
      if (data.durationMs !== undefined) summary.durationMs = data.durationMs;
    }
    return summaries;
  }
}

function elapsed(job: { startedAt: string | null; finishedAt: string | null }): number | null {
  if (!job.startedAt) return null;
  return Math.max(0, (job.finishedAt ? Date.parse(job.finishedAt) : Date.now()) - Date.parse(job.startedAt));
}
