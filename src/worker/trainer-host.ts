import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { defaultWorkerMemoryLimitMb } from '../config/config.js';
import type { BackendChoice } from '../engine/backend.js';
import type { SelectedBackend } from '../engine/backend.js';
import type { TrainingEvent, TrainingResult } from '../engine/events.js';
import type { Logger } from '../logging/logger.js';
import type { CheckpointMeta } from '../jobs/job-lifecycle.js';
import { MemoryWatchdog } from './memory-watchdog.js';
import type { HostToTrainer, RunRequest, TrainerToHost } from './trainer-protocol.js';

const trainerEntry = fileURLToPath(new URL('../../workers/trainer-process.ts', import.meta.url));
const tsxLoader = import.meta.resolve('tsx');
const STARTUP_TIMEOUT_MS = 60_000;
// After an abort, how long the child may take to reach its next batch boundary before it is killed.
export const ABORT_GRACE_MS = 10_000;

/** The training process died under a job (killed, out of memory, native crash). */
export class TrainerCrashedError extends Error {
  override name = 'TrainerCrashedError';
}

const MIB = 2 ** 20;
// V8's last words when its heap hits --max-old-space-size.
const HEAP_EXHAUSTED = /Reached heap limit|JavaScript heap out of memory/;

/**
 * The training process went over its memory cap (WORKER_MEMORY_LIMIT_MB) and was killed: the job
 * asked for more than a training process may use, so running it again would end the same way.
 */
export class TrainerMemoryExceededError extends TrainerCrashedError {
  override name = 'TrainerMemoryExceededError';
  constructor(
    readonly limitBytes: number,
    readonly peakBytes: number,
    heapExhausted: boolean,
  ) {
    super(
      `the training process exceeded the memory limit of ${Math.round(limitBytes / MIB)} MiB ` +
        `(${heapExhausted ? 'its JavaScript heap reached it; ' : ''}peak ${Math.round(peakBytes / MIB)} MiB) and was stopped; ` +
        'try a smaller batchSize, model or data set (sparseCategoricalCrossentropy for many classes), or raise WORKER_MEMORY_LIMIT_MB',
    );
  }
}

/** What keeps a training process within its memory: V8's heap limit and a watchdog on its RSS. */
class MemoryCap {
  exceeded = false;
  private stderrTail = '';

  constructor(
    readonly watchdog: MemoryWatchdog,
    child: ChildProcess,
  ) {
    child.once('exit', () => watchdog.stop());
    // The child's stderr is passed through; its tail tells a heap exhaustion from another crash.
    child.stderr?.on('data', (chunk: Buffer) => {
      process.stderr.write(chunk);
      this.stderrTail = (this.stderrTail + chunk.toString('utf8')).slice(-4096);
    });
  }

  /** The process's end as a memory error, when memory is what ended it. */
  errorOnExit(): TrainerMemoryExceededError | null {
    this.watchdog.stop();
    const heapExhausted = HEAP_EXHAUSTED.test(this.stderrTail);
    if (!this.exceeded && !heapExhausted) return null;
    return new TrainerMemoryExceededError(this.watchdog.limitBytes, this.watchdog.peakBytes, heapExhausted);
  }
}

/** A training error reported by the child, with the child's error name (and abort reason) kept for classification. */
export class TrainerJobError extends Error {
  constructor(
    readonly errorName: string,
    message: string,
    readonly abortReason?: string,
  ) {
    super(message);
    this.name = errorName;
  }
}

/** `at`: when the training process produced it (ms since the epoch). */
export interface RunHandlers {
  onEvent(event: TrainingEvent, at: number): void;
  onCheckpoint(checkpoint: CheckpointMeta, at: number): void;
}

interface Running extends RunHandlers {
  jobId: string;
  resolve: (result: TrainingResult) => void;
  reject: (error: Error) => void;
}

/**
 * Owns one long-lived training child process. It stays up between jobs so the backend and the
 * cached data sets are initialised once, not per job.
 */
export class TrainerHost {
  private running: Running | null = null;
  private exited = false;

  private constructor(
    private readonly child: ChildProcess,
    readonly backend: SelectedBackend,
    private readonly logger: Logger,
    memory: MemoryCap,
  ) {
    child.on('message', (message: TrainerToHost) => this.onMessage(message));
    // 'close', not 'exit': the child's last stderr lines (a heap exhaustion) are read by then.
    child.on('close', (code, signal) => {
      this.exited = true;
      const running = this.running;
      this.running = null;
      const overMemory = memory.errorOnExit();
      if (overMemory && !running) logger.warn({ pid: child.pid, reason: overMemory.message }, 'an idle training process went over its memory limit; it is replaced');
      running?.reject(
        overMemory ??
          new TrainerCrashedError(
            `the training process exited unexpectedly (${signal ? `signal ${signal}` : `exit code ${code}`}); ` +
              'if it ran out of memory, try a smaller batchSize or model',
          ),
      );
    });
  }

