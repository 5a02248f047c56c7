import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { ClientConnection } from '../../src/api/streams/client-connection.js';
import { streamCloseCodes } from '../../src/api/streams/stream-messages.js';
import { startHarness, type Harness } from '../support/harness.js';
import { tinyIrisSpec } from '../support/specs.js';
import { collectStream } from '../support/stream-client.js';
import { waitFor } from '../support/wait.js';

let harness: Harness;
beforeAll(async () => {
  harness = await startHarness('streams', { TRAINYARD_BACKEND: 'wasm', STREAM_HEARTBEAT_MS: '100' });
  await harness.startWorker();
});
afterAll(async () => harness?.close());

const wsUrl = (path: string) => harness.baseUrl.replace(/^http/, 'ws') + path;

describe('/v1/stream (all jobs)', () => {
  it('carries status changes and epoch metrics of every job, typed, and no batch metrics', async () => {
    const socket = new WebSocket(wsUrl('/v1/stream'));
    await once(socket, 'open');
    const messages: { kind: string; jobId?: string; type?: string; data?: Record<string, unknown> }[] = [];
    socket.on('message', (raw) => messages.push(JSON.parse(raw.toString())));
    const { body } = await request(harness.app.server).post('/v1/jobs').send(tinyIrisSpec({ epochs: 3, logEveryBatches: 1 }));
    await collectStream(harness.baseUrl, body.id);
    // The per-job stream has closed, so everything has been published; the feed carries a job's events in order, its end last.
    await waitFor('the job\'s end on /v1/stream', async () => messages.some((m) => m.kind === 'event' && m.jobId === body.id && m.type === 'status' && m.data!.status === 'succeeded'), 30_000);
    socket.close();
    const mine = messages.filter((m) => m.kind === 'event' && m.jobId === body.id);
    expect(mine.filter((m) => m.type === 'status').map((m) => m.data!.status)).toEqual(['queued', 'running', 'succeeded']);
    expect(mine.filter((m) => m.type === 'metrics').map((m) => [m.data!.scope, m.data!.epoch])).toEqual([
      ['epoch', 1],
      ['epoch', 2],
      ['epoch', 3],
    ]);
    expect(mine.every((m) => m.type === 'status' || m.type === 'metrics')).toBe(true);
  });

  it('sends heartbeats so a browser can tell a dead connection', async () => {
    const socket = new WebSocket(wsUrl('/v1/stream'));
    const beats: string[] = [];
    socket.on('message', (raw) => {
      const message = JSON.parse(raw.toString());
      if (message.kind === 'heartbeat') beats.push(message.time);
    });
    // Every 100 ms here (STREAM_HEARTBEAT_MS): three within 5 s even on a busy machine.
    await waitFor('three heartbeats', async () => beats.length >= 3, 5_000, 20);
    socket.close();
    expect(Number.isNaN(Date.parse(beats[0]!))).toBe(false);
  });

  it('answers a plain GET with 426', async () => {
    const response = await request(harness.app.server).get('/v1/stream');
    expect(response.status).toBe(426);
    expect(response.headers['content-type']).toContain('application/problem+json');
  });
});

describe('a slow client', () => {
  it('is dropped with 4008 once its send queue passes the bound; a fast one keeps receiving', async () => {
    const server = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    await once(server, 'listening');
    const { port } = server.address() as AddressInfo;
    const connections: ClientConnection[] = [];
    server.on('connection', (socket) => connections.push(new ClientConnection(socket, { heartbeatMs: 60_000, maxBufferedBytes: 64 * 1024 })));

    const slow = new WebSocket(`ws://127.0.0.1:${port}`);
    const fast = new WebSocket(`ws://127.0.0.1:${port}`);
    await Promise.all([once(slow, 'open'), once(fast, 'open')]);
    let fastReceived = 0;
    fast.on('message', () => (fastReceived += 1));
    const slowClosed = new Promise<number>((resolve) => slow.on('close', (code) => resolve(code)));
    // Stop reading: the server's buffer for this client grows once the kernel's buffers are full.
    (slow as unknown as { _socket: { pause(): void } })._socket.pause();

    const payload = { kind: 'heartbeat' as const, time: 'x'.repeat(16 * 1024) };
    // Paced like real traffic: one message per turn of the event loop, so a reading client keeps up.
    let sends = 0;
    while (connections[0]!.isOpen && sends < 20_000) {
      for (const connection of connections) connection.send(payload);
      sends += 1;
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(connections[0]!.isOpen).toBe(false);
    (slow as unknown as { _socket: { resume(): void } })._socket.resume();
    expect(await slowClosed).toBe(streamCloseCodes.tooSlow);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(connections[1]!.isOpen).toBe(true);
    expect(fastReceived).toBeGreaterThan(100);
    fast.close();
    server.close();
  });
});
