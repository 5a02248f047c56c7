import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * A process's resident memory in bytes, or null once it is gone. Linux's /proc, else `ps` (macOS,
 * the BSDs). RSS counts what V8's heap limit cannot: TF.js tensors in native or wasm memory,
 * typed arrays, and every worker thread of the process.
 */
export async function residentBytes(pid: number): Promise<number | null> {
  if (process.platform === 'linux') {
    try {
      const status = await readFile(`/proc/${pid}/status`, 'utf8');
      const kib = /^VmRSS:\s+(\d+)\s+kB/m.exec(status)?.[1];
      return kib === undefined ? null : Number(kib) * 1024;
    } catch {
      return null;
    }
  }
  try {
    const { stdout } = await run('ps', ['-o', 'rss=', '-p', String(pid)]);
    const kib = Number.parseInt(stdout.trim(), 10);
    return Number.isFinite(kib) ? kib * 1024 : null;
  } catch {
    return null;
  }
}

export interface MemoryWatchdogOptions {
  limitBytes: number;
  /** How often the RSS is read. A job grows by at most what it allocates in this time past the limit. */
  intervalMs?: number;
  /** Called once, with the RSS that crossed the limit; the watchdog stops itself first. */
  onExceeded(peakBytes: number): void;
  /** Tests: read the memory some other way. */
  read?: (pid: number) => Promise<number | null>;
}

/**
 * Watches one process's resident memory and reports the first reading above the limit (its owner
 * kills the process). It also keeps the peak seen, for a failure reason that says how far over it went.
 */
export class MemoryWatchdog {
  private timer: NodeJS.Timeout | null = null;
  private reading = false;
  private peak = 0;

  constructor(
    private readonly pid: number,
    private readonly options: MemoryWatchdogOptions,
  ) {}

  get limitBytes(): number {
    return this.options.limitBytes;
  }

  /** The highest RSS read so far. */
  get peakBytes(): number {
    return this.peak;
  }

  start(): this {
    if (this.timer) return this;
    this.timer = setInterval(() => void this.check(), this.options.intervalMs ?? 200);
    // Never what keeps a worker alive.
    this.timer.unref();
    void this.check();
    return this;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private async check(): Promise<void> {
    // A slow read (a loaded machine) must not pile up reads behind it.
    if (this.reading || !this.timer) return;
    this.reading = true;
    try {
      const bytes = await (this.options.read ?? residentBytes)(this.pid);
      if (bytes === null || !this.timer) return;
      this.peak = Math.max(this.peak, bytes);
      if (bytes > this.options.limitBytes) {
        this.stop();
        this.options.onExceeded(bytes);
      }
    } finally {
      this.reading = false;
    }
  }
}
