import { Worker } from 'node:worker_threads';
import type { ThreadInit, ThreadMessage, ThreadResult, ThreadTask } from './thread-protocol.js';

interface Thread {
  worker: Worker;
  alive: boolean;
  pending: Map<number, { resolve: (result: ThreadResult) => void; reject: (error: Error) => void }>;
}

export class ThreadFailedError extends Error {
  override name = 'ThreadFailedError';
  constructor(
    readonly thread: number,
    message: string,
  ) {
    super(`training thread ${thread} failed: ${message}`);
  }
}

const entry = new URL('./gradient-thread-entry.mjs', import.meta.url);

/**
 * The training threads of one job. A thread that throws or exits is marked dead, its tasks fail
 * with ThreadFailedError and `onFailure` hears of it once; the strategy decides whether the run
 * can go on without it.
 */
export class TrainingThreads {
  private readonly threads: Thread[] = [];
  private nextId = 1;
  onFailure: (thread: number, message: string) => void = () => undefined;

  private constructor() {}

  static async start(count: number, init: Omit<ThreadInit, 'index'>): Promise<TrainingThreads> {
    const pool = new TrainingThreads();
    try {
      await Promise.all(Array.from({ length: count }, (_, index) => pool.spawn(index, { ...init, index })));
    } catch (error) {
      await pool.close();
      throw error;
    }
    return pool;
  }

  get size(): number {
    return this.threads.length;
  }

  /** Indices of the threads still running. */
  get alive(): number[] {
    return this.threads.flatMap((thread, index) => (thread.alive ? [index] : []));
  }

  run(index: number, task: Exclude<ThreadTask, { type: 'crash' }>): Promise<ThreadResult> {
    const thread = this.threads[index]!;
    if (!thread.alive) return Promise.reject(new ThreadFailedError(index, 'it is no longer running'));
    return new Promise((resolve, reject) => {
      thread.pending.set(task.id, { resolve, reject });
      // The rows are copied: the caller's array is a view into its epoch order.
      thread.worker.postMessage({ ...task, rows: task.rows.slice() });
    });
  }

  newTaskId(): number {
    return this.nextId++;
  }

  /** Tests: make a thread fail as an uncaught error would. */
  crash(index: number): void {
    this.threads[index]?.worker.postMessage({ type: 'crash' } satisfies ThreadTask);
  }

  async close(): Promise<void> {
    await Promise.all(
      this.threads.map(async (thread) => {
        thread.alive = false;
        await thread.worker.terminate();
      }),
    );
  }

  private spawn(index: number, init: ThreadInit): Promise<void> {
    return new Promise((ready, failed) => {
      const worker = new Worker(entry, { workerData: init });
      const thread: Thread = { worker, alive: true, pending: new Map() };
      this.threads[index] = thread;
      let started = false;
      const fail = (message: string) => {
        if (!thread.alive) return;
        thread.alive = false;
        const error = new ThreadFailedError(index, message);
        for (const { reject } of thread.pending.values()) reject(error);
        thread.pending.clear();
        void worker.terminate();
        if (started) this.onFailure(index, message);
        else failed(error);
      };
      worker.on('message', (message: ThreadMessage) => {
        if (message.type === 'ready') {
          started = true;
          ready();
        } else if (message.type === 'error') {
          fail(message.message);
        } else {
          const pending = thread.pending.get(message.id);
          thread.pending.delete(message.id);
          pending?.resolve(message);
        }
      });
      worker.on('error', (error) => fail(error.message));
      worker.on('exit', (code) => fail(`it exited with code ${code}`));
    });
  }
}
