import type { Socket } from 'node:net';
import type { WebSocket } from 'ws';
import type { JobEventRecord } from '../../jobs/job-types.js';
import type { EventBatch } from './job-fanout.js';
import { streamCloseCodes, type StreamMessage } from './stream-messages.js';

/**
 * A job event as a stream message, encoded once however many clients receive it: the
 * subscriber hands every client the same event object, so a thousand clients cost one
 * JSON.stringify and one UTF-8 encoding, not a thousand.
 */
const encodedEvents = new WeakMap<JobEventRecord, Buffer>();

export function encodeEvent(jobId: string, event: JobEventRecord): Buffer {
  let encoded = encodedEvents.get(event);
  if (!encoded) {
    const message: StreamMessage = { kind: 'event', jobId, seq: event.seq, type: event.type, data: event.data, createdAt: event.createdAt, emittedAt: event.emittedAt };
    encoded = Buffer.from(JSON.stringify(message));
    encodedEvents.set(event, encoded);
  }
  return encoded;
}

export interface ConnectionLimits {
  heartbeatMs: number;
  maxBufferedBytes: number;
}

/**
 * One websocket client: heartbeats, and a bound on what may wait in its send buffer. A client that
 * reads too slowly is closed with 4008 instead of growing memory; it never slows other clients or
 * the worker, because sending only appends to this socket's own buffer.
 */
export class ClientConnection {
  private closed = false;
  private corked = false;
  private readonly heartbeat: NodeJS.Timeout;
  private readonly closeListeners: (() => void)[] = [];

  constructor(
    private readonly socket: WebSocket,
    private readonly limits: ConnectionLimits,
  ) {
    this.heartbeat = setInterval(() => this.send({ kind: 'heartbeat', time: new Date().toISOString() }), limits.heartbeatMs);
    this.heartbeat.unref();
    socket.on('close', () => this.markClosed());
    socket.on('error', () => this.markClosed());
    if (socket.readyState !== socket.OPEN) this.markClosed();
  }

  get isOpen(): boolean {
    return !this.closed;
  }

  onClose(listener: () => void): void {
    if (this.closed) listener();
    else this.closeListeners.push(listener);
  }

  /** False when the message was not sent (the client is gone or was just dropped for being slow). */
  send(message: StreamMessage): boolean {
    return this.sendText(Buffer.from(JSON.stringify(message)));
  }

  /** A message already encoded as UTF-8 JSON (encodeEvent), sent as a text frame. */
  sendText(encoded: Buffer): boolean {
    if (this.closed) return false;
    if (this.socket.bufferedAmount > this.limits.maxBufferedBytes) {
      this.close(streamCloseCodes.tooSlow, `client too slow: more than ${this.limits.maxBufferedBytes} bytes waiting; reconnect with ?after=`);
      return false;
    }
    this.corkUntilNextTick();
    this.socket.send(encoded, { binary: false });
    return true;
  }

  /**
   * Events from..to of a batch in one write of the bytes framed once for every client (JobFanout).
   * ws writes whole frames synchronously and this API negotiates no compression, so frames written
   * straight to the TCP socket interleave with ws's own (heartbeats, close) only at frame
   * boundaries, and count in ws's bufferedAmount like its own.
   */
  sendBatch(batch: EventBatch, from: number, to: number): boolean {
    if (this.closed || this.socket.readyState !== this.socket.OPEN) return false;
    if (this.socket.bufferedAmount > this.limits.maxBufferedBytes) {
      this.close(streamCloseCodes.tooSlow, `client too slow: more than ${this.limits.maxBufferedBytes} bytes waiting; reconnect with ?after=`);
      return false;
    }
    const raw = this.rawSocket();
    if (raw) {
      raw.write(batch.frames.subarray(batch.offsets[from]!, batch.offsets[to]!));
      return true;
    }
    for (let i = from; i < to; i++) this.socket.send(encodeEvent(batch.jobId, batch.events[i]!), { binary: false });
    return true;
  }

  private rawSocket(): Socket | null {
    const raw = (this.socket as unknown as { _socket?: Socket })._socket;
    return raw && typeof raw.write === 'function' && !raw.destroyed ? raw : null;
  }

  /**
   * Events arrive from Redis in bursts (a writer's batch): the frames sent in one tick leave in
   * one write system call instead of one each, which is what lets a thousand clients keep up.
   * ws keeps the TCP socket private; its cork counter nests with ws's own cork/uncork per frame.
   */
  private corkUntilNextTick(): void {
    if (this.corked) return;
    const raw = this.rawSocket();
    if (!raw) return;
    this.corked = true;
    raw.cork();
    process.nextTick(() => {
      this.corked = false;
      raw.uncork();
    });
  }

  close(code: number, reason: string): void {
    if (this.closed) return;
    this.markClosed();
    this.socket.close(code, reason);
  }

  private markClosed(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.heartbeat);
    for (const listener of this.closeListeners.splice(0)) listener();
  }
}
