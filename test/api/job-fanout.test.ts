import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { ClientConnection } from '../../src/api/streams/client-connection.js';
import { frameBatch } from '../../src/api/streams/job-fanout.js';
import { streamCloseCodes } from '../../src/api/streams/stream-messages.js';
import { textFrame } from '../../src/api/streams/websocket-frames.js';
import type { JobEventRecord } from '../../src/jobs/job-types.js';
import { startHarness, type Harness } from '../support/harness.js';
import { tinyIrisSpec } from '../support/specs.js';

/** A ws server whose connections are handed to the test, and clients that record every text message. */
async function wsPair(clients: number) {
  const server = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  const accepted: WebSocket[] = [];
  server.on('connection', (socket) => accepted.push(socket));
  const sockets = Array.from({ length: clients }, () => new WebSocket(`ws://127.0.0.1:${port}`));
  const received = sockets.map(() => [] as string[]);
  sockets.forEach((socket, i) => socket.on('message', (raw, binary) => received[i]!.push(binary ? '<binary>' : raw.toString())));
  await Promise.all(sockets.map((socket) => once(socket, 'open')));
  while (accepted.length < clients) await new Promise((resolve) => setImmediate(resolve));
  return { server, accepted, sockets, received, close: () => (sockets.forEach((s) => s.terminate()), server.close()) };
}

function event(seq: number, text = 'x'): JobEventRecord {
  return { seq, type: 'log', data: { text }, createdAt: '2026-12-02T00:00:00.000Z', emittedAt: '2026-12-02T00:00:00.000Z' } as unknown as JobEventRecord;
}

describe('textFrame', () => {
  it('is read by a ws client as exactly the text sent, at every length encoding (7-bit, 16-bit, 64-bit)', async () => {
    const pair = await wsPair(1);
    const texts = [0, 1, 125, 126, 127, 65_535, 65_536, 200_001].map((length) => 'é'.repeat(length >> 1) + 'a'.repeat(length & 1));
    const raw = (pair.accepted[0] as unknown as { _socket: { write(b: Buffer): void } })._socket;
    for (const text of texts) raw.write(textFrame(Buffer.from(text)));
    while (pair.received[0]!.length < texts.length) await new Promise((resolve) => setTimeout(resolve, 5));
    expect(pair.received[0]).toEqual(texts);
    pair.close();
  });
});

describe('ClientConnection.sendBatch', () => {
  it('writes any run of a batch framed once, in order, to every client, between ws frames of its own', async () => {
    const pair = await wsPair(3);
    const connections = pair.accepted.map((socket) => new ClientConnection(socket, { heartbeatMs: 60_000, maxBufferedBytes: 1 << 20 }));
    const batch = frameBatch('job-1', [event(1), event(2, 'y'.repeat(300)), event(3), event(4, 'z'.repeat(70_000))]);
    expect(connections[0]!.sendBatch(batch, 0, 4)).toBe(true);
    connections[1]!.send({ kind: 'heartbeat', time: 'own frame' });
    expect(connections[1]!.sendBatch(batch, 1, 3)).toBe(true);
    connections[1]!.send({ kind: 'heartbeat', time: 'after' });
    expect(connections[2]!.sendBatch(batch, 3, 4)).toBe(true);
    const expected = [[1, 2, 3, 4], ['own frame', 2, 3, 'after'], [4]];
    while (pair.received.some((list, i) => list.length < expected[i]!.length)) await new Promise((resolve) => setTimeout(resolve, 5));
    const seen = pair.received.map((list) => list.map((text) => JSON.parse(text) as { kind: string; seq?: number; time?: string }).map((m) => (m.kind === 'event' ? m.seq : m.time)));
    expect(seen).toEqual(expected);
    const second = JSON.parse(pair.received[0]![1]!) as { jobId: string; data: { text: string } };
    expect(second.jobId).toBe('job-1');
    expect(second.data.text).toBe('y'.repeat(300));
    pair.close();
  });

  it('refuses a closed client and drops one whose buffer passed the bound with 4008', async () => {
    const pair = await wsPair(2);
    const [slow, gone] = pair.accepted.map((socket) => new ClientConnection(socket, { heartbeatMs: 60_000, maxBufferedBytes: 64 * 1024 }));
    (pair.sockets[0] as unknown as { _socket: { pause(): void } })._socket.pause();
    const slowClosed = new Promise<number>((resolve) => pair.sockets[0]!.on('close', (code) => resolve(code)));
    const batch = frameBatch('job-1', [event(1, 'w'.repeat(32 * 1024))]);
    let sends = 0;
    while (slow!.isOpen && sends < 10_000) {
      slow!.sendBatch(batch, 0, 1);
      sends += 1;
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(slow!.isOpen).toBe(false);
    expect(slow!.sendBatch(batch, 0, 1)).toBe(false);
    (pair.sockets[0] as unknown as { _socket: { resume(): void } })._socket.resume();
    expect(await slowClosed).toBe(streamCloseCodes.tooSlow);
    gone!.close(1000, 'bye');
    expect(gone!.sendBatch(batch, 0, 1)).toBe(false);
    pair.close();
  });
});

describe('many clients following one job', () => {
  let harness: Harness;
  beforeAll(async () => {
    harness = await startHarness('job_fanout', { TRAINYARD_BACKEND: 'wasm' });
    await harness.startWorker();
  });
  afterAll(async () => harness?.close());

  it('each gets every event once, in order, whether it came early, late or reconnected mid-run', async () => {
    const { authorization } = await harness.apiKey('fanout');
    const headers = { authorization };
    const created = await fetch(`${harness.baseUrl}/v1/jobs`, { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body: JSON.stringify(tinyIrisSpec({ epochs: 12, logEveryBatches: 1 })) });
    expect(created.status).toBe(201);
    const { id } = (await created.json()) as { id: string };
    const url = (after: number) => `${harness.baseUrl.replace(/^http/, 'ws')}/v1/jobs/${id}/stream?after=${after}`;
    const follow = (after: number, stopAfter = Infinity) =>
      new Promise<number[]>((resolve, reject) => {
        const seqs: number[] = [];
        const socket = new WebSocket(url(after), { headers });
        socket.on('message', (raw) => {
          const message = JSON.parse(raw.toString()) as { kind: string; seq: number };
          if (message.kind !== 'event') return;
          seqs.push(message.seq);
          if (seqs.length >= stopAfter) socket.close();
        });
        socket.on('close', () => resolve(seqs));
        socket.on('error', reject);
      });
    const early = Array.from({ length: 60 }, () => follow(0));
    // Late joiners replay from PostgreSQL while the others are served live; some leave early and come back.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const late = Array.from({ length: 30 }, (_, i) => follow(i % 3 === 0 ? 0 : i));
    const left = await Promise.all(Array.from({ length: 10 }, () => follow(0, 5)));
    const back = left.map((seqs) => follow(seqs.at(-1)!).then((rest) => [...seqs, ...rest]));
    const runs = await Promise.all([...early, ...late, ...back]);
    const last = Math.max(...runs.map((seqs) => seqs.at(-1)!));
    expect(last).toBeGreaterThan(40);
    const wrong = runs
      .map((seqs, i) => ({ i, seqs, first: i >= 60 && i < 90 && (i - 60) % 3 !== 0 ? i - 60 + 1 : 1 }))
      .filter(({ seqs, first }) => seqs.length !== last - first + 1 || seqs.some((seq, k) => seq !== first + k));
    expect(wrong.map(({ i, seqs }) => `client ${i}: ${seqs.join(',')}`)).toEqual([]);
  });
});