  /**
   * `memoryLimitMb` (WORKER_MEMORY_LIMIT_MB) caps the process: V8's heap at that size, and its RSS,
   * which also holds TF.js's native and wasm memory, read every 200 ms: over it, the process is killed.
   */
  static start(backend: BackendChoice, logger: Logger, trainingThreads?: number, memoryLimitMb = defaultWorkerMemoryLimitMb(), inMemoryBytes?: number): Promise<TrainerHost> {
    const child = fork(trainerEntry, [], {
      execArgv: ['--import', tsxLoader, `--max-old-space-size=${memoryLimitMb}`],
      env: {
        ...process.env,
        TRAINYARD_BACKEND: backend.preference,
        WEBGPU_BACKEND: backend.options.webgpu.backend,
        ...(backend.options.webgpu.adapter ? { WEBGPU_ADAPTER: backend.options.webgpu.adapter } : {}),
        BLAS_THREADS: String(backend.options.blasThreads),
        ...(trainingThreads ? { TRAINING_THREADS: String(trainingThreads) } : {}),
        ...(inMemoryBytes !== undefined ? { TRAINING_IN_MEMORY_BYTES: String(inMemoryBytes) } : {}),
      },
      serialization: 'advanced',
      stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
    });
    const memory = new MemoryCap(
      new MemoryWatchdog(child.pid ?? -1, {
        limitBytes: memoryLimitMb * MIB,
        onExceeded: () => {
          memory.exceeded = true;
          child.kill('SIGKILL');
        },
      }).start(),
      child,
    );
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`the training process did not start within ${STARTUP_TIMEOUT_MS / 1000} s`));
      }, STARTUP_TIMEOUT_MS);
      const onExit = (code: number | null) => {
        clearTimeout(timer);
        reject(memory.errorOnExit() ?? new Error(`the training process exited during start-up (code ${code})`));
      };
      child.once('close', onExit);
      child.once('message', (message: TrainerToHost) => {
        clearTimeout(timer);
        child.off('close', onExit);
        if (message.type === 'ready') {
          logger.info({ backend: message.backend.name, device: message.backend.device, skipped: message.backend.skipped, pid: child.pid }, 'training backend selected');
          resolve(new TrainerHost(child, message.backend, logger, memory));
        } else {
          child.kill('SIGKILL');
          reject(new Error(message.type === 'startupFailed' ? message.message : `unexpected first message ${message.type}`));
        }
      });
    });
  }

  get alive(): boolean {
    return !this.exited;
  }

  get busy(): boolean {
    return this.running !== null;
  }

  run(request: RunRequest, handlers: RunHandlers, signal: AbortSignal): Promise<TrainingResult> {
    const { jobId } = request;
    if (this.running) return Promise.reject(new Error(`trainer is busy with job ${this.running.jobId}`));
    if (this.exited) return Promise.reject(new TrainerCrashedError('the training process is not running'));
    let killer: NodeJS.Timeout | undefined;
    let onAbort: (() => void) | undefined;
    const settled = () => {
      // The grace timer belongs to this run only: a resumed run of the same job on this process
      // must not be killed by the timer of the paused one (it was, 10 s after a pause).
      clearTimeout(killer);
      if (onAbort) signal.removeEventListener('abort', onAbort);
    };
    return new Promise<TrainingResult>((resolve, reject) => {
      const running: Running = {
        jobId,
        ...handlers,
        resolve: (result) => {
          settled();
          resolve(result);
        },
        reject: (error) => {
          settled();
          reject(error);
        },
      };
      this.running = running;
      onAbort = () => {
        this.send({ type: 'abort', jobId, reason: String(signal.reason ?? 'aborted') });
        killer = setTimeout(() => {
          if (this.running === running) {
            this.logger.warn({ jobId }, 'training did not stop after abort; killing its process');
            this.child.kill('SIGKILL');
          }
        }, ABORT_GRACE_MS);
        killer.unref();
      };
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
      this.send({ type: 'run', ...request });
    });
  }

  async stop(): Promise<void> {
    if (this.exited) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.disconnect();
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  }

  private send(message: HostToTrainer): void {
    if (!this.exited && this.child.connected) this.child.send(message);
  }

  private onMessage(message: TrainerToHost): void {
    const running = this.running;
    if (!running) return;
    switch (message.type) {
      case 'event':
        if (message.jobId === running.jobId) running.onEvent(message.event, message.at);
        return;
      case 'checkpoint':
        if (message.jobId === running.jobId) running.onCheckpoint(message.checkpoint, message.at);
        return;
      case 'done':
        this.running = null;
        running.resolve(message.result);
        return;
      case 'failed':
        this.running = null;
        running.reject(new TrainerJobError(message.error.name, message.error.message, message.error.abortReason));
        return;
      default:
        return;
    }
  }
}
