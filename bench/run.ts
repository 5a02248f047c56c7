// npm run bench [-- --only throughput|latency|events|transfer|distributed --budget-ms 8000 --runs 5
//                   --backends tensorflow,webgpu,native,wasm,cpu]   (webgpu: WEBGPU_BACKEND=vulkan|opengl, WEBGPU_ADAPTER)
// npm run bench -- --only events [--subscribers 0,1000 --repeats 3 --layouts one,split]: trainer emission → websocket subscriber delay
// Every mode, its flags and what it prints: docs/bench.md.
// npm run bench -- --only pytorch [--repeats 7 --budget-ms 3000 --threads 1,2 --callgrind 8]: native and wasm against PyTorch
// npm run bench -- --only graphs [--repeats 7 --budget-ms 3000 --threads 1,2 --models 0,1]: issue 23's Transformer encoder and ResNet-8 (graph models), native and wasm against PyTorch
// npm run bench -- --only seq2seq [--sizes 300,1000,3000 --seeds 1,2,3,4,5 --epochs 20 --backends native]: seq2seq-reverse's model on sorting, from language models pretrained on each side vs from scratch
// npm run bench -- --only api [--sizes 1000,1000000 --repeats 7 --budget-ms 3000 --connections 50]: the API's req/s against a bare Fastify echo
// npm run bench -- --only abuse [--repeats 7 --budget-ms 5000]: a polite client's p99 while an abusive one attacks
// npm run bench -- --only mcdropout [--backends native --sizes 1000 --repeats 7]: MC dropout with T = 1, 10, 50 against one plain prediction
// npm run bench -- --only service [--repeats 7 --backends native]: a job through the service against the bare engine on the same spec
// npm run bench -- --only studies [--seeds 1,2,3,4,5 --algorithms random,asha,pbt]: hyperparameter search on MNIST, best accuracy against trial-epochs
// npm run bench -- --only augmentation [--backends native --sizes 2000 --repeats 7]: examples/cnn-augmentation.json's CNN with and without its augmentation
// npm run bench -- --only transfer-images [--sizes 300,3000 --seeds 1,2,3 --epochs 10 --target 0.9,0.95 --finetune-lr 0.01 --backends native]: uploaded MNIST PNGs, 0–4 → 5–9 through the service: frozen, finetune, scratch
// npm run bench -- --only streaming [--base-rows 20480 --sizes 1,4,16 --steps 300 --backends native]: an upload trained with its features streamed from disk against loaded: peak RSS and samples/s per size
// Prints the baseline tables later work is measured against. Timings on these shared VMs vary by
// ±20–30 %: compare ratios taken in one run, not numbers across runs.
import os from 'node:os';
import * as tf from '@tensorflow/tfjs';
import { parseArgs } from 'node:util';
import { benchEventDelay, serviceLayouts, type ServiceLayout } from './event-delay.js';
import { benchSubmitLatency } from './submit-latency.js';
import { z } from 'zod';
import { trainingProcessSettingsSchema } from '../src/config/config.js';
import { backendChoiceOf } from '../src/engine/backend.js';
import { benchBackends, benchThroughput } from './training-throughput.js';
import { benchTransfer } from './transfer-speedup.js';
import { benchSeq2seqPretraining } from './seq2seq-pretraining.js';
import { benchDistributed } from './distributed-throughput.js';
import { benchInstructions, benchVersusPytorch } from './pytorch-compare.js';
import { benchGraphsVersusPytorch } from './graph-compare.js';
import { graphModels } from './graph-models.js';
import { benchAbuse } from './abuse.js';
import { benchApiThroughput } from './api-throughput.js';
import { benchMcDropout } from './mc-dropout.js';
import { benchAugmentation } from './augmentation.js';
import { benchStudies, studyAlgorithms, type StudyBenchRow } from './studies.js';
import { benchServiceOverhead } from './service-overhead.js';
import { benchStreaming } from './streaming.js';
import { benchTransferImages, LEARNING_RATE, transferStarts, type TransferImagesRow } from './transfer-images.js';

