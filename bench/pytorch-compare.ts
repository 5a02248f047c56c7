import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import { benchModels } from './training-throughput.js';

const run = promisify(execFile);

export interface VersusRow {
  model: string;
  framework: string;
  samplesPerSecond: number;
  peakRssMb: number;
  /** CPU seconds per second while timed: how many cores the run kept busy. */
  coresBusy: number;
  /** Samples/s and peak RSS over PyTorch's, when PyTorch ran. */
  speedRatio: number | null;
  rssRatio: number | null;
  runs: number;
  device: string;
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

/**
 * TF.js backends against PyTorch on the same models, each measurement a process of its own (so
 * peak RSS is per framework), interleaved over `repeats` rounds: these VMs drift by ±20–30 %, and
 * a ratio of medians taken side by side is what can be compared.
 */
export async function benchVersusPytorch(options: { repeats: number; budgetMs: number; backends: string[]; threads: number }): Promise<{ rows: VersusRow[]; pytorch: string | null }> {
  const python = await findTorchPython();
  const frameworks = [...options.backends, ...(python ? ['pytorch'] : [])];
  const samples = new Map<string, Measurement[]>();
  const env = { ...process.env, BLAS_THREADS: String(options.threads) };
  // torch.set_num_threads bounds PyTorch's OpenMP pool, not the OpenBLAS it calls for matrix
  // products: Debian's build left alone runs those on every core (measured: 2.0 CPU-seconds per
  // second on "1 thread"). Both frameworks get the same cores, or the ratio measures the core count.
  const torchEnv = { ...env, OPENBLAS_NUM_THREADS: String(options.threads), OMP_NUM_THREADS: String(options.threads) };
  for (let round = 0; round < options.repeats; round++) {
    for (let model = 0; model < benchModels.length; model++) {
      for (const framework of frameworks) {
        const [command, args]: [string, string[]] =
          framework === 'pytorch'
            ? [python!, ['bench/pytorch_throughput.py', String(model), String(options.budgetMs), String(options.threads)]]
            : [process.execPath, ['--import', 'tsx', 'bench/throughput-child.ts', framework, String(model), String(options.budgetMs)]];
        const result = await run(command, args, { env: framework === 'pytorch' ? torchEnv : env, timeout: 600_000, maxBuffer: 1 << 20 }).catch((error: Error) => error);
        if (result instanceof Error) continue;
        const line = result.stdout.trim().split('\n').at(-1)!;
        const key = `${model}:${framework}`;
        samples.set(key, [...(samples.get(key) ?? []), JSON.parse(line) as Measurement]);
      }
    }
  }
  const rows: VersusRow[] = [];
  for (let model = 0; model < benchModels.length; model++) {
    const reference = samples.get(`${model}:pytorch`);
    const refSpeed = reference ? median(reference.map((m) => m.samplesPerSecond)) : null;
    const refRss = reference ? median(reference.map((m) => m.peakRssMb)) : null;
    for (const framework of frameworks) {
      const measured = samples.get(`${model}:${framework}`);
      if (!measured) continue;
      const speed = median(measured.map((m) => m.samplesPerSecond));
      const rss = median(measured.map((m) => m.peakRssMb));
      rows.push({
        model: benchModels[model]!.name,
        framework,
        samplesPerSecond: speed,
        peakRssMb: rss,
        coresBusy: median(measured.map((m) => m.coresBusy)),
        speedRatio: refSpeed ? speed / refSpeed : null,
        rssRatio: refRss ? rss / refRss : null,
        runs: measured.length,
        device: measured[0]!.device,
      });
    }
  }
  return { rows, pytorch: python };
}
