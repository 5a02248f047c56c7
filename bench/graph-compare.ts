import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import os from 'node:os';
import { promisify } from 'node:util';
import { graphModels } from './graph-models.js';

const run = promisify(execFile);

/** One model × framework × thread count over the rounds. */
export interface GraphRow {
  model: string;
  framework: string;
  threads: number;
  /** Samples/s of each round that ran (NaN where a run failed). */
  samplesPerSecond: number[];
  peakRssMb: number;
  coresBusy: number;
  /** Median samples/s over PyTorch's median at the same thread count. */
  speedRatio: number | null;
  /** This framework's samples/s over PyTorch's in the same round, same threads: min / median / max. */
  roundRatios: number[];
  runs: number;
  failures: string[];
}

/** Each TF.js backend at its best thread count (by median) against PyTorch at its own best. */
export interface GraphBestRow {
  model: string;
  framework: string;
  threads: number;
  pytorchThreads: number;
  samplesPerSecond: number;
  pytorchSamplesPerSecond: number;
  speedRatio: number;
}

interface Measurement {
  samplesPerSecond: number;
  peakRssMb: number;
  coresBusy: number;
  device: string;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

async function findTorchPython(): Promise<string | null> {
  for (const python of ['/usr/bin/python3', 'python3']) {
    if (python.startsWith('/') && !existsSync(python)) continue;
    if (await run(python, ['-c', 'import torch'], { timeout: 60_000 }).then(() => true, () => false)) return python;
  }
  return null;
}

function commandOf(framework: string, python: string | null, model: number, budget: string, threads: number): { command: string; args: string[]; env: NodeJS.ProcessEnv } {
  const env = { ...process.env, BLAS_THREADS: String(threads) };
  if (framework !== 'pytorch') return { command: process.execPath, args: ['--import', 'tsx', 'bench/graph-child.ts', framework, String(model), budget], env };
  // As bench/pytorch-compare.ts: torch.set_num_threads bounds the OpenMP pool, not Debian's OpenBLAS; both get the same cores.
  return { command: python!, args: ['bench/graph_throughput.py', String(model), budget, String(threads)], env: { ...env, OPENBLAS_NUM_THREADS: String(threads), OMP_NUM_THREADS: String(threads) } };
}

/**
 * The graph models on each TF.js backend and on PyTorch at each thread count, interleaved over
 * `repeats` rounds (round → threads → model → framework), each run a process of its own.
 */
export async function benchGraphsVersusPytorch(options: {
  repeats: number;
  budgetMs: number;
  backends: string[];
  threads: number[];
  models?: number[];
  onRun?: (line: string) => void;
}): Promise<{ rows: GraphRow[]; best: GraphBestRow[]; pytorch: string | null; loadAverages: number[]; devices: Map<string, string> }> {
  const python = await findTorchPython();
  const frameworks = [...options.backends, ...(python ? ['pytorch'] : [])];
  const models = options.models ?? graphModels.map((_, i) => i);
  const samples = new Map<string, (Measurement | null)[]>();
  const failures = new Map<string, string[]>();
  const devices = new Map<string, string>();
  const loadAverages: number[] = [];
  for (let round = 0; round < options.repeats; round++) {
    loadAverages.push(os.loadavg()[0]!);
    for (const threads of options.threads) {
      for (const model of models) {
        for (const framework of frameworks) {
          const key = `${model}:${framework}:${threads}`;
          const { command, args, env } = commandOf(framework, python, model, String(options.budgetMs), threads);
          const result = await run(command, args, { env, timeout: 600_000, maxBuffer: 1 << 20 }).catch((error: Error) => error);
          let measured: Measurement | null = null;
          if (result instanceof Error) failures.set(key, [...(failures.get(key) ?? []), result.message.split('\n').slice(-3).join(' ').slice(0, 200)]);
          else {
            measured = JSON.parse(result.stdout.trim().split('\n').at(-1)!) as Measurement;
            if (!devices.has(framework)) devices.set(framework, measured.device);
          }
          samples.set(key, [...(samples.get(key) ?? []), measured]);
          options.onRun?.(`round ${round + 1}/${options.repeats}, ${threads} thread(s), ${graphModels[model]!.name}, ${framework}: ${measured ? measured.samplesPerSecond.toFixed(1) : 'failed'} samples/s`);
        }
      }
    }
  }
  loadAverages.push(os.loadavg()[0]!);
  const rows: GraphRow[] = [];
  for (const model of models) {
    for (const threads of options.threads) {
      const reference = samples.get(`${model}:pytorch:${threads}`);
      const refOk = reference?.filter((m): m is Measurement => m !== null) ?? [];
      const refSpeed = refOk.length > 0 ? median(refOk.map((m) => m.samplesPerSecond)) : null;
      for (const framework of frameworks) {
        const key = `${model}:${framework}:${threads}`;
        const all = samples.get(key) ?? [];
        const measured = all.filter((m): m is Measurement => m !== null);
        if (measured.length === 0) {
          rows.push({ model: graphModels[model]!.name, framework, threads, samplesPerSecond: [], peakRssMb: NaN, coresBusy: NaN, speedRatio: null, roundRatios: [], runs: 0, failures: failures.get(key) ?? [] });
          continue;
        }
        const speeds = measured.map((m) => m.samplesPerSecond);
        const roundRatios = reference ? all.flatMap((m, i) => (m && reference[i] ? [m.samplesPerSecond / reference[i]!.samplesPerSecond] : [])) : [];
        rows.push({
          model: graphModels[model]!.name,
          framework,
          threads,
          samplesPerSecond: speeds,
          peakRssMb: median(measured.map((m) => m.peakRssMb)),
          coresBusy: median(measured.map((m) => m.coresBusy)),
          speedRatio: refSpeed ? median(speeds) / refSpeed : null,
          roundRatios,
          runs: measured.length,
          failures: failures.get(key) ?? [],
        });
      }
    }
  }
  return { rows, best: bestOf(rows), pytorch: python, loadAverages, devices };
}

function bestOf(rows: GraphRow[]): GraphBestRow[] {
  const fastest = (model: string, framework: string) =>
    rows.filter((r) => r.model === model && r.framework === framework && r.runs > 0).sort((a, b) => median(b.samplesPerSecond) - median(a.samplesPerSecond))[0];
  const best: GraphBestRow[] = [];
  for (const model of new Set(rows.map((r) => r.model))) {
    const torch = fastest(model, 'pytorch');
    if (!torch) continue;
    for (const framework of new Set(rows.filter((r) => r.model === model && r.framework !== 'pytorch').map((r) => r.framework))) {
      const mine = fastest(model, framework);
      if (!mine) continue;
      const speed = median(mine.samplesPerSecond);
      const torchSpeed = median(torch.samplesPerSecond);
      best.push({ model, framework, threads: mine.threads, pytorchThreads: torch.threads, samplesPerSecond: speed, pytorchSamplesPerSecond: torchSpeed, speedRatio: speed / torchSpeed });
    }
  }
  return best;
}