const { values } = parseArgs({
  options: {
    'budget-ms': { type: 'string', default: '8000' },
    'slow-step-ms': { type: 'string', default: '5000' },
    runs: { type: 'string', default: '5' },
    only: { type: 'string' },
    backends: { type: 'string' },
    repeats: { type: 'string', default: '7' },
    threads: { type: 'string' },
    callgrind: { type: 'string' },
    sizes: { type: 'string' },
    subscribers: { type: 'string' },
    layouts: { type: 'string', default: 'one,split' },
    seeds: { type: 'string', default: '1,2,3,4,5' },
    algorithms: { type: 'string' },
    models: { type: 'string' },
    epochs: { type: 'string' },
    target: { type: 'string' },
    'finetune-lr': { type: 'string' },
    'base-rows': { type: 'string', default: '20480' },
    steps: { type: 'string', default: '300' },
    connections: { type: 'string', default: '50' },
  },
});

tf.enableProdMode();

// Modes that run without --only, then the ones run only when named; aliases kept for old scripts.
const modes = ['throughput', 'latency', 'events', 'transfer', 'distributed', 'pytorch', 'graphs', 'seq2seq', 'api', 'abuse', 'mcdropout', 'studies', 'service', 'augmentation', 'transfer-images', 'streaming'] as const;
const aliases: Record<string, (typeof modes)[number]> = { submit: 'latency', fanout: 'events' };
if (values.only !== undefined) {
  const mode = aliases[values.only] ?? values.only;
  if (!(modes as readonly string[]).includes(mode)) {
    console.error(`unknown --only ${JSON.stringify(values.only)}: one of ${modes.join(', ')} (docs/bench.md)`);
    process.exit(2);
  }
  values.only = mode;
}

const fmt = (value: number | null, digits = 0): string => (value === null || Number.isNaN(value) ? '-' : value.toFixed(digits));
// Small rates keep a significant digit: the JS CNN runs well under 1 sample/s.
const rate = (value: number | null): string => fmt(value, value !== null && value < 10 ? 2 : 0);

function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(headers), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? NaN;
}

/** The first epoch (1-based) whose accuracy reaches `target`; Infinity when none does, so that medians over seeds still sort. */
function epochsTo(accuracies: number[], target: number): number {
  const index = accuracies.findIndex((a) => a >= target);
  return index < 0 ? Infinity : index + 1;
}

console.log(`Trainyard bench — ${new Date().toISOString()} — Node ${process.version}, ${os.cpus().length} cores (${os.cpus()[0]?.model ?? '?'})\n`);

if (!values.only || values.only === 'throughput') {
  const backends = values.backends?.split(',').map((name) => z.enum(benchBackends).parse(name.trim()));
  const { options: backendOptions } = backendChoiceOf(trainingProcessSettingsSchema.parse(process.env));
  const rows = await benchThroughput({ budgetMs: Number(values['budget-ms']), slowStepMs: Number(values['slow-step-ms']), backendOptions, ...(backends ? { backends } : {}) });
  console.log('Training throughput (forward + backward + Adam, synthetic batch)\n');
  console.log(
    table(
      ['backend', 'model', 'batch', 'samples/s', 'ms/step', 'steps', 'device / note'],
      rows.map((r) => [r.backend, r.model, String(r.batch), rate(r.samplesPerSecond), fmt(r.msPerStep, 1), String(r.steps), [r.device, r.note].filter((s) => s && s !== '-').join('; ') || '-']),
    ),
  );
  console.log();
}

