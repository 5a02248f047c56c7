// The GPU kit's bench (bench/gpu/build-kit.sh bundles this file into the kit's bench.mjs):
// samples/s of the bench models (bench/training-throughput.ts) on every TF.js backend the machine
// can start, then PyTorch on CUDA and on the CPU on the same models, as one table.
//   node bench.mjs [--budget-ms 3000] [--threads 1] [--backends webgpu-vulkan,webgpu-opengl,tensorflow,native,wasm,cpu,pytorch-cuda,pytorch-cpu]
//                  [--models 0,1,2] [--timeout-s 180] [--python python3] [--out file]
// Each measurement runs in a process of its own (this file again, with --child): a backend that
// crashes or hangs (Dawn on a driver it does not know) costs its row, not the table.
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../../src/engine/backend.js';
import type { WebgpuOptions } from '../../src/engine/backends/webgpu.js';
import { benchModels, measure } from '../training-throughput.js';

const run = promisify(execFile);

/** A TF.js backend the kit measures (webgpu once per Dawn backend), or PyTorch on one device. */
const kitBackends = ['webgpu-vulkan', 'webgpu-opengl', 'tensorflow', 'native', 'wasm', 'cpu', 'pytorch-cuda', 'pytorch-cpu'] as const;
type KitBackend = (typeof kitBackends)[number];
// The pure-JS cpu backend takes minutes a CNN step: named with --backends only.
const defaultBackends: KitBackend[] = kitBackends.filter((name) => name !== 'cpu');

interface Measurement {
  samplesPerSecond: number;
  msPerStep: number;
  steps: number;
  device: string;
  note: string;
}

/** What a child prints: a measurement, or why its backend could not start (then no other model is tried on it). */
type ChildResult = Measurement | { unavailable: string; device?: string };

interface Row {
  backend: KitBackend;
  model: string;
  batch: number | '-';
  result: Measurement | null;
  device: string;
  note: string;
}

const here = fileURLToPath(import.meta.url);
// Beside bench.mjs in the kit; one folder up from this file in the repository.
const pytorchScript = [path.join(path.dirname(here), 'pytorch_throughput.py'), path.join(path.dirname(here), '..', 'pytorch_throughput.py')].find((file) => existsSync(file))!;

/** One backend, one model: `--child <backend> <model index> <budget ms> <threads>`; prints a ChildResult as JSON. */
async function child([backend, modelIndex, budget, threads]: string[]): Promise<void> {
  tf.enableProdMode();
  const print = (result: ChildResult) => process.stdout.write(`${JSON.stringify(result)}\n`);
  const webgpu: WebgpuOptions = {
    backend: backend === 'webgpu-opengl' ? 'opengl' : 'vulkan',
    ...(process.env.WEBGPU_ADAPTER ? { adapter: process.env.WEBGPU_ADAPTER } : {}),
  };
  const preference = backend!.startsWith('webgpu') ? 'webgpu' : (backend as 'tensorflow' | 'native' | 'wasm' | 'cpu');
  let device: string;
  try {
    device = (await selectBackend(preference, { webgpu, blasThreads: Number(threads) })).device;
  } catch (error) {
    const reason = (error as Error).message.replace(/^no TensorFlow\.js backend could start \(\w+: /, '').replace(/\)$/, '');
    // tfjs-node-gpu brings libtensorflow with CUDA (hundreds of MB): the kit leaves it out, and says so.
    const notBundled = backend === 'tensorflow' && /is not installed; .* is not installed/.test(reason);
    print({ unavailable: notBundled ? 'not bundled (tfjs-node-gpu with libtensorflow is hundreds of MB); put an installed node_modules/@tensorflow/tfjs-node-gpu (with its dependencies) in the kit folder to measure it' : reason });
    return;
  }
  const model = benchModels[Number(modelIndex)]!;
  // A first step slower than 10 s is the measurement: llvmpipe's LSTM would take minutes otherwise.
  const { steps, ms, note } = await measure(model, Number(budget), 10_000);
  print({ samplesPerSecond: (steps * model.batch * 1000) / ms, msPerStep: ms / steps, steps, device, note: [note, ...loadedLibraries()].filter(Boolean).join('; ') });
}

/**
 * Where the libraries the kit may bring were loaded from (this process's memory map): whether the
 * kit's own copies (run.sh's LD_LIBRARY_PATH) or the machine's are in use.
 */
