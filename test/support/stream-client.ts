import WebSocket from 'ws';

export interface StreamMessage {
  kind: 'event';
  jobId: string;
  seq: number;
  type: string;
  data: Record<string, unknown>;
  createdAt: string;
}

export interface StreamResult {
  messages: StreamMessage[];
  closeCode: number;
  closeReason: string;
}

function wsUrl(baseUrl: string, path: string): string {
  return baseUrl.replace(/^http/, 'ws') + path;
}

/** Collects a job stream until the server closes it, or until `stopAfter` messages (then closes itself). */
export function collectStream(
  baseUrl: string,
  jobId: string,
  options: { after?: number; stopAfter?: number; timeoutMs?: number; headers?: Record<string, string> } = {},
): Promise<StreamResult> {
  return collect<StreamMessage>(baseUrl, `/v1/jobs/${jobId}/stream`, 'event', options);
}

export interface StudyStreamMessage {
  kind: 'studyEvent';
  studyId: string;
  seq: number;
  type: string;
  data: Record<string, unknown>;
  createdAt: string;
}

/** The same for a study's stream. */
export function collectStudyStream(
  baseUrl: string,
  studyId: string,
  options: { after?: number; timeoutMs?: number } = {},
): Promise<{ messages: StudyStreamMessage[]; closeCode: number; closeReason: string }> {
  return collect<StudyStreamMessage>(baseUrl, `/v1/studies/${studyId}/stream`, 'studyEvent', options);
}

function collect<M extends { kind: string }>(
  baseUrl: string,
  path: string,
  kind: M['kind'],
  options: { after?: number; stopAfter?: number; timeoutMs?: number; headers?: Record<string, string> },
): Promise<{ messages: M[]; closeCode: number; closeReason: string }> {
  const query = options.after !== undefined ? `?after=${options.after}` : '';
  const socket = new WebSocket(wsUrl(baseUrl, `${path}${query}`), { headers: options.headers ?? {} });
  const messages: M[] = [];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.terminate();
      reject(new Error(`stream ${path} did not close within ${options.timeoutMs ?? 60_000} ms; got ${messages.length} messages`));
    }, options.timeoutMs ?? 60_000);
    socket.on('message', (raw) => {
      const message = JSON.parse(raw.toString()) as M;
      if (message.kind !== kind) return;
      messages.push(message);
      if (options.stopAfter !== undefined && messages.length >= options.stopAfter) socket.close(1000, 'enough');
    });
    socket.on('close', (code, reason) => {
      clearTimeout(timer);
      resolve({ messages, closeCode: code, closeReason: reason.toString() });
    });
    socket.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

/** Resolves with the HTTP status when the server refuses the upgrade. */
export function rejectedUpgradeStatus(baseUrl: string, path: string, headers: Record<string, string> = {}): Promise<number> {
  const socket = new WebSocket(wsUrl(baseUrl, path), { headers });
  return new Promise((resolve, reject) => {
    socket.on('unexpected-response', (_request, response) => {
      resolve(response.statusCode ?? 0);
      socket.terminate();
    });
    socket.on('open', () => reject(new Error(`upgrade to ${path} unexpectedly succeeded`)));
    socket.on('error', () => undefined);
  });
}