if (!values.only || values.only === 'latency') {
  const runs = Number(values.runs);
  const latency = await benchSubmitLatency(runs);
  const warm = latency.runs.slice(1);
  console.log(`POST /v1/jobs → first training step (MNIST MLP, wasm, ${runs} jobs one after another)\n`);
  console.log(
    table(
      ['measure', 'ms'],
      [
        ['worker start (training process + backend init)', fmt(latency.workerStartMs)],
        ['first job: POST → started event (includes loading MNIST)', fmt(latency.runs[0]?.startedMs ?? NaN)],
        ['first job: POST → first step recorded', fmt(latency.runs[0]?.firstStepMs ?? NaN)],
        [`later jobs: POST → started event (median of ${warm.length})`, fmt(median(warm.map((r) => r.startedMs)))],
        [`later jobs: POST → first step recorded (median of ${warm.length})`, fmt(median(warm.map((r) => r.firstStepMs)))],
      ],
    ),
  );
}
if (!values.only || values.only === 'events') {
  const subscribers = (values.subscribers ?? '0,1000').split(',').map(Number);
  const repeats = values.only ? Number(values.repeats) : 1;
  const layouts = values.layouts.split(',') as ServiceLayout[];
  const unknownLayout = layouts.find((layout) => !serviceLayouts.includes(layout));
  if (unknownLayout) throw new Error(`--layouts: unknown layout ${unknownLayout} (one of ${serviceLayouts.join(', ')})`);
  const rounds = await benchEventDelay({ subscribers, repeats, layouts });
  console.log(
    `\nEvent delay: the training process emitting an event → a websocket subscriber receiving it (layout one: API + worker in one process; split: API and worker processes; auth on, wasm); ${repeats} interleaved round(s); load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}\n`,
  );
  const spread = (values: number[]) => `${fmt(Math.min(...values))} / ${fmt(median(values))} / ${fmt(Math.max(...values))}`;
  console.log(
    table(
      ['layout', 'other subscribers', 'got every event', 'events', 'delay p50 ms', 'delay p99 ms min / median / max', 'max ms', 'recorded p99 ms', 'job end on stream ms min / median / max'],
      layouts.flatMap((layout) =>
        subscribers.map((count) => {
          const mine = rounds.filter((r) => r.layout === layout && r.subscribers === count);
          const p = (list: number[], q: number) => percentile([...list].sort((a, b) => a - b), q);
          return [
            layout,
            String(count),
            mine.map((r) => `${r.complete}/${count + 1}`).join(', '),
            fmt(median(mine.map((r) => r.events))),
            fmt(median(mine.map((r) => p(r.delaysMs, 50)))),
            spread(mine.map((r) => p(r.delaysMs, 99))),
            fmt(Math.max(...mine.map((r) => Math.max(...r.delaysMs)))),
            fmt(median(mine.map((r) => p(r.recordMs, 99)))),
            spread(mine.map((r) => r.endMs)),
          ];
        }),
      ),
    ),
  );
}
if (!values.only || values.only === 'transfer') {
  const transfer = await benchTransfer();
  console.log(`\nTransfer: CNN pretrained on MNIST digits 0–4 (val accuracy ${fmt(transfer.pretrainAccuracy * 100, 1)} %), then digits 5–9 (wasm)\n`);
  const to = (accuracies: number[], target: number) => {
    const epochs = epochsTo(accuracies, target);
    return Number.isFinite(epochs) ? String(epochs) : `> ${accuracies.length}`;
  };
  console.log(
    table(
      ['rows', 'start', 'val accuracy by epoch', 'epochs to 93 %', 'epochs to 95 %', 'samples/s'],
      transfer.rows.map((r) => [String(r.rows), r.start, r.accuracies.map((a) => fmt(a * 100, 1)).join(' '), to(r.accuracies, 0.93), to(r.accuracies, 0.95), fmt(r.samplesPerSecond)]),
    ),
  );
}
if (values.only === 'seq2seq') {
  const epochs = Number(values.epochs ?? 20);
  const lmRows = 10_000;
  const backend = values.backends?.split(',')[0] ?? 'native';
  const rows = await benchSeq2seqPretraining({ pairs: (values.sizes ?? '300,1000,3000').split(',').map(Number), seeds: values.seeds!.split(',').map(Number), epochs, lmRows, backend });
  console.log(`\nseq2seq pretraining: sort 8 symbols of 10; encoder and decoder pretrained as language models on ${lmRows} sources / targets (3 epochs), then ${epochs} epochs on the pairs (${backend})\n`);
  const groups = [...new Set(rows.map((r) => `${r.pairs}|${r.start}`))];
  console.log(
    table(
      ['pairs', 'start', 'seeds', 'final val token accuracy min / median / max (%)', 'epochs to 80 % (median)', 'epochs to 95 % (median)', 'median val accuracy by epoch (%)'],
      groups.map((group) => {
        const mine = rows.filter((r) => `${r.pairs}|${r.start}` === group);
        const finals = mine.map((r) => r.accuracies.at(-1)! * 100).sort((a, b) => a - b);
        const byEpoch = mine[0]!.accuracies.map((_, e) => median(mine.map((r) => r.accuracies[e]! * 100)));
        const to = (target: number) => {
          const m = median(mine.map((r) => epochsTo(r.accuracies, target)));
          return Number.isFinite(m) ? String(m) : `> ${epochs}`;
        };
        return [String(mine[0]!.pairs), mine[0]!.start, String(mine.length), `${fmt(finals[0]!, 1)} / ${fmt(median(finals), 1)} / ${fmt(finals.at(-1)!, 1)}`, to(0.8), to(0.95), byEpoch.map((a) => fmt(a, 0)).join(' ')];
      }),
    ),
  );
}
if (!values.only || values.only === 'distributed') {
  const rows = await benchDistributed();
  console.log(`\nDistributed training on MNIST (wasm, sgd 0.05, batch 64 per thread): one thread vs two under each strategy\n`);
  console.log(
    table(
      ['model', 'strategy', 'threads', 'samples/s', 'vs one thread', 'speed-up (job\'s own estimate)', 'val accuracy', 'rejected/dropped'],
      rows.map((r) => {
        const base = rows.find((b) => b.model === r.model && b.threads === 1)!;
        return [r.model, r.strategy, String(r.threads), fmt(r.samplesPerSecond), `${fmt(r.samplesPerSecond / base.samplesPerSecond, 2)}×`, r.speedup === null ? '-' : `${fmt(r.speedup, 2)}×`, fmt(r.valAccuracy * 100, 1), String(r.rejectedOrDropped)];
      }),
    ),
  );
}
if (values.only === 'pytorch') {
  const repeats = Number(values.repeats);
  const threads = (values.threads ?? '1,2').split(',').map(Number);
  const backends = values.backends?.split(',') ?? ['native', 'wasm'];
  const { rows, best, pytorch } = await benchVersusPytorch({ repeats, budgetMs: Number(values['budget-ms']), backends, threads });
  console.log(
    `Against PyTorch (${pytorch ? `${pytorch}, torch` : 'PyTorch not found: apt-get install python3-torch'}; ${threads.join(' and ')} thread(s); ${repeats} interleaved rounds, each run its own process; load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')})\n`,
  );
  const ratio = (value: number | null) => (value === null ? '-' : `${value.toFixed(2)}×`);
  const spread = (values: number[]) => `${rate(Math.min(...values))} / ${rate(median(values))} / ${rate(Math.max(...values))}`;
  console.log(
    table(
      ['model', 'framework', 'threads', 'samples/s min / median / max', 'vs PyTorch (same threads)', 'peak RSS MB', 'RSS vs PyTorch', 'cores busy', 'runs'],
      rows.map((r) => [r.model, r.framework, String(r.threads), spread(r.samplesPerSecond), ratio(r.speedRatio), fmt(r.peakRssMb), ratio(r.rssRatio), fmt(r.coresBusy, 2), String(r.runs)]),
    ),
  );
  if (best.length > 0) {
    console.log('\nEach framework at its best thread count against PyTorch at its own best\n');
    console.log(
      table(
        ['model', 'framework', 'its best threads', "PyTorch's best threads", 'speed vs PyTorch', 'peak RSS vs PyTorch'],
        best.map((r) => [r.model, r.framework, String(r.threads), String(r.pytorchThreads), ratio(r.speedRatio), ratio(r.rssRatio)]),
      ),
    );
  }
  if (values.callgrind) {
    const steps = Number(values.callgrind);
    const counted = await benchInstructions({ backends, steps });
    console.log(`\nInstructions per sample under valgrind --tool=callgrind, 1 thread (${steps} steps less start-up): a count, unmoved by the machine's load\n`);
    console.log(
      table(
        ['model', 'framework', 'instructions / sample', 'vs PyTorch (lower is better)'],
        counted.rows.map((r) => [r.model, r.framework, fmt(r.instructionsPerSample), ratio(r.ratio)]),
      ),
    );
  }
  console.log();
}
if (values.only === 'graphs') {
  const repeats = Number(values.repeats);
  // Default 3 s a run (the models' steps take 50–1200 ms here); --budget-ms when given.
  const budgetMs = process.argv.some((arg) => arg.startsWith('--budget-ms')) ? Number(values['budget-ms']) : 3000;
  const threads = (values.threads ?? '1,2').split(',').map(Number);
  const backends = values.backends?.split(',') ?? ['native', 'wasm'];
  const models = values.models?.split(',').map(Number);
  const loadStart = os.loadavg();
  const { rows, best, pytorch, loadAverages, devices } = await benchGraphsVersusPytorch({ repeats, budgetMs, backends, threads, ...(models ? { models } : {}), onRun: (line) => console.error(line) });
  const loads = (list: number[]) => `${fmt(Math.min(...list), 2)}–${fmt(Math.max(...list), 2)}`;
  console.log(
    `Graph models against PyTorch (${pytorch ? `${pytorch}, torch` : 'PyTorch not found: apt-get install python3-torch'}; ${threads.join(' and ')} thread(s); ${repeats} interleaved rounds of ${budgetMs} ms, each run its own process; ` +
      `forward + softmax cross-entropy + backward + Adam, batch 64; load average at start ${loadStart.map((l) => l.toFixed(2)).join(' ')}, 1-min load over the rounds ${loads(loadAverages)})\n`,
  );
  for (const [framework, device] of devices) console.log(`  ${framework} (its first run): ${device}`);
  console.log();
  for (const [i, model] of graphModels.entries()) if (!models || models.includes(i)) console.log(`  ${model.name}: ${model.layers.length} layers in the spec`);
  console.log();
  const ratio = (value: number | null) => (value === null ? '-' : `${value.toFixed(2)}×`);
  const spread = (list: number[]) => (list.length === 0 ? '-' : `${rate(Math.min(...list))} / ${rate(median(list))} / ${rate(Math.max(...list))}`);
  const ratios = (list: number[]) => (list.length === 0 ? '-' : `${fmt(Math.min(...list), 2)} / ${fmt(median(list), 2)} / ${fmt(Math.max(...list), 2)}`);
  console.log(
    table(
      ['model', 'framework', 'threads', 'samples/s min / median / max', 'vs PyTorch (medians, same threads)', 'vs PyTorch per round min / median / max', 'peak RSS MB', 'cores busy', 'runs'],
      rows.map((r) => [r.model, r.framework, String(r.threads), spread(r.samplesPerSecond), ratio(r.speedRatio), r.framework === 'pytorch' ? '-' : ratios(r.roundRatios), fmt(r.peakRssMb), fmt(r.coresBusy, 2), `${r.runs}${r.failures.length ? ` (${r.failures.length} failed: ${r.failures[0]})` : ''}`]),
    ),
  );
  if (best.length > 0) {
    console.log('\nEach framework at its best thread count against PyTorch at its best (goal: native ≥ 1.2×)\n');
    console.log(
      table(
        ['model', 'framework', 'its best threads', 'samples/s', "PyTorch's best threads", 'PyTorch samples/s', 'speed vs PyTorch'],
        best.map((r) => [r.model, r.framework, String(r.threads), rate(r.samplesPerSecond), String(r.pytorchThreads), rate(r.pytorchSamplesPerSecond), ratio(r.speedRatio)]),
      ),
    );
  }
  console.log();
}
if (values.only === 'api') {
  const repeats = Number(values.repeats);
  const sizes = (values.sizes ?? '1000,1000000').split(',').map(Number);
  const seconds = Math.max(1, Math.round(Number(values['budget-ms']) / 1000));
  const connections = Number(values.connections);
  const rows = await benchApiThroughput({ sizes, repeats, seconds, connections });
  console.log(`The API against a bare Fastify server on this machine: ${connections} connections, ${seconds} s per measurement, ${repeats} interleaved rounds; load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}\n`);
  const spread = (values: number[]) => `${fmt(Math.min(...values))} / ${fmt(median(values))} / ${fmt(Math.max(...values))}`;
  console.log(
    table(
      ['jobs in table', 'endpoint', 'API req/s min / median / max', 'echo req/s median', 'API / echo (median of rounds)', 'API p99 ms median', 'echo p99 ms median', 'API CPU µs per request min / median / max', 'not 2xx'],
      rows.map((r) => [
        String(r.jobs),
        r.endpoint,
        spread(r.apiRps),
        fmt(median(r.echoRps)),
        `${fmt(median(r.apiRps.map((value, i) => (100 * value) / r.echoRps[i]!)), 1)} %`,
        fmt(median(r.apiP99Ms)),
        fmt(median(r.echoP99Ms)),
        spread(r.apiCpuUs),
        String(r.non2xx),
      ]),
    ),
  );
  console.log();
}
if (values.only === 'abuse') {
  const repeats = Number(values.repeats);
  const phaseMs = Number(values['budget-ms']);
  const rows = await benchAbuse({ repeats, phaseMs });
  console.log(`A well-behaved client (GET /v1/jobs/{id} every 20 ms) while one abusive client attacks from another address; ${repeats} interleaved rounds of ${phaseMs} ms; load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}\n`);
  const spread = (values: number[]) => `${fmt(Math.min(...values))} / ${fmt(median(values))} / ${fmt(Math.max(...values))}`;
  console.log(
    table(
      ['abuse', 'p99 ms min / median / max', 'p50 ms median', 'requests', 'not 200'],
      rows.map((r) => [r.phase, spread(r.p99Ms), fmt(median(r.p50Ms), 1), String(r.requests), String(r.errors)]),
    ),
  );
  console.log();
}
if (values.only === 'augmentation') {
  const repeats = Number(values.repeats);
  const rows = Number(values.sizes ?? '2000');
  const backend = z.enum(benchBackends).parse(values.backends?.split(',')[0]?.trim() ?? 'native');
  const result = await benchAugmentation({ backend, rows, repeats });
  console.log(`examples/cnn-augmentation.json's CNN on ${rows} MNIST images, batch ${result.batchSize}, on ${result.backend}: samples/s of the second epoch, ${repeats} interleaved rounds\n`);
  const plain = result.rows[0]!.rounds;
  const spreadOf = (list: number[]) => `${fmt(Math.min(...list))} / ${fmt(median(list))} / ${fmt(Math.max(...list))}`;
  const ratios = (list: number[]) => {
    const perRound = list.map((v, i) => v / plain[i]!);
    return `${fmt(Math.min(...perRound), 2)} / ${fmt(median(perRound), 2)} / ${fmt(Math.max(...perRound), 2)}`;
  };
  console.log(
    table(
      ['measure', 'samples/s min / median / max', 'vs no augmentation per round min / median / max'],
      result.rows.map((r, i) => [r.measure, spreadOf(r.rounds), i === 0 || i === 2 ? '-' : ratios(r.rounds)]),
    ),
  );
  console.log();
}
if (values.only === 'streaming') {
  const backend = z.enum(benchBackends).parse(values.backends?.split(',')[0]?.trim() ?? 'native');
  const multiples = (values.sizes ?? '1,4,16').split(',').map(Number);
  const steps = Number(values.steps);
  const batchSize = 256;
  console.log(`a 256-feature table at ${multiples.map((m) => `${m}×`).join(', ')} ${values['base-rows']} rows; a 256-64-10 MLP, batch ${batchSize}, ${steps} steps on ${backend}, each run in a fresh process\n`);
  const rows = await benchStreaming({ backend, baseRows: Number(values['base-rows']), multiples, steps, batchSize });
  console.log(
    table(
      ['rows', 'features MiB', 'mode', 'peak RSS MiB', 'samples/s', 'to first step s', 'load avg'],
      rows.map((r) => [String(r.rows), fmt(r.featureMb), r.mode, fmt(r.peakRssMb), fmt(r.samplesPerSecond), fmt(r.setupSeconds, 1), fmt(r.load, 2)]),
    ),
  );
  console.log();
}
if (values.only === 'transfer-images') {
  const sizes = (values.sizes ?? '300,3000').split(',').map(Number);
  // --seeds defaults to five for the other modes; three keep this one to a few minutes on 2 cores.
  const seeds = process.argv.some((arg) => arg.startsWith('--seeds')) ? values.seeds!.split(',').map(Number) : [1, 2, 3];
  const epochs = Number(values.epochs ?? 10);
  const targets = (values.target ?? '0.9,0.95').split(',').map(Number);
  const finetuneLearningRate = Number(values['finetune-lr'] ?? LEARNING_RATE);
  const backend = z.enum(benchBackends).parse(values.backends?.split(',')[0]?.trim() ?? 'native');
  const loadStart = os.loadavg();
  const started = performance.now();
  console.log(
    `Transfer on uploaded images through the service (${backend}): MNIST digits as PNG class folders, CNN pretrained on 0–4, then 5–9 at ${sizes.join(' and ')} images; ` +
      `Adam ${LEARNING_RATE} (finetune ${finetuneLearningRate}), batch 32, ${epochs} epochs, seeds ${seeds.join(', ')}\n`,
  );
  const result = await benchTransferImages({
    sizes,
    seeds,
    epochs,
    finetuneLearningRate,
    backend,
    onStep: (line) => console.log(line),
    onRow: (r) => console.log(`  ${r.size} images, ${r.start}, seed ${r.seed}: val accuracy by epoch ${r.accuracies.map((a) => fmt(a * 100, 1)).join(' ')} %, ${fmt(r.wallSeconds, 1)} s`),
  });
  console.log(
    `\nSource: ${result.pretrainRows} digits 0–4, ${result.pretrainAccuracies.length} epochs, val accuracy ${fmt(result.pretrainAccuracies.at(-1)! * 100, 1)} %. Every run is scored on the same ${result.validationRows} held-out digits 5–9 (val/). ` +
      `${fmt((performance.now() - started) / 1000)} s in all; load average at start ${loadStart.map((l) => l.toFixed(2)).join(' ')}, at end ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}\n`,
  );
  const spread = (list: number[], digits: number) => `${fmt(median(list), digits)} (${fmt(Math.min(...list), digits)}–${fmt(Math.max(...list), digits)})`;
  const reached = (epoch: number) => (Number.isFinite(epoch) ? String(epoch) : 'not reached');
  const groups = sizes.flatMap((size) => transferStarts.map((start) => result.rows.filter((r) => r.size === size && r.start === start)));
  console.log(
    table(
      [
        'target images',
        'start',
        ...targets.flatMap((target) => [`epochs to ${fmt(target * 100)} % median (per seed)`, `s to ${fmt(target * 100)} % median`]),
        'final val accuracy % median (min–max)',
        'wall s per run median (min–max)',
        'median val accuracy by epoch %',
      ],
      groups.map((mine: TransferImagesRow[]) => {
        const byEpoch = mine[0]!.accuracies.map((_, e) => median(mine.map((r) => r.accuracies[e]! * 100)));
        return [
          String(mine[0]!.size),
          mine[0]!.start,
          ...targets.flatMap((target) => {
            const to = mine.map((r) => epochsTo(r.accuracies, target));
            // A seed that never gets there sorts last, so the median says "not reached" only when most did not.
            const seconds = median(mine.map((r, i) => (Number.isFinite(to[i]!) ? r.secondsByEpoch[to[i]! - 1]! : Infinity)));
            return [`${reached(median(to))} (${to.map(reached).join(', ')})`, Number.isFinite(seconds) ? fmt(seconds, 1) : '-'];
          }),
          spread(mine.map((r) => r.accuracies.at(-1)! * 100), 1),
          spread(mine.map((r) => r.wallSeconds), 1),
          byEpoch.map((a) => fmt(a, 1)).join(' '),
        ];
      }),
    ),
  );
  console.log();
}
if (values.only === 'mcdropout') {
  const repeats = Number(values.repeats);
  const inputs = Number(values.sizes ?? '1000');
  const backend = z.enum(benchBackends).parse(values.backends?.split(',')[0]?.trim() ?? 'native');
  const { backend: ran, rows } = await benchMcDropout({ backend, inputs, samples: [1, 10, 50], repeats });
  console.log(`MC dropout on ${inputs} MNIST inputs (MLP 784-256-256-10, dropout 0.5 twice) on ${ran}; median of ${repeats} interleaved rounds, each the fastest of 3 runs in a row\n`);
  const plain = rows.find((r) => r.samples === 0)!;
  console.log(
    table(
      ['measure', 'forward calls', 'ms', 'vs plain', 'vs T × plain', 'µs per input-pass'],
      rows.map((r) => [
        r.measure,
        String(r.forwardCalls),
        fmt(r.ms, 1),
        `${fmt(r.ms / plain.ms, 1)}×`,
        r.samples === 0 ? '-' : `${fmt(r.ms / (r.samples * plain.ms), 2)}×`,
        fmt((1000 * r.ms) / (inputs * Math.max(1, r.samples)), 1),
      ]),
    ),
  );
  console.log();
}
if (values.only === 'service') {
  const rounds = Number(values.repeats);
  const backend = z.enum(benchBackends).parse(values.backends?.split(',')[0]?.trim() ?? 'native');
  const measured = await benchServiceOverhead({ rounds, backend });
  console.log(
    `Service against the bare engine: MNIST MLP 784-256-256-10, batch 128, 10 epochs, ${backend}; ${rounds} interleaved rounds; load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}\n`,
  );
  const spread = (list: number[]) => `${fmt(Math.min(...list))} / ${fmt(median(list))} / ${fmt(Math.max(...list))}`;
  const ratio = (list: number[]) => `${fmt(Math.min(...list), 3)} / ${fmt(median(list), 3)} / ${fmt(Math.max(...list), 3)}`;
  console.log(
    table(
      ['measure (epochs 2–10, median per round)', 'bare engine samples/s min / median / max', 'service samples/s min / median / max', 'service ÷ bare, per round min / median / max'],
      (['engine', 'wall'] as const).map((measure) => [
        measure === 'engine' ? "the engine's own rate (training steps)" : 'epoch end to epoch end (validation, events, checkpoints)',
        spread(measured.map((r) => r[measure].bare)),
        spread(measured.map((r) => r[measure].service)),
        ratio(measured.map((r) => r[measure].service / r[measure].bare)),
      ]),
    ),
  );
  console.log('\nGoal: the service within 5 % of the bare engine (ratio ≥ 0.95).\n');
}
if (values.only === 'studies') {
  const seeds = values.seeds!.split(',').map(Number);
  const algorithms = z.array(z.enum(studyAlgorithms)).parse(values.algorithms?.split(',').map((a) => a.trim()) ?? studyAlgorithms);
  console.log(
    `Studies on MNIST (MLP 784-128-dropout-10, validation 20 %): learning rate log 1e-4…1, batch size 32–256, dropout 0–0.5, optimizer sgd/momentum/adam; 16 trials of up to 9 epochs, 2 at a time (native); seeds ${seeds.join(', ')}\n`,
  );
  const rows = await benchStudies({
    seeds,
    algorithms,
    onRow: (r) => console.log(`  ${r.algorithm} seed ${r.seed}: ${r.status}, best ${fmt((r.bestValAccuracy ?? NaN) * 100, 2)} %, ${r.trialEpochs} trial-epochs, ${fmt(r.wallSeconds)} s`),
  });
  const randomOf = (r: StudyBenchRow) => rows.find((other) => other.algorithm === 'random' && other.seed === r.seed);
  console.log(`\nload average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}\n`);
  console.log(
    table(
      ['algorithm', 'seed', 'status', 'best val accuracy %', 'vs random (points)', 'trials (stopped)', 'trial-epochs', 'vs random', 'trained to the end would be', 'trial s', 'wall s'],
      rows.map((r) => {
        const random = randomOf(r);
        const points = random && r.bestValAccuracy !== null && random.bestValAccuracy !== null ? (r.bestValAccuracy - random.bestValAccuracy) * 100 : NaN;
        return [
          r.algorithm,
          String(r.seed),
          r.status,
          fmt((r.bestValAccuracy ?? NaN) * 100, 2),
          r.algorithm === 'random' ? '-' : `${points >= 0 ? '+' : ''}${fmt(points, 2)}`,
          `${r.trials} (${r.stopped})`,
          String(r.trialEpochs),
          random ? `${fmt(r.trialEpochs / random.trialEpochs, 2)}×` : '-',
          String(r.fullTrainingEpochs),
          fmt(r.trialSeconds),
          fmt(r.wallSeconds),
        ];
      }),
    ),
  );
  if (seeds.length > 1) {
    const mean = (list: number[]) => list.reduce((sum, v) => sum + v, 0) / list.length;
    console.log(`\nMean over the ${seeds.length} seeds\n`);
    console.log(
      table(
        ['algorithm', 'best val accuracy %', 'vs random (points) min / mean / max', 'trial-epochs', 'vs random'],
        algorithms.map((algorithm) => {
          const mine = rows.filter((r) => r.algorithm === algorithm && r.bestValAccuracy !== null);
          const points = mine.flatMap((r) => {
            const random = randomOf(r);
            return random?.bestValAccuracy != null ? [(r.bestValAccuracy! - random.bestValAccuracy) * 100] : [];
          });
          const randomEpochs = mean(rows.filter((r) => r.algorithm === 'random').map((r) => r.trialEpochs));
          const epochs = mean(mine.map((r) => r.trialEpochs));
          return [
            algorithm,
            fmt(mean(mine.map((r) => r.bestValAccuracy!)) * 100, 2),
            algorithm === 'random' || points.length === 0 ? '-' : `${fmt(Math.min(...points), 2)} / ${fmt(mean(points), 2)} / ${fmt(Math.max(...points), 2)}`,
            fmt(epochs, 1),
            Number.isNaN(randomEpochs) ? '-' : `${fmt(epochs / randomEpochs, 2)}×`,
          ];
        }),
      ),
    );
  }
  console.log('\nGoals: ASHA within 0.5 points of random at ≤ 1/3 of its trial-epochs; PBT at least as good as random at the same trial-epochs.\n');
}
process.exit(0);
