import type { ThreadResult } from './thread-protocol.js';

export interface ThreadStats {
  thread: number;
  /** Gradients this thread computed that were used (applied, or averaged into a step). */
  steps: number;
  /** The run's step at which this thread's first gradient of the epoch was used (null: none). */
  firstStep: number | null;
  rows: number;
  samplesPerSecond: number;
  /** sync: stragglers left out of a step; async: gradients too stale to apply. */
  dropped: number;
  rejected: number;
  /** async: how many updates behind each applied gradient was, as { staleness: count }; rejected ones are not in it. */
  staleness: Record<string, number>;
}

/** Per-thread counts over an epoch, reported with the epoch's metrics and then reset. */
export class WorkerStats {
  private stats: ThreadStats[];
  private computeMs: number[];

  constructor(private readonly threads: number) {
    this.stats = [];
    this.computeMs = [];
    this.reset();
  }

  used(thread: number, result: ThreadResult, staleness?: number, step?: number): void {
    const stats = this.stats[thread]!;
    stats.steps += 1;
    if (stats.firstStep === null && step !== undefined) stats.firstStep = step;
    stats.rows += result.rows;
    this.computeMs[thread]! += result.computeMs;
    if (staleness !== undefined) stats.staleness[staleness] = (stats.staleness[staleness] ?? 0) + 1;
  }

  dropped(thread: number): void {
    this.stats[thread]!.dropped += 1;
  }

  /** A gradient (or one shard of it) too stale to apply: counted, and left out of the staleness histogram of applied ones. */
  rejected(thread: number): void {
    this.stats[thread]!.rejected += 1;
  }

  /** The epoch's numbers, then a fresh start. samples/s counts the thread's own compute time. */
  take(): ThreadStats[] {
    const out = this.stats.map((stats, i) => ({ ...stats, samplesPerSecond: this.computeMs[i]! > 0 ? (stats.rows / this.computeMs[i]!) * 1000 : 0 }));
    this.reset();
    return out;
  }

  private reset(): void {
    this.stats = Array.from({ length: this.threads }, (_, thread) => ({ thread, steps: 0, firstStep: null, rows: 0, samplesPerSecond: 0, dropped: 0, rejected: 0, staleness: {} }));
    this.computeMs = new Array<number>(this.threads).fill(0);
  }
}
