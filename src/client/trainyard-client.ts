import { WebSocket } from 'ws';
import type { z } from 'zod';
import type { checkpointSchema, jobEventSchema, jobPageSchema, jobSchema, metricSchema, problemSchema } from '../api/schemas/job-schemas.js';
import type { JobSpecInput } from '../spec/job-spec.js';

/** The API's types, derived from the same zod schemas the server validates and documents with. */
export type Job = z.infer<typeof jobSchema>;
export type JobPage = z.infer<typeof jobPageSchema>;
export type JobEvent = z.infer<typeof jobEventSchema>;
export type Metric = z.infer<typeof metricSchema>;
export type Checkpoint = z.infer<typeof checkpointSchema> & { links: { modelJson: string; weights: string } };
export type Problem = z.infer<typeof problemSchema>;
export type { JobSpecInput } from '../spec/job-spec.js';

/** A problem+json answer, with its fields, as an exception. */
export class TrainyardApiError extends Error {
  override name = 'TrainyardApiError';
  constructor(
    readonly status: number,
    readonly problem: Problem | null,
  ) {
    super(problem ? `${status} ${problem.title}: ${problem.detail ?? ''}` : `HTTP ${status}`);
  }
}

export interface StreamMessage {
  kind: 'event' | 'heartbeat';
  jobId?: string;
  seq?: number;
  type?: JobEvent['type'];
  data?: Record<string, unknown>;
}

const terminal = new Set(['succeeded', 'failed', 'cancelled']);

export interface ClientOptions {
  /** The project's API key (ty_…); omit only against a server started with AUTH_MODE=off. */
  apiKey?: string;
}

/** A typed client of the Trainyard REST API and its job streams. */
export class TrainyardClient {
  private readonly base: string;
  private readonly auth: Record<string, string>;

  constructor(baseUrl: string, options: ClientOptions = {}) {
    this.base = baseUrl.replace(/\/$/, '');
    this.auth = options.apiKey ? { authorization: `Bearer ${options.apiKey}` } : {};
  }

  submit(spec: JobSpecInput, options: { idempotencyKey?: string } = {}): Promise<Job> {
    return this.request('POST', '/v1/jobs', spec, options.idempotencyKey ? { 'idempotency-key': options.idempotencyKey } : {});
  }

  job(id: string): Promise<Job> {
    return this.request('GET', `/v1/jobs/${encodeURIComponent(id)}`);
  }

  jobs(query: { status?: string; limit?: number } = {}): Promise<JobPage> {
    const params = new URLSearchParams(Object.entries(query).flatMap(([k, v]) => (v === undefined ? [] : [[k, String(v)]])));
    return this.request('GET', `/v1/jobs${params.size ? `?${params}` : ''}`);
  }

  cancel(id: string): Promise<Job> {
    return this.request('POST', `/v1/jobs/${encodeURIComponent(id)}/cancel`, {});
  }

  pause(id: string): Promise<Job> {
    return this.request('POST', `/v1/jobs/${encodeURIComponent(id)}/pause`, {});
  }

  resume(id: string): Promise<Job> {
    return this.request('POST', `/v1/jobs/${encodeURIComponent(id)}/resume`, {});
  }

  async events(id: string, after = 0): Promise<JobEvent[]> {
    return (await this.request<{ data: JobEvent[] }>('GET', `/v1/jobs/${encodeURIComponent(id)}/events?after=${after}`)).data;
  }

  async metrics(id: string, scope: 'batch' | 'epoch' = 'epoch'): Promise<Metric[]> {
    return (await this.request<{ data: Metric[] }>('GET', `/v1/jobs/${encodeURIComponent(id)}/metrics?scope=${scope}`)).data;
  }

  async checkpoints(id: string): Promise<Checkpoint[]> {
    return (await this.request<{ data: Checkpoint[] }>('GET', `/v1/jobs/${encodeURIComponent(id)}/checkpoints`)).data;
  }

  predict(id: string, inputs: unknown[], checkpoint?: string): Promise<{ checkpoint: string; predictions: { class?: number; label?: string; probabilities?: number[]; values?: number[] }[] }> {
    return this.request('POST', `/v1/jobs/${encodeURIComponent(id)}/predict`, { inputs, ...(checkpoint ? { checkpoint } : {}) });
  }

  /** The final model's files (model.json and weights.bin), as TF.js saves them. */
  async model(id: string): Promise<{ modelJson: Buffer; weights: Buffer }> {
    const get = async (file: string) => {
      const response = await fetch(`${this.base}/v1/jobs/${encodeURIComponent(id)}/model/${file}`, { headers: this.auth });
      if (!response.ok) throw new TrainyardApiError(response.status, (await response.json().catch(() => null)) as Problem | null);
      return Buffer.from(await response.arrayBuffer());
    };
    return { modelJson: await get('model.json'), weights: await get('weights.bin') };
  }

  /**
   * Follows a job's events over its websocket from `after` on, until the job ends; reconnects
   * with the last sequence number seen, so nothing is missed or repeated.
   */
  follow(id: string, onEvent: (event: StreamMessage) => void, after = 0): Promise<void> {
    return new Promise((resolve, reject) => {
      let last = after;
      let finished = false;
      const connect = () => {
        const socket = new WebSocket(`${this.base.replace(/^http/, 'ws')}/v1/jobs/${encodeURIComponent(id)}/stream?after=${last}`, { headers: this.auth });
        socket.on('message', (raw) => {
          const message = JSON.parse(String(raw)) as StreamMessage;
          if (message.kind !== 'event') return;
          last = message.seq ?? last;
          onEvent(message);
          if (message.type === 'status' && terminal.has(String(message.data?.status))) finished = true;
        });
        socket.on('unexpected-response', (_request, response) => {
          finished = true;
          reject(new TrainyardApiError(response.statusCode ?? 0, null));
        });
        socket.on('error', () => undefined);
        socket.on('close', () => {
          // Resolving after a rejection is a no-op.
          if (finished) resolve();
          else setTimeout(connect, 500);
        });
      };
      connect();
    });
  }

  private async request<T>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<T> {
    const response = await fetch(`${this.base}${path}`, {
      method,
      headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...this.auth, ...headers },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const payload = (await response.json().catch(() => null)) as unknown;
    if (!response.ok) throw new TrainyardApiError(response.status, payload as Problem | null);
    return payload as T;
  }
}
