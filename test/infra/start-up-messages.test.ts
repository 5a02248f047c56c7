import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { freePort, startProcess } from '../support/processes.js';

const run = promisify(execFile);

function isolated(name: string): Record<string, string> {
  const id = `${process.env.TRAINYARD_TEST_RUN}_${name}`;
  const url = new URL(process.env.TEST_DATABASE_SERVER_URL!);
  url.pathname = `/${id}`;
  return { DATABASE_URL: url.toString(), QUEUE_PREFIX: id, ARTIFACT_DIR: mkdtempSync(path.join(tmpdir(), `trainyard-${name}-`)) };
}

async function untilReady(port: number, exited: Promise<unknown>): Promise<void> {
  const deadline = Date.now() + 60_000;
  let gone = false;
  void exited.then(() => (gone = true));
  for (;;) {
    if ((await fetch(`http://127.0.0.1:${port}/readyz`).then((r) => r.status, () => 0)) === 200) return;
    if (gone || Date.now() > deadline) throw new Error('the API did not become ready');
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

describe('what a process says when it starts', () => {
  it('reports a busy port in one line that says to set PORT', async () => {
    const blocker = createServer().listen(0, '127.0.0.1');
    await once(blocker, 'listening');
    const { port } = blocker.address() as { port: number };
    try {
      const { exited } = startProcess('workers/api.ts', { ...isolated('busyport'), PORT: String(port), HOST: '127.0.0.1' });
      const { code, stderr } = await exited;
      expect(code).toBe(1);
      expect(stderr).toBe(`trainyard api: port ${port} on 127.0.0.1 is already in use (EADDRINUSE): stop what listens there, or set PORT to a free port\n`);
    } finally {
      blocker.close();
    }
  });

  it('writes JSON lines to a pipe, health checks at debug only, and no GPU warning on a machine without a GPU', async () => {
    const port = await freePort();
    // The default backend choice (auto) tries WebGPU first; this machine has no Vulkan loader.
    const { child, exited, output } = startProcess('workers/all-in-one.ts', { ...isolated('startlog'), PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'info', TRAINYARD_BACKEND: 'auto' });
    try {
      await untilReady(port, exited);
      for (let i = 0; i < 3; i += 1) await fetch(`http://127.0.0.1:${port}/healthz`);
      await fetch(`http://127.0.0.1:${port}/v1/examples`);
      await new Promise((resolve) => setTimeout(resolve, 300));
    } finally {
      child.kill('SIGTERM');
      await exited;
    }
    const lines = output().trim().split('\n');
    const records = lines.map((line) => JSON.parse(line) as { level: number; msg: string; req?: { url: string } });
    const requests = records.filter((record) => record.msg === 'incoming request').map((record) => record.req!.url);
    expect(requests).toEqual(['/v1/examples']);
    expect(output()).not.toContain("Couldn't load Vulkan");
    expect(records.filter((record) => record.level >= 40)).toEqual([]);
  });

  it('writes lines for people at a terminal', async () => {
    const port = await freePort();
    const env = { ...isolated('startpretty'), PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'info' };
    const assignments = Object.entries(env).map(([name, value]) => `${name}='${value}'`).join(' ');
    // util-linux's script runs the API on a terminal, stopped once it answers.
    const command =
      `${assignments} '${process.execPath}' --import tsx workers/api.ts & api=$!; ` +
      `for i in $(seq 1 300); do curl -sf http://127.0.0.1:${port}/healthz >/dev/null && break; sleep 0.2; done; kill -INT $api; wait $api`;
    const { stdout } = await run('script', ['-q', '-c', command, '/dev/null'], { timeout: 60_000 }).catch((error: { stdout: string }) => error);
    expect(stdout).toMatch(/INFO.*Trainyard API listening on http:\/\/127\.0\.0\.1:\d+/);
    expect(stdout).not.toContain('{"level"');
  });
});