function loadedLibraries(): string[] {
  let maps: string;
  try {
    maps = readFileSync('/proc/self/maps', 'utf8');
  } catch {
    return [];
  }
  const files = new Set(maps.split('\n').map((line) => line.split(/\s+/)[5] ?? '').filter((file) => /\/lib(openblas|vulkan)[^/]*\.so/.test(file)));
  // The kit is the folder of this bundle (bench.mjs); its own copies read "the kit's lib/…".
  const kit = path.dirname(here);
  return [...files].map((file) => (file.startsWith(`${kit}${path.sep}`) ? `${path.basename(file)}: the kit's ${path.relative(kit, file)}` : `${path.basename(file)}: ${file}`));
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      'budget-ms': { type: 'string', default: '3000' },
      threads: { type: 'string', default: process.env.BLAS_THREADS ?? '1' },
      backends: { type: 'string' },
      models: { type: 'string' },
      'timeout-s': { type: 'string', default: '180' },
      python: { type: 'string' },
      out: { type: 'string' },
    },
  });
  const backends = (values.backends?.split(',').map((name) => name.trim()) ?? defaultBackends) as KitBackend[];
  const unknown = backends.filter((name) => !(kitBackends as readonly string[]).includes(name));
  if (unknown.length > 0) {
    console.error(`unknown backend ${unknown.join(', ')}: one of ${kitBackends.join(', ')}`);
    process.exit(2);
  }
  const models = values.models?.split(',').map(Number) ?? benchModels.map((_, index) => index);
  const budgetMs = Number(values['budget-ms']);
  const timeoutMs = Number(values['timeout-s']) * 1000;
  const threads = values.threads;

  const python = backends.some((name) => name.startsWith('pytorch')) ? await findTorch(values.python) : null;
  const rows: Row[] = [];
  for (const backend of backends) {
    // After a timeout the backend's other models are skipped: a hung driver would cost minutes each.
    let timedOut = false;
    for (const modelIndex of models) {
      const model = benchModels[modelIndex]!;
      const row: Row = { backend, model: model.name, batch: model.batch, result: null, device: '-', note: '' };
      rows.push(row);
      if (timedOut) {
        row.note = 'skipped: an earlier model timed out on this backend';
        continue;
      }
      const started = performance.now();
      process.stderr.write(`${backend} · ${model.name} … `);
      const result = await measureOne(backend, modelIndex, { budgetMs, timeoutMs, threads, python });
      process.stderr.write(`${((performance.now() - started) / 1000).toFixed(1)} s\n`);
      if ('unavailable' in result) {
        // One row for a backend that cannot start: its reason holds for every model.
        Object.assign(row, { model: 'all models', batch: '-', note: `unavailable: ${result.unavailable}`, device: result.device ?? '-' });
        break;
      }
      row.result = result;
      row.device = result.device;
      row.note = result.note;
      timedOut = result.note.startsWith('failed: timed out');
    }
  }

  const text = [header(threads, budgetMs, python?.description ?? null), renderTable(rows), ''].join('\n');
  process.stdout.write(text);
  if (values.out) writeFileSync(values.out, text);
}

/** Runs one measurement in a child process; a crash, a timeout or unreadable output is the row's note. */
async function measureOne(
  backend: KitBackend,
  modelIndex: number,
  options: { budgetMs: number; timeoutMs: number; threads: string; python: TorchPython | null },
): Promise<ChildResult> {
  let command: string;
  let args: string[];
  let env: NodeJS.ProcessEnv = { ...process.env, BLAS_THREADS: options.threads };
  if (backend.startsWith('pytorch')) {
    const device = backend === 'pytorch-cuda' ? 'cuda' : 'cpu';
    if (!options.python) return { unavailable: 'no python3 with torch found (--python names one)' };
    if (device === 'cuda' && !options.python.cuda) return { unavailable: `torch ${options.python.version} sees no CUDA device` };
    command = options.python.executable;
    args = [pytorchScript, String(modelIndex), String(options.budgetMs), options.threads, device];
    // torch.set_num_threads does not bound the OpenBLAS/OpenMP pools under PyTorch (docs/backends.md).
    env = { ...env, OPENBLAS_NUM_THREADS: options.threads, OMP_NUM_THREADS: options.threads };
    // The kit's libraries (OpenBLAS, an older libstdc++) are for Node's addons: PyTorch gets the
    // machine's library path as it was before run.sh, or it could load an older libstdc++ than it needs.
    if (process.env.TRAINYARD_KIT_LD_LIBRARY_PATH !== undefined) {
      env.LD_LIBRARY_PATH = process.env.TRAINYARD_KIT_LD_LIBRARY_PATH;
      if (!env.LD_LIBRARY_PATH) delete env.LD_LIBRARY_PATH;
    }
  } else {
    command = process.execPath;
    args = [...process.execArgv, here, '--child', backend, String(modelIndex), String(options.budgetMs), options.threads];
  }
  const outcome = await run(command, args, { env, timeout: options.timeoutMs, maxBuffer: 1 << 20, killSignal: 'SIGKILL' }).catch(
    (error: Error & { stdout?: string; stderr?: string; killed?: boolean; signal?: string; code?: number }) => error,
  );
  if (outcome instanceof Error) {
    if (outcome.killed) return failed(`timed out after ${options.timeoutMs / 1000} s`);
    const why = outcome.signal ? `killed by ${outcome.signal}` : `exit ${outcome.code}`;
    const lastLine = (outcome.stderr ?? '').trim().split('\n').filter(Boolean).at(-1) ?? '';
    return failed(`${why}: ${lastLine}`.slice(0, 160));
  }
  const line = outcome.stdout.trim().split('\n').at(-1) ?? '';
  try {
    const parsed = JSON.parse(line) as ChildResult | { samplesPerSecond: number; device: string };
    if ('unavailable' in parsed) return parsed;
    const model = benchModels[modelIndex]!;
    // PyTorch's script reports samples/s only; ms/step follows from the batch.
    const msPerStep = 'msPerStep' in parsed ? parsed.msPerStep : (model.batch * 1000) / parsed.samplesPerSecond;
    return { samplesPerSecond: parsed.samplesPerSecond, msPerStep, steps: 'steps' in parsed ? parsed.steps : 0, device: parsed.device, note: 'note' in parsed ? parsed.note : '' };
  } catch {
    return failed(`unreadable output: ${line.slice(0, 120)}`);
  }
}

