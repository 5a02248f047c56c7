import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it, vi } from 'vitest';
import { freePort, startProcess as start } from '../support/processes.js';
import { tinyIrisSpec } from '../support/specs.js';

// Real worker processes train here: minutes on a busy two-core machine.
vi.setConfig({ testTimeout: 180_000 });

function isolated(name: string): Record<string, string> {
  const id = `${process.env.TRAINYARD_TEST_RUN}_${name}`;
  const url = new URL(process.env.TEST_DATABASE_SERVER_URL!);
  url.pathname = `/${id}`;
  return { DATABASE_URL: url.toString(), QUEUE_PREFIX: id, ARTIFACT_DIR: mkdtempSync(path.join(tmpdir(), `trainyard-${name}-`)) };
}

describe('process start-up', () => {
  it('says in one line what to start when PostgreSQL is not there', async () => {
    const { exited } = start('workers/all-in-one.ts', { DATABASE_URL: 'postgresql://postgres@127.0.0.1:1/trainyard' });
    const { code, stderr } = await exited;
    expect(code).toBe(1);
    expect(stderr.trim().split('\n')).toHaveLength(1);
    expect(stderr).toMatch(/PostgreSQL is not reachable at 127\.0\.0\.1:1 \(ECONNREFUSED\): start it with `pg_ctlcluster/);
  });

  it('says in one line what to start when Redis is not there', async () => {
    const { exited } = start('workers/training-worker.ts', { ...isolated('noredis'), REDIS_URL: 'redis://127.0.0.1:1' });
    const { code, stderr } = await exited;
    expect(code).toBe(1);
    expect(stderr.trim().split('\n')).toHaveLength(1);
    expect(stderr).toMatch(/Redis is not reachable at 127\.0\.0\.1:1 .*redis-server/);
  });

  it('names every invalid setting', async () => {
    const { exited } = start('workers/api.ts', { PORT: 'abc', TRAINYARD_BACKEND: 'tpu' });
    const { code, stderr } = await exited;
    expect(code).toBe(1);
    expect(stderr).toMatch(/invalid configuration: .*PORT.*TRAINYARD_BACKEND/);
  });
});

describe('npm start (all in one process)', () => {
  it('creates and migrates its database, needs a key (npm run keys makes one), trains a submitted job, and exits cleanly on SIGTERM', async () => {
    const port = await freePort();
    const env = { ...isolated('allinone'), PORT: String(port), HOST: '127.0.0.1', TRAINYARD_BACKEND: 'wasm', LOG_LEVEL: 'info' };
    const { child, exited } = start('workers/all-in-one.ts', env);
    const base = `http://127.0.0.1:${port}`;
    let key = '';
    try {
      const deadline = Date.now() + 60_000;
      for (;;) {
        const ready = await fetch(`${base}/readyz`).then((r) => r.status, () => 0);
        if (ready === 200) break;
        if (Date.now() > deadline || child.exitCode !== null) throw new Error(`not ready: ${(await Promise.race([exited, Promise.resolve(null)]))?.stderr ?? ''}`);
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      const body = JSON.stringify(tinyIrisSpec());
      // Auth is on unless AUTH_MODE=off says otherwise.
      expect((await fetch(`${base}/v1/jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body })).status).toBe(401);
      // The README's way to a key: `npm run -s keys -- create` prints it alone on stdout.
      const keys = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'src/cli/keys.ts', 'create'], { env: { ...process.env, ...env } });
      key = keys.stdout.trim();
      expect(key).toMatch(/^ty_[\w-]{43}$/);
      const headers = { 'content-type': 'application/json', authorization: `Bearer ${key}` };
      const created = await fetch(`${base}/v1/jobs`, { method: 'POST', headers, body });
      expect(created.status).toBe(201);
      const { id } = (await created.json()) as { id: string };
      let status = 'queued';
      while (status === 'queued' || status === 'running') {
        await new Promise((resolve) => setTimeout(resolve, 100));
        status = ((await (await fetch(`${base}/v1/jobs/${id}`, { headers })).json()) as { status: string }).status;
      }
      expect(status).toBe('succeeded');
    } finally {
      child.kill('SIGTERM');
    }
    const { code, stdout } = await exited;
    expect(code).toBe(0);
    // Every request's log lines carry its id; the key is in none of them.
    expect(stdout).toMatch(/"reqId":"[0-9a-f-]{36}"/);
    expect(stdout).not.toContain(key);
    // pino JSON logs: the chosen backend and the clean stop are recorded.
    expect(stdout).toContain('"msg":"training backend selected"');
    expect(stdout).toContain('"msg":"stopped"');
  });
});
