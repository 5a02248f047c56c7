import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TrainyardClient, type StudySpecInput } from '../../src/client/index.js';
import { formatParams } from '../../src/client/study-event-sentences.js';
import { startHarness, type Harness } from '../support/harness.js';
import { tinyAshaStudy, tinyIrisSpec } from '../support/specs.js';

// `trainyard study …` as a person runs it: the real CLI, over HTTP and the websocket, against the
// real API with a worker and a study scheduler.
const run = promisify(execFile);
const cli = path.resolve('bin/trainyard.mjs');
const folder = mkdtempSync(path.join(tmpdir(), 'trainyard-study-cli-'));

let harness: Harness;
let client: TrainyardClient;
let key: string;
beforeAll(async () => {
  harness = await startHarness('studycli', { TRAINYARD_BACKEND: 'wasm', AUTH_MODE: 'required', WORKER_CONCURRENCY: '2' });
  await harness.startWorker();
  harness.startScheduler();
  key = (await harness.apiKey('studies')).key;
  client = new TrainyardClient(harness.baseUrl, { apiKey: key });
});
afterAll(async () => harness?.close());

const trainyard = (...args: string[]) => run(process.execPath, [cli, '--url', harness.baseUrl, ...args], { timeout: 60_000, env: { ...process.env, TRAINYARD_API_KEY: key } });
const failure = (error: unknown) => error as { code: number; stdout: string; stderr: string };
const fails = (...args: string[]) => trainyard(...args).then(() => expect.unreachable(`trainyard ${args.join(' ')} exited 0`), failure);

const asha = tinyAshaStudy({ name: 'cli asha', epochs: 3, maxTrials: 3, seed: 4 });