// A failure after start is reported per model, not as the backend being unavailable.
function failed(note: string): Measurement {
  return { samplesPerSecond: NaN, msPerStep: NaN, steps: 0, device: '-', note: `failed: ${note}` };
}

interface TorchPython {
  executable: string;
  version: string;
  cuda: boolean;
  description: string;
}

/** The first python3 that imports torch, with its CUDA device if it sees one. */
async function findTorch(named: string | undefined): Promise<TorchPython | null> {
  const probe = [
    'import json, torch',
    'cuda = torch.cuda.is_available()',
    'print(json.dumps({"version": torch.__version__, "cuda": cuda, "cudaVersion": torch.version.cuda, "gpu": torch.cuda.get_device_name(0) if cuda else None}))',
  ].join('\n');
  for (const executable of named ? [named] : ['python3', '/usr/bin/python3', 'python']) {
    const result = await run(executable, ['-c', probe], { timeout: 120_000 }).catch(() => null);
    if (!result) continue;
    const info = JSON.parse(result.stdout.trim().split('\n').at(-1)!) as { version: string; cuda: boolean; cudaVersion: string | null; gpu: string | null };
    return {
      executable,
      version: info.version,
      cuda: info.cuda,
      description: `${executable}: torch ${info.version}${info.cuda ? `, CUDA ${info.cudaVersion} on ${info.gpu}` : ', no CUDA device'}`,
    };
  }
  return null;
}

function header(threads: string, budgetMs: number, python: string | null): string {
  const cpus = os.cpus();
  return [
    'Trainyard GPU kit: training throughput (forward + backward + Adam, synthetic batch)',
    `node ${process.version} (${process.execPath}); ${os.type()} ${os.release()}; ${cpus.length}× ${cpus[0]?.model ?? 'unknown CPU'}; load ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`,
    `PyTorch: ${python ?? 'not found'}`,
    `budget ${budgetMs} ms per measurement, ${threads} CPU thread(s) for native and PyTorch CPU; ${new Date().toISOString()}`,
    '',
  ].join('\n');
}

const rate = (value: number): string => (Number.isNaN(value) ? '-' : value < 10 ? value.toFixed(2) : Math.round(value).toLocaleString('en-US'));

function renderTable(rows: Row[]): string {
  const headers = ['backend', 'model', 'batch', 'samples/s', 'ms/step', 'device / adapter', 'note'];
  const cells = rows.map((row) => [
    row.backend,
    row.model,
    String(row.batch),
    row.result ? rate(row.result.samplesPerSecond) : '-',
    row.result && !Number.isNaN(row.result.msPerStep) ? row.result.msPerStep.toFixed(row.result.msPerStep < 10 ? 2 : 1) : '-',
    row.device,
    row.note,
  ]);
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((r) => r[i]!.length)));
  const line = (values: string[]) => `| ${values.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(headers), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...cells.map(line)].join('\n');
}

// Last: the helpers above are initialised by now.
if (process.argv[2] === '--child') {
  await child(process.argv.slice(3));
} else {
  await main();
}
