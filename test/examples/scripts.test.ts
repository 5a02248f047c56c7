import { spawn } from 'node:child_process';
import { once } from 'node:events';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startHarness, type Harness } from '../support/harness.js';

// Each script trains two small jobs one after the other, on a busy 2-core machine.
vi.setConfig({ testTimeout: 300_000 });

let harness: Harness;
beforeAll(async () => {
  // Auth on, as a user runs them: the scripts must send the key.
  harness = await startHarness('examplescripts', { AUTH_MODE: 'required' });
  await harness.startWorker();
});
afterAll(async () => harness?.close());

interface Job {
  id: string;
  status: string;
  createdAt: string;
  spec: {
    init?: { from: { job: string; checkpoint: string } };
    model: { progressive?: { columns: { job: string; checkpoint: string }[] } };
  };
}

/** Runs examples/<name> with `shell` against the harness, with the project's key. */
async function runScript(name: string, key: string, shell = 'bash'): Promise<{ code: number | null; output: string }> {
  const child = spawn(shell, [`examples/${name}`], {
    env: { ...process.env, TRAINYARD_URL: harness.baseUrl, TRAINYARD_API_KEY: key, TRAINYARD_WAIT_SECONDS: '280' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, output };
}

/** The project's two jobs, oldest first, and the first job's best checkpoint. */
async function jobsOf(authorization: string): Promise<{ first: Job; second: Job; bestOfFirst: string }> {
  const jobs = (await request(harness.app.server).get('/v1/jobs').set('authorization', authorization).expect(200)).body.data as Job[];
  expect(jobs).toHaveLength(2);
  const [second, first] = jobs as [Job, Job];
  const checkpoints = (await request(harness.app.server).get(`/v1/jobs/${first.id}/checkpoints`).set('authorization', authorization).expect(200)).body.data as {
    id: string;
    isBest: boolean;
  }[];
  const best = checkpoints.find((checkpoint) => checkpoint.isBest);
  expect(best, JSON.stringify(checkpoints)).toBeDefined();
  return { first, second, bestOfFirst: best!.id };
}

describe('the scripts in examples/', () => {
  it('transfer.sh trains a source job, then one that starts from its best checkpoint, and prints the final metrics', async () => {
    const { authorization, key } = await harness.apiKey('transfer-example');
    const { code, output } = await runScript('transfer.sh', key);
    expect(code, output).toBe(0);
    const { first, second, bestOfFirst } = await jobsOf(authorization);
    expect(first.status).toBe('succeeded');
    expect(second.status, output).toBe('succeeded');
    expect(second.spec.init?.from).toEqual({ job: first.id, checkpoint: bestOfFirst });
    expect(output).toContain(`job ${second.id}`);
    expect(output).toContain(`plan: loaded conv1, conv2, features from job ${first.id} (checkpoint ${bestOfFirst}); frozen conv1, maxPool2d_1, conv2; trained from scratch digits59`);
    expect(output).toMatch(/final: loss [\d.]+.*val_accuracy [\d.]+/);
  });

  it('progressive.sh trains a column job, then a progressive job whose column is that job\'s best checkpoint', async () => {
    const { authorization, key } = await harness.apiKey('progressive-example');
    // sh: the scripts are POSIX (dash on Debian), as examples/README.md runs them.
    const { code, output } = await runScript('progressive.sh', key, 'sh');
    expect(code, output).toBe(0);
    const { first, second, bestOfFirst } = await jobsOf(authorization);
    expect(first.status).toBe('succeeded');
    expect(second.status, output).toBe('succeeded');
    expect(second.spec.model.progressive?.columns).toEqual([expect.objectContaining({ job: first.id, checkpoint: bestOfFirst })]);
    expect(output).toContain(`job ${second.id}`);
    expect(output).toMatch(/final: loss [\d.]+.*val_accuracy [\d.]+/);
  });

  it('fails loudly, with the server\'s answer, when the key is wrong', async () => {
    const { code, output } = await runScript('transfer.sh', 'ty_not-a-key');
    expect(code).not.toBe(0);
    expect(output).toMatch(/POST \/v1\/jobs: HTTP 401: .*API key is unknown/);
  });
});
