import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TrainyardApiError, TrainyardClient, type StreamEventMessage } from '../../src/client/index.js';
import { startHarness, type Harness } from '../support/harness.js';
import { tinyIrisSpec } from '../support/specs.js';

const run = promisify(execFile);
const cli = path.resolve('bin/trainyard.mjs');
const folder = mkdtempSync(path.join(tmpdir(), 'trainyard-cli-'));

let harness: Harness;
let client: TrainyardClient;
let key: string;
beforeAll(async () => {
  harness = await startHarness('client', { TRAINYARD_BACKEND: 'wasm', AUTH_MODE: 'required' });
  await harness.startWorker();
  key = (await harness.apiKey('client')).key;
  client = new TrainyardClient(harness.baseUrl, { apiKey: key });
});
afterAll(async () => harness?.close());

const trainyard = (...args: string[]) =>
  run(process.execPath, [cli, '--url', harness.baseUrl, ...args], { timeout: 60_000, env: { ...process.env, TRAINYARD_API_KEY: key } });

describe('the typed client', () => {
  it('submits (idempotently), follows the stream to the end, reads metrics and predicts', async () => {
    const job = await client.submit(tinyIrisSpec({ epochs: 3 }), { idempotencyKey: 'client-1' });
    expect((await client.submit(tinyIrisSpec({ epochs: 3 }), { idempotencyKey: 'client-1' })).id).toBe(job.id);
    const seen: StreamEventMessage[] = [];
    await client.follow(job.id, (message) => seen.push(message));
    expect(seen.at(-1)).toMatchObject({ type: 'status', data: { status: 'succeeded' } });
    expect((await client.metrics(job.id)).map((m) => m.epoch)).toEqual([1, 2, 3]);
    const { predictions } = await client.predict(job.id, [[5.1, 3.5, 1.4, 0.2]]);
    expect(predictions[0]!.probabilities).toHaveLength(3);
  });

  it('sends its key on every call and stream; without one the server answers 401', async () => {
    const anonymous = new TrainyardClient(harness.baseUrl);
    const refused = await anonymous.jobs().catch((e: unknown) => e);
    expect((refused as TrainyardApiError).status).toBe(401);
    const job = await client.submit(tinyIrisSpec({ epochs: 1 }));
    expect((await anonymous.follow(job.id, () => undefined).catch((e: unknown) => e)) as TrainyardApiError).toMatchObject({ status: 401 });
    await client.follow(job.id, () => undefined);
    expect((await client.model(job.id)).weights.byteLength).toBeGreaterThan(0);
  });

  it('turns problem+json answers into errors that keep the fields', async () => {
    const error = await client.submit({ ...tinyIrisSpec(), epochs: 0 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TrainyardApiError);
    expect((error as TrainyardApiError).status).toBe(400);
    expect((error as TrainyardApiError).problem?.errors).toContainEqual(expect.objectContaining({ field: 'epochs', message: 'Too small: expected number to be >=1' }));
  });
});

describe('the trainyard CLI', () => {
  const failure = (error: unknown) => error as { code: number; stdout: string; stderr: string };

  it('prints its usage for --help and -h, and one line (not a stack trace) for a wrong option', async () => {
    for (const flag of ['--help', '-h']) {
      const { stdout } = await trainyard(flag);
      expect(stdout).toMatch(/^Usage: trainyard <command>/);
      expect(stdout).toContain('download <id>');
    }
    const wrong = failure(await trainyard('jobs', '--colour').catch((error: unknown) => error));
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toBe("trainyard: Unknown option '--colour'. To specify a positional argument starting with a '-', place it at the end of the command after '--', as in '-- \"--colour\"\nRun trainyard --help for the commands and options.\n");
  });

  it('submit --follow shows each epoch on a line of its own, then jobs, logs (as sentences) and download', async () => {
    const spec = path.join(folder, 'spec.json');
    writeFileSync(spec, JSON.stringify(tinyIrisSpec({ name: 'from the cli', epochs: 3, preprocessing: { features: 'standardize' } })));
    const submitted = await trainyard('submit', spec, '--follow');
    const lines = submitted.stdout.trim().split('\n');
    const id = /^job ([0-9a-f-]{36}) queued$/.exec(lines[0]!)![1]!;
    expect(lines.filter((line) => /^epoch \d\/3 {2}loss \d/.test(line))).toHaveLength(3);
    expect(lines.every((line) => line.length <= 79)).toBe(true);
    expect(lines.at(-1)).toMatch(/^Succeeded after 3 epochs/);
    // tinyIrisSpec's Adam at 0.05 gets advice: a line on stderr, the exit status still 0.
    expect(submitted.stderr).toMatch(/^advice adamRateFarFromDefault: learningRate: adam starts at 0\.05, .*silence with silenceAdvice\)$/m);

    expect((await trainyard('jobs')).stdout).toMatch(new RegExp(`^${id.slice(0, 8)}\\S*\\s+succeeded\\s+100%\\s+from the cli$`, 'm'));
    const logs = (await trainyard('logs', id)).stdout;
    expect(logs).toMatch(/^ +\d+ {2}\d\d:\d\d:\d\d {2}Checkpoint at epoch \d/m);
    expect(logs).toMatch(/^ +2 {2}\d\d:\d\d:\d\d {2}Advice on the spec \(1\): learningRate: adam starts at 0\.05/m);
    const out = path.join(folder, 'model');
    await trainyard('download', id, '--out', out);
    expect(JSON.parse(readFileSync(path.join(out, 'model.json'), 'utf8')).modelTopology).toBeDefined();
    expect(readFileSync(path.join(out, 'weights.bin')).byteLength).toBeGreaterThan(0);
    // The scaling fitted on the training rows travels with the model: raw inputs need it first.
    expect(JSON.parse(readFileSync(path.join(out, 'preprocessing.json'), 'utf8')).preprocessing).toMatchObject({ features: 'standardize', shift: expect.any(Array) });
  });

  it('upload sends a file as its name says, and a refused one is one line naming the field', async () => {
    const csv = path.join(folder, 'notes.csv');
    writeFileSync(csv, 'note,mood\n"what a good day",up\n"a bad, bad day",down\n"good",up\n');
    const uploaded = (await trainyard('upload', csv, '--text', 'note', '--label', 'mood')).stdout;
    expect(uploaded).toMatch(/^data set [0-9a-f-]{36}: 3 rows, texts \(note\), 2 classes \(mood\)$/m);
    expect(uploaded).toContain('5 distinct words; words per text: median 4, 95 % ≤ 4, longest 4');
    const id = /^data set ([0-9a-f-]{36})/m.exec(uploaded)![1]!;
    expect(uploaded).toContain(`"dataset": {"name": "upload", "id": "${id}"}`);
    expect((await client.api.GET('/v1/datasets/{id}', { params: { path: { id } } })).data).toMatchObject({ name: 'notes.csv', textColumn: 'note', format: 'csv' });

    const other = path.join(folder, 'other.csv');
    writeFileSync(other, 'note,mood\nfine,up\nbad,down\n');
    const refused = failure(await trainyard('upload', other, '--text', 'nope').catch((error: unknown) => error));
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('row 1, column "nope": the text column is missing');
    const unknownType = failure(await trainyard('upload', path.join(folder, 'notes.xlsx')).catch((error: unknown) => error));
    expect(unknownType.stderr).toContain('upload takes .csv');
  });

  it('reports a refused spec once, field by field, and exits 1', async () => {
    const bad = path.join(folder, 'bad.json');
    writeFileSync(bad, JSON.stringify({ ...tinyIrisSpec(), batchSize: 0 }));
    const failed = failure(await trainyard('submit', bad).catch((error: unknown) => error));
    expect(failed.code).toBe(1);
    expect(failed.stderr).toBe('trainyard: Invalid request (400)\n  batchSize: Too small: expected number to be >=1\n');
  });

  it('shows ids that tell jobs made in the same minute apart, and takes any unique start of one', async () => {
    const first = await client.submit(tinyIrisSpec({ name: 'twin', epochs: 500, batchSize: 8 }));
    const second = await client.submit(tinyIrisSpec({ name: 'twin', epochs: 500, batchSize: 8 }));
    // Time-ordered ids: the first 8 characters are the same.
    expect(first.id.slice(0, 8)).toBe(second.id.slice(0, 8));
    const listed = (await trainyard('jobs', '--limit', '2')).stdout.trim().split('\n').map((line) => line.split(/\s+/)[0]!);
    expect(listed).toHaveLength(2);
    expect(new Set(listed).size).toBe(2);
    expect(second.id.startsWith(listed[0]!) && first.id.startsWith(listed[1]!)).toBe(true);

    const ambiguous = failure(await trainyard('cancel', first.id.slice(0, 8)).catch((error: unknown) => error));
    expect(ambiguous.code).toBe(1);
    expect(ambiguous.stderr).toContain(`${first.id.slice(0, 8)} is ambiguous`);
    expect((await trainyard('cancel', listed[1]!)).stdout).toMatch(new RegExp(`^job ${first.id} (cancelled|cancelling)$`, 'm'));
    expect((await trainyard('cancel', second.id.replace(/-/g, '').slice(0, 20))).stdout).toMatch(new RegExp(`^job ${second.id} (cancelled|cancelling)$`, 'm'));
    const unknown = failure(await trainyard('logs', 'ffffffff').catch((error: unknown) => error));
    expect(unknown.stderr).toBe('trainyard: no job id starts with ffffffff\n');
  });

  it('redraws one progress line in place in an 80-column terminal, with samples/s and time left', async () => {
    const spec = path.join(folder, 'long.json');
    writeFileSync(spec, JSON.stringify(tinyIrisSpec({ name: 'on a terminal', epochs: 30, batchSize: 8, logEveryBatches: 2 })));
    // util-linux's script gives the CLI a real terminal of 80 columns.
    const command = `stty cols 80 rows 24; TRAINYARD_API_KEY=${key} '${process.execPath}' '${cli}' --url ${harness.baseUrl} submit '${spec}' --follow`;
    const { stdout } = await run('script', ['-q', '-e', '-c', command, '/dev/null'], { timeout: 90_000 });
    expect(stdout).toContain('\r\x1b[K[');
    // What the terminal shows: each redraw replaces the line, so every piece fits in 80 columns.
    const pieces = stdout.replace(/\r\n/g, '\n').split(/\r\x1b\[K|\n/).filter(Boolean);
    expect(pieces.filter((piece) => piece.length >= 80)).toEqual([]);
    const bars = pieces.filter((piece) => piece.startsWith('['));
    expect(bars.length).toBeGreaterThan(5);
    expect(bars.some((bar) => /\] +\d+% {2}epoch \d+\/30 {2}[\d.]+k? samples\/s {2}\d+s left$/.test(bar))).toBe(true);
    expect(pieces.filter((piece) => /^epoch +\d+\/30 /.test(piece))).toHaveLength(30);
  });

  it('says which variable to set when the key is missing or refused', async () => {
    const anonymous = failure(await run(process.execPath, [cli, '--url', harness.baseUrl, 'jobs'], { env: { ...process.env, TRAINYARD_API_KEY: '' } }).catch((error: unknown) => error));
    expect(anonymous.code).toBe(1);
    expect(anonymous.stderr).toContain('set TRAINYARD_API_KEY to a key of your project (none is set)');
    expect(anonymous.stderr.match(/API key/g)).toHaveLength(1);
  });
});
