import { defaultWorkerMemoryLimitMb } from '../config/config.js';
import type { BackendChoice } from '../engine/backend.js';
import type { Logger } from '../logging/logger.js';
import { TrainerHost } from './trainer-host.js';

/** A fixed number of training processes; a crashed one is replaced on the next acquire. */
export class TrainerPool {
  private readonly idle: TrainerHost[] = [];
  private readonly all = new Set<TrainerHost>();

  constructor(
    private readonly size: number,
    private readonly backend: BackendChoice,
    /** TRAINING_THREADS for the training processes (their distributed jobs' "auto"). */
    private readonly trainingThreads: number | undefined,
    private readonly logger: Logger,
    /** WORKER_MEMORY_LIMIT_MB: each process's cap (src/worker/trainer-host.ts); by default the config's default for this many processes. */
    private readonly memoryLimitMb = defaultWorkerMemoryLimitMb(size),
    /** TRAINING_IN_MEMORY_BYTES: uploads above it are streamed by the processes; absent, theirs is the config's default. */
    private readonly inMemoryBytes?: number,
  ) {}

  /** Starts every process up front, so the first job does not pay for backend start-up. */
  async start(): Promise<TrainerHost> {
    const hosts = await Promise.all(Array.from({ length: this.size }, () => this.spawn()));
    this.idle.push(...hosts);
    return hosts[0]!;
  }

  async acquire(): Promise<TrainerHost> {
    while (this.idle.length > 0) {
      const host = this.idle.pop()!;
      if (host.alive) return host;
      this.all.delete(host);
    }
    // BullMQ's concurrency equals the pool size, so this only happens after a crash.
    return this.spawn();
  }

  release(host: TrainerHost): void {
    if (host.alive) this.idle.push(host);
    else this.all.delete(host);
  }

  async stop(): Promise<void> {
    await Promise.all([...this.all].map((host) => host.stop()));
    this.all.clear();
    this.idle.length = 0;
  }

  private async spawn(): Promise<TrainerHost> {
    const host = await TrainerHost.start(this.backend, this.logger, this.trainingThreads, this.memoryLimitMb, this.inMemoryBytes);
    this.all.add(host);
    return host;
  }
}