describe('trainyard study', () => {
  let studyId = '';

  it('create --watch prints the id and link, then each decision as a sentence until the study succeeds (exit 0)', async () => {
    const file = path.join(folder, 'asha.json');
    writeFileSync(file, JSON.stringify(asha));
    const { stdout } = await trainyard('study', 'create', file, '--watch');
    const lines = stdout.trim().split('\n');
    studyId = /^study ([0-9a-f-]{36}) running$/.exec(lines[0]!)![1]!;
    expect(lines[1]).toBe(`${harness.baseUrl}/#/studies/${studyId}`);
    expect(lines[2]).toBe('study running');
    // A trial's values, by path (in the order PostgreSQL keeps a JSON object's keys).
    const values = /^(batchSize = (8|32), learningRate = [\d.e-]+|learningRate = [\d.e-]+, batchSize = (8|32))$/;
    const started = lines.filter((line) => /^trial [123] started: /.test(line));
    expect(started).toHaveLength(3);
    for (const line of started) expect(line.slice(line.indexOf(': ') + 2)).toMatch(values);
    expect(lines.filter((line) => /^trial \d at epoch 1 \(rung 1\): val_accuracy [\d.]+$/.test(line))).toHaveLength(3);
    // Of 3 trials at rung 1 the top 1/3 goes on to epoch 3; the other two are stopped with their rank.
    expect(lines.filter((line) => /^trial \d promoted at rung 1 \(epoch 1\) to epoch 3: val_accuracy [\d.]+ ranks 1 of 3/.test(line))).toHaveLength(1);
    expect(lines.filter((line) => /^trial \d stopped at rung 1 \(epoch 1\): val_accuracy \S+ ranks [23] of [23]\b/.test(line))).toHaveLength(2);
    expect(lines).toContainEqual(expect.stringMatching(/^trial \d completed: val_accuracy [\d.]+ at epoch 3$/));
    expect(lines).toContainEqual(expect.stringMatching(/^best: trial \d, val_accuracy [\d.]+ at epoch \d$/));
    expect(lines.at(-1)).toMatch(/^study succeeded: all 3 trials are done; best: trial \d/);
    // No value has more than 4 significant digits (the scheduler's own reasons aside).
    const digits = lines.filter((l) => /^(trial \d (started|at epoch)|best)/.test(l)).flatMap((l) => l.match(/\d+\.\d+/g) ?? []);
    for (const number of digits) expect(number.replace('.', '').replace(/^0+/, '').length, number).toBeLessThanOrEqual(4);

    // The same story, replayed by watch from any unique start of the id.
    const watched = await trainyard('study', 'watch', studyId.slice(0, 13));
    expect(watched.stdout.trim().split('\n')).toEqual(lines.slice(2));
  });

  it('best prints the best trial, its values and job spec; --train trains that spec as a new job', async () => {
    const study = await client.study(studyId);
    const best = study.best!;
    const { stdout } = await trainyard('study', 'best', studyId, '--train', '--epochs', '2');
    expect(stdout).toMatch(new RegExp(`^best: trial ${best.trial}, val_accuracy [\\d.]+ at epoch ${best.epoch}\\njob: ${best.jobId}\\nparams: \\S.*\\nspec:\\n\\{\\n`));
    const trial = study.trials.find((t) => t.number === best.trial)!;
    expect(stdout).toContain(`params: ${formatParams(trial.params)}\n`);
    const jobId = /^job ([0-9a-f-]{36}) queued$/m.exec(stdout)![1]!;
    expect((await client.study(studyId)).finalJobId).toBe(jobId);
    const job = await client.job(jobId);
    expect(job.spec).toMatchObject({ epochs: 2, learningRate: trial.params.learningRate, batchSize: trial.params.batchSize });
    // The spec printed is the best trial's job's, whole.
    const printed = stdout.slice(stdout.indexOf('spec:\n') + 6, stdout.lastIndexOf('\njob '));
    expect(JSON.parse(printed)).toEqual((await client.job(best.jobId)).spec);
  });

  it('list and show: the study in the list, its trials in a table', async () => {
    const listed = (await trainyard('study', 'list')).stdout;
    expect(listed).toMatch(new RegExp(`^${studyId.slice(0, 8)}\\S*  succeeded +3 trials  val_accuracy [\\d.]+ +cli asha$`, 'm'));
    const shown = (await trainyard('study', 'show', studyId)).stdout.split('\n');
    expect(shown[0]).toBe(`study ${studyId}  cli asha`);
    expect(shown).toContainEqual(expect.stringMatching(/^search {5}asha, val_accuracy \(max\), 3 trials at most, 2 at once, 3 epochs each$/));
    expect(shown).toContainEqual(expect.stringMatching(/^compute {4}5 trial-epochs in [\d.]+ s, 56% of the 9 that training every trial to the end takes$/));
    const rows = shown.filter((line) => /^ {2}\d {2}/.test(line));
    expect(rows).toHaveLength(3);
    expect(rows.filter((line) => /^ {2}\d {2}stopped +\S+ +1 {2}[\d.]+ +(batchSize|learningRate) = /.test(line))).toHaveLength(2);
    expect(rows.filter((line) => /^ {2}\d {2}completed +\S+ +3 {2}[\d.]+ +(batchSize|learningRate) = /.test(line))).toHaveLength(1);
  });

  it('create from stdin, pause, resume and cancel; watch of a cancelled study exits 1', async () => {
    // Its trials ask for a GPU, which this harness's wasm worker is not: they wait in the queue, and
    // the API answers the actions at once instead of between the steps of a training job.
    const spec: StudySpecInput = {
      base: tinyIrisSpec({ epochs: 200, logEveryBatches: 0, resources: { device: 'gpu' } }),
      space: { learningRate: { type: 'choice', values: [0.01, 0.05] } },
      objective: { metric: 'val_loss' },
      algorithm: { type: 'grid' },
      maxConcurrentTrials: 1,
    };
    const creating = trainyard('study', 'create', '-');
    creating.child.stdin!.end(JSON.stringify(spec));
    const id = /^study ([0-9a-f-]{36}) running$/m.exec((await creating).stdout)![1]!;
    expect((await trainyard('study', 'pause', id)).stdout).toBe(`study ${id} paused\n`);
    expect((await trainyard('study', 'resume', id)).stdout).toBe(`study ${id} running\n`);
    expect((await trainyard('study', 'cancel', id)).stdout).toBe(`study ${id} cancelled\n`);
    const watched = await fails('study', 'watch', id);
    expect(watched.code).toBe(1);
    expect(watched.stdout.trim().split('\n').filter((line) => line.startsWith('study '))).toEqual([
      'study running',
      'study paused: pause requested',
      'study running: resume requested',
      'study cancelled: cancel requested',
    ]);
  });

  it('refuses a wrong command line with exit 2, and a refused spec field by field with exit 1', async () => {
    const bad = path.join(folder, 'bad.json');
    writeFileSync(bad, JSON.stringify({ ...asha, space: { learningRate: { type: 'uniform', low: 0.5, high: 0.1 } } }));
    // Each run is a node process of its own: side by side, they take the time of about one.
    const [missing, unknown, epochs, refused, nobody] = await Promise.all([
      fails('study', 'best'),
      fails('study', 'rerun', studyId),
      fails('study', 'best', studyId, '--epochs', '3'),
      fails('study', 'create', bad),
      fails('study', 'show', 'ffffffff'),
    ]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toBe('trainyard: study best needs a study id\nRun trainyard --help for the commands and options.\n');
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/^trainyard: unknown study command "rerun" \(create, watch, list, show, best, pause, resume, cancel\)\n/);
    expect(epochs.code).toBe(2);
    expect(epochs.stderr).toMatch(/^trainyard: --epochs goes with --train/);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^trainyard: Invalid request \(400\)\n {2}space\.learningRate\.high: /);
    expect(nobody.code).toBe(1);
    expect(nobody.stderr).toBe('trainyard: no study id starts with ffffffff\n');
  });
});
