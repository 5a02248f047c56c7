import type { WebSocket } from 'ws';
import { streamCloseCodes, type StreamMessage } from './stream-messages.js';

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
    if (this.closed) return false;
    if (this.socket.bufferedAmount > this.limits.maxBufferedBytes) {
      this.close(streamCloseCodes.tooSlow, `client too slow: more than ${this.limits.maxBufferedBytes} bytes waiting; reconnect with ?after=`);
      return false;
    }
    this.socket.send(JSON.stringify(message));
    return true;
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
