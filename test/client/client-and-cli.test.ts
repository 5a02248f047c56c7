import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TrainyardApiError, TrainyardClient, type StreamMessage } from '../../src/client/index.js';
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
    const seen: StreamMessage[] = [];
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
  it('submit --follow shows progress and each epoch\'s metrics, then jobs, logs and download', async () => {
    const spec = path.join(folder, 'spec.json');
    writeFileSync(spec, JSON.stringify(tinyIrisSpec({ name: 'from the cli', epochs: 3 })));
    const submitted = await trainyard('submit', spec, '--follow');
    const lines = submitted.stdout.trim().split('\n');
    const id = /^job ([0-9a-f-]{36}) queued$/.exec(lines[0]!)![1]!;
    expect(lines.filter((line) => /^\[[#.]{30}\] \d+% epoch \d\/3 .*loss /.test(line))).toHaveLength(3);
    expect(lines.at(-1)).toBe('status succeeded');

    expect((await trainyard('jobs')).stdout).toMatch(new RegExp(`${id}\\s+succeeded\\s+100%\\s+from the cli`));
    expect((await trainyard('logs', id)).stdout).toMatch(/\d+ {2}\S+ {2}checkpoint {2}/);
    const out = path.join(folder, 'model');
    await trainyard('download', id, '--out', out);
    expect(JSON.parse(readFileSync(path.join(out, 'model.json'), 'utf8')).modelTopology).toBeDefined();
    expect(readFileSync(path.join(out, 'weights.bin')).byteLength).toBeGreaterThan(0);
  });

  it('reports a refused spec field by field and exits 1; cancels', async () => {
    const bad = path.join(folder, 'bad.json');
    writeFileSync(bad, JSON.stringify({ ...tinyIrisSpec(), batchSize: 0 }));
    const failed = await trainyard('submit', bad).catch((error: { code: number; stderr: string }) => error);
    expect((failed as { code: number }).code).toBe(1);
    expect((failed as { stderr: string }).stderr).toContain('batchSize:');
    const long = await client.submit(tinyIrisSpec({ epochs: 500, batchSize: 8 }));
    expect((await trainyard('cancel', long.id)).stdout).toMatch(/^job .* (cancelled|cancelling)$/m);
  });

  it('says which variable to set when the key is missing or refused', async () => {
    const anonymous = await run(process.execPath, [cli, '--url', harness.baseUrl, 'jobs'], { env: { ...process.env, TRAINYARD_API_KEY: '' } }).catch((error: { code: number; stderr: string }) => error);
    expect((anonymous as { code: number }).code).toBe(1);
    expect((anonymous as { stderr: string }).stderr).toContain('set TRAINYARD_API_KEY to a key of your project (none is set)');
  });
});
