import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import { benchModels } from './training-throughput.js';

const run = promisify(execFile);

export interface VersusRow {
  model: string;
  framework: string;
  threads: number;
  /** Samples/s of each round. */
  samplesPerSecond: number[];
  peakRssMb: number;
  /** CPU seconds per second while timed: how many cores the run kept busy. */
  coresBusy: number;
  /** Median samples/s and peak RSS over PyTorch's at the same thread count, when PyTorch ran. */
  speedRatio: number | null;
  rssRatio: number | null;
  runs: number;
  device: string;
}

/** Each framework at its own best thread count (by median samples/s) against PyTorch at its best. */
export interface BestRow {
  model: string;
  framework: string;
  threads: number;
  pytorchThreads: number;
  speedRatio: number;
  rssRatio: number;
}

/** Instructions per training sample under callgrind: the same on a busy machine as on a quiet one. */
export interface InstructionRow {
  model: string;
  framework: string;
  instructionsPerSample: number;
  ratio: number | null;
}

interface Measurement {
  samplesPerSecond: number;
  peakRssMb: number;
  coresBusy: number;
  device: string;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

/** Debian's python3-torch installs for the system Python, which may not be the first python3 on PATH. */
async function findTorchPython(): Promise<string | null> {
  for (const python of ['/usr/bin/python3', 'python3']) {
    if (python.startsWith('/') && !existsSync(python)) continue;
    if (await run(python, ['-c', 'import torch'], { timeout: 60_000 }).then(() => true, () => false)) return python;
  }
  return null;
}

/** The command of one measurement: each in a process of its own, so its peak RSS is its own. */
function commandOf(framework: string, python: string | null, model: number, budget: string, threads: number): { command: string; args: string[]; env: NodeJS.ProcessEnv } {
  const env = { ...process.env, BLAS_THREADS: String(threads) };
  if (framework !== 'pytorch') return { command: process.execPath, args: ['--import', 'tsx', 'bench/throughput-child.ts', framework, String(model), budget], env };
  // torch.set_num_threads bounds PyTorch's OpenMP pool, not the OpenBLAS it calls for matrix
  // products: Debian's build left alone runs those on every core (measured: 2.0 CPU-seconds per
  // second on "1 thread"). Both frameworks get the same cores, or the ratio measures the core count.
  return { command: python!, args: ['bench/pytorch_throughput.py', String(model), budget, String(threads)], env: { ...env, OPENBLAS_NUM_THREADS: String(threads), OMP_NUM_THREADS: String(threads) } };
}

/**
 * TF.js backends against PyTorch on the same models, at each thread count, interleaved over
 * `repeats` rounds: these VMs drift by ±20–30 %, and a ratio of medians taken side by side is what
 * can be compared. wasm is single-threaded here: its rows repeat at each thread count as a yardstick.
 */
export async function benchVersusPytorch(options: { repeats: number; budgetMs: number; backends: string[]; threads: number[] }): Promise<{ rows: VersusRow[]; best: BestRow[]; pytorch: string | null }> {
  const python = await findTorchPython();
  const frameworks = [...options.backends, ...(python ? ['pytorch'] : [])];
  const samples = new Map<string, Measurement[]>();
  for (let round = 0; round < options.repeats; round++) {
    for (const threads of options.threads) {
      for (let model = 0; model < benchModels.length; model++) {
        for (const framework of frameworks) {
          const { command, args, env } = commandOf(framework, python, model, String(options.budgetMs), threads);
          const result = await run(command, args, { env, timeout: 600_000, maxBuffer: 1 << 20 }).catch((error: Error) => error);
          if (result instanceof Error) continue;
          const line = result.stdout.trim().split('\n').at(-1)!;
          const key = `${model}:${framework}:${threads}`;
          samples.set(key, [...(samples.get(key) ?? []), JSON.parse(line) as Measurement]);
        }
      }
    }
  }
  const rows: VersusRow[] = [];
  for (let model = 0; model < benchModels.length; model++) {
    for (const threads of options.threads) {
      const reference = samples.get(`${model}:pytorch:${threads}`);
      const refSpeed = reference ? median(reference.map((m) => m.samplesPerSecond)) : null;
      const refRss = reference ? median(reference.map((m) => m.peakRssMb)) : null;
      for (const framework of frameworks) {
        const measured = samples.get(`${model}:${framework}:${threads}`);
        if (!measured) continue;
        const speeds = measured.map((m) => m.samplesPerSecond);
        const rss = median(measured.map((m) => m.peakRssMb));
        rows.push({
          model: benchModels[model]!.name,
          framework,
          threads,
          samplesPerSecond: speeds,
          peakRssMb: rss,
          coresBusy: median(measured.map((m) => m.coresBusy)),
          speedRatio: refSpeed ? median(speeds) / refSpeed : null,
          rssRatio: refRss ? rss / refRss : null,
          runs: measured.length,
          device: measured[0]!.device,
        });
      }
    }
  }
  return { rows, best: bestOf(rows), pytorch: python };
}

function bestOf(rows: VersusRow[]): BestRow[] {
  const fastest = (model: string, framework: string) =>
    rows.filter((r) => r.model === model && r.framework === framework).sort((a, b) => median(b.samplesPerSecond) - median(a.samplesPerSecond))[0];
  const best: BestRow[] = [];
  for (const model of new Set(rows.map((r) => r.model))) {
    const torch = fastest(model, 'pytorch');
    if (!torch) continue;
    for (const framework of new Set(rows.filter((r) => r.model === model && r.framework !== 'pytorch').map((r) => r.framework))) {
      const mine = fastest(model, framework)!;
      best.push({
        model,
        framework,
        threads: mine.threads,
        pytorchThreads: torch.threads,
        speedRatio: median(mine.samplesPerSecond) / median(torch.samplesPerSecond),
        rssRatio: mine.peakRssMb / torch.peakRssMb,
      });
    }
  }
  return best;
}

/** Instructions valgrind counted for one process of `framework` running `steps` timed steps, 1 thread. */
async function instructions(framework: string, python: string | null, model: number, steps: number): Promise<number> {
  const { command, args, env } = commandOf(framework, python, model, `steps:${steps}`, 1);
  const { stderr } = await run('valgrind', ['--tool=callgrind', '--callgrind-out-file=/dev/null', command, ...args], { env, timeout: 1_800_000, maxBuffer: 1 << 24 });
  const collected = /Collected : (\d+)/.exec(stderr);
  if (!collected) throw new Error(`callgrind printed no count for ${framework}: ${stderr.slice(-300)}`);
  return Number(collected[1]);
}

/**
 * Instructions per sample, 1 thread, by difference: a run of `steps` + 4 steps less a run of 4,
 * so start-up (Node, module loading, PyTorch's import) cancels out. Slow (valgrind runs ~50× slower
 * than the machine) but a count, not a time: the same whatever else the machine is doing.
 */
export async function benchInstructions(options: { backends: string[]; steps: number }): Promise<{ rows: InstructionRow[]; pytorch: string | null }> {
  const python = await findTorchPython();
  const frameworks = [...options.backends, ...(python ? ['pytorch'] : [])];
  const rows: InstructionRow[] = [];
  for (let model = 0; model < benchModels.length; model++) {
    const perSample = new Map<string, number>();
    for (const framework of frameworks) {
      const base = await instructions(framework, python, model, 4);
      const more = await instructions(framework, python, model, 4 + options.steps);
      perSample.set(framework, (more - base) / (options.steps * benchModels[model]!.batch));
    }
    const torch = perSample.get('pytorch') ?? null;
    for (const [framework, count] of perSample) rows.push({ model: benchModels[model]!.name, framework, instructionsPerSample: count, ratio: torch ? count / torch : null });
  }
  return { rows, pytorch: python };
}
