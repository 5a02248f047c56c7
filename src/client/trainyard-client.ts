import createClient, { type Client, type MethodResponse } from 'openapi-fetch';
import { WebSocket } from 'ws';
import { terminalStatuses } from '../jobs/job-state-machine.js';
import type { components, paths } from './api-types.js';
import { canonicalIdPrefix, idPrefixBound } from './job-ids.js';

type Api = Client<paths>;

/**
 * The API's types, generated from openapi/openapi.json by openapi-typescript (src/client/api-types.ts):
 * the client compiles against the published contract, not against the server's own code. Answers
 * are typed as openapi-fetch returns them (it reads fixed-length arrays as arrays).
 */
export type Schemas = components['schemas'];
export type Job = MethodResponse<Api, 'get', '/v1/jobs/{id}'>;
export type SubmittedJob = MethodResponse<Api, 'post', '/v1/jobs'>;
export type Advice = Schemas['Advice'];
export type JobPage = MethodResponse<Api, 'get', '/v1/jobs'>;
export type JobEvent = MethodResponse<Api, 'get', '/v1/jobs/{id}/events'>['data'][number];
export type Metric = MethodResponse<Api, 'get', '/v1/jobs/{id}/metrics'>['data'][number];
export type Checkpoint = MethodResponse<Api, 'get', '/v1/jobs/{id}/checkpoints'>['data'][number];
export type PredictResponse = MethodResponse<Api, 'post', '/v1/jobs/{id}/predict'>;
export type Prediction = PredictResponse['predictions'][number];
export type UncertaintyRequest = Schemas['UncertaintyRequest'];
export type JobStatus = Schemas['JobStatus'];
export type Problem = Schemas['Problem'];
export type StreamMessage = Schemas['StreamMessage'];
export type StreamEventMessage = Schemas['StreamEventMessage'];
export type JobSpecInput = Schemas['JobSpec'];
export type ListJobsQuery = NonNullable<paths['/v1/jobs']['get']['parameters']['query']>;
export type Study = MethodResponse<Api, 'get', '/v1/studies/{id}'>;
export type StudyPage = MethodResponse<Api, 'get', '/v1/studies'>;
export type StudyEvent = MethodResponse<Api, 'get', '/v1/studies/{id}/events'>['data'][number];
export type StudyStatus = Schemas['StudyStatus'];
export type StudySpecInput = Schemas['StudySpec'];
export type Trial = Schemas['Trial'];
export type StudyStreamMessage = Schemas['StudyStreamMessage'];
export type StudyStreamEventMessage = Extract<StudyStreamMessage, { kind: 'studyEvent' }>;
export type ListStudiesQuery = NonNullable<paths['/v1/studies']['get']['parameters']['query']>;
export type TrainBestOptions = paths['/v1/studies/{id}/train-best']['post']['requestBody']['content']['application/json'];
export type TrainedBestJob = MethodResponse<Api, 'post', '/v1/studies/{id}/train-best'>;
export type UploadedDataset = MethodResponse<Api, 'post', '/v1/datasets'>;
export type UploadQuery = paths['/v1/datasets']['post']['parameters']['query'];

/** The content type POST /v1/datasets takes for a file, by its name's ending; null for one it takes none for. */
export function uploadContentType(fileName: string): string | null {
  const name = fileName.toLowerCase();
  const types: [string, string][] = [
    ['.tar.gz', 'application/gzip'],
    ['.tgz', 'application/gzip'],
    ['.tar', 'application/x-tar'],
    ['.zip', 'application/zip'],
    ['.csv', 'text/csv'],
    ['.jsonl', 'application/x-ndjson'],
    ['.ndjson', 'application/x-ndjson'],
    ['.json', 'application/json'],
  ];
  return types.find(([ending]) => name.endsWith(ending))?.[1] ?? null;
}
export type { components, paths };

/** A problem+json answer, with its fields, as an exception. */
export class TrainyardApiError extends Error {
  override name = 'TrainyardApiError';
  constructor(
    readonly status: number,
    readonly problem: Problem | null,
  ) {
    super(problem ? `${status} ${problem.title}: ${problem.detail}` : `HTTP ${status}`);
  }
}

export interface ClientOptions {
  /** The project's API key (ty_…); omit only against a server started with AUTH_MODE=off. */
  apiKey?: string;
}

const isTerminal = (status: unknown): boolean => terminalStatuses.has(status as JobStatus);
/** The statuses a study never leaves: its stream closes after the event that reaches one. */
export const studyEndStatuses: ReadonlySet<StudyStatus> = new Set<StudyStatus>(['succeeded', 'failed', 'cancelled']);
const studyEnded = (status: unknown): boolean => studyEndStatuses.has(status as StudyStatus);

/** openapi-fetch's answer: the parsed body, or the parsed problem and the HTTP response. */
async function unwrap<T>(call: Promise<{ data?: T; error?: unknown; response: Response }>): Promise<T> {
  const { data, error, response } = await call;
  if (!response.ok || error !== undefined) {
    const problem = error && typeof error === 'object' && 'title' in error ? (error as Problem) : null;
    throw new TrainyardApiError(response.status, problem);
  }
  return data as T;
}

/** A typed client of the Trainyard REST API and its job streams, on openapi-fetch. */
export class TrainyardClient {
  /** Every operation of the document, typed: for what the methods below do not cover. */
  readonly api: Api;
  private readonly base: string;
  private readonly auth: Record<string, string>;

  constructor(baseUrl: string, options: ClientOptions = {}) {
    this.base = baseUrl.replace(/\/$/, '');
    this.auth = options.apiKey ? { authorization: `Bearer ${options.apiKey}` } : {};
    this.api = createClient<paths>({ baseUrl: this.base, headers: this.auth });
  }

  /** The job as submitted, with `advice`: the practical tips its spec goes against. */
  submit(spec: JobSpecInput, options: { idempotencyKey?: string } = {}): Promise<SubmittedJob> {
    return unwrap(this.api.POST('/v1/jobs', { body: spec, params: { header: options.idempotencyKey ? { 'idempotency-key': options.idempotencyKey } : {} } }));
  }

  job(id: string): Promise<Job> {
    return unwrap(this.api.GET('/v1/jobs/{id}', { params: { path: { id } } }));
  }

  jobs(query: ListJobsQuery = {}): Promise<JobPage> {
    return unwrap(this.api.GET('/v1/jobs', { params: { query } }));
  }

  /** The id of the one job whose id starts with `prefix` (any length, as git takes commit ids). */
  resolveJobId(prefix: string): Promise<string> {
    return resolveId('job', prefix, (query) => this.jobs(query));
  }

  cancel(id: string): Promise<Job> {
    return unwrap(this.api.POST('/v1/jobs/{id}/cancel', { params: { path: { id } } }));
  }

  pause(id: string): Promise<Job> {
    return unwrap(this.api.POST('/v1/jobs/{id}/pause', { params: { path: { id } } }));
  }

  resume(id: string): Promise<Job> {
    return unwrap(this.api.POST('/v1/jobs/{id}/resume', { params: { path: { id } } }));
  }

  async events(id: string, after = 0): Promise<JobEvent[]> {
    return (await unwrap(this.api.GET('/v1/jobs/{id}/events', { params: { path: { id }, query: { after } } }))).data;
  }

  async metrics(id: string, scope: 'batch' | 'epoch' = 'epoch'): Promise<Metric[]> {
    return (await unwrap(this.api.GET('/v1/jobs/{id}/metrics', { params: { path: { id }, query: { scope } } }))).data;
  }

  async checkpoints(id: string): Promise<Checkpoint[]> {
    return (await unwrap(this.api.GET('/v1/jobs/{id}/checkpoints', { params: { path: { id } } }))).data;
  }

  /** `uncertainty`: T passes with dropout on, answered with their mean and its uncertainty (MC dropout). */
  predict(id: string, inputs: unknown[], checkpoint?: string, uncertainty?: UncertaintyRequest): Promise<PredictResponse> {
    return unwrap(
      this.api.POST('/v1/jobs/{id}/predict', { params: { path: { id } }, body: { inputs, ...(checkpoint ? { checkpoint } : {}), ...(uncertainty ? { uncertainty } : {}) } }),
    );
  }

  /** The final model's files (model.json and weights.bin), as TF.js saves them. */
  /** Uploads a data set's file as it is (a Blob streams from disk: fs.openAsBlob); the server checks and names what is wrong. */
  uploadDataset(file: Blob, contentType: string, query: UploadQuery): Promise<UploadedDataset> {
    return unwrap(
      this.api.POST('/v1/datasets', {
        params: { query },
        // The document types the body by content type; the bytes go as they are, whichever it is.
        body: file as never,
        bodySerializer: (body: unknown) => body as Blob,
        headers: { 'content-type': contentType },
      }),
    );
  }

  /** The final model's files; `preprocessing` is null when nothing was fitted (no scaling, not a text set). */
  async model(id: string): Promise<{ modelJson: Buffer; weights: Buffer; preprocessing: Buffer | null }> {
    const get = async (file: 'model.json' | 'weights.bin' | 'preprocessing.json') =>
      Buffer.from(await unwrap(this.api.GET('/v1/jobs/{id}/model/{file}', { params: { path: { id, file } }, parseAs: 'arrayBuffer' })));
    const preprocessing = await get('preprocessing.json');
    const fitted = (JSON.parse(preprocessing.toString('utf8')) as { preprocessing: unknown }).preprocessing !== null;
    return { modelJson: await get('model.json'), weights: await get('weights.bin'), preprocessing: fitted ? preprocessing : null };
  }

  /**
   * Follows a job's events over its websocket from `after` on, until the job ends; reconnects
   * with the last sequence number seen, so nothing is missed or repeated.
   */
  follow(id: string, onEvent: (event: StreamEventMessage) => void, after = 0): Promise<void> {
    return this.followStream<StreamMessage, StreamEventMessage>(
      `/v1/jobs/${encodeURIComponent(id)}/stream`,
      after,
      (message) => (message.kind === 'event' ? message : null),
      onEvent,
      (event) => event.type === 'status' && isTerminal(event.data.status),
    );
  }

  /** A study as submitted: the resolved spec, status running and no trials yet. */
  createStudy(spec: StudySpecInput): Promise<Study> {
    return unwrap(this.api.POST('/v1/studies', { body: spec }));
  }

  /** The study with its trials table, best trial and compute used. */
  study(id: string): Promise<Study> {
    return unwrap(this.api.GET('/v1/studies/{id}', { params: { path: { id } } }));
  }

  studies(query: ListStudiesQuery = {}): Promise<StudyPage> {
    return unwrap(this.api.GET('/v1/studies', { params: { query } }));
  }

  /** The one study whose id starts with `prefix`, as resolveJobId finds jobs. */
  resolveStudyId(prefix: string): Promise<string> {
    return resolveId('study', prefix, (query) => this.studies(query));
  }

  async studyEvents(id: string, after = 0, limit?: number): Promise<StudyEvent[]> {
    return (await unwrap(this.api.GET('/v1/studies/{id}/events', { params: { path: { id }, query: { after, ...(limit ? { limit } : {}) } } }))).data;
  }

  pauseStudy(id: string): Promise<Study> {
    return unwrap(this.api.POST('/v1/studies/{id}/pause', { params: { path: { id } } }));
  }

  resumeStudy(id: string): Promise<Study> {
    return unwrap(this.api.POST('/v1/studies/{id}/resume', { params: { path: { id } } }));
  }

  cancelStudy(id: string): Promise<Study> {
    return unwrap(this.api.POST('/v1/studies/{id}/cancel', { params: { path: { id } } }));
  }

  /** A new job with the best trial's spec, trained from scratch to `epochs` (the study's maxEpochs by default). */
  trainBest(id: string, options: TrainBestOptions = {}): Promise<TrainedBestJob> {
    return unwrap(this.api.POST('/v1/studies/{id}/train-best', { params: { path: { id } }, body: options }));
  }

  /**
   * Follows a study's events over its websocket from `after` on, until the study ends; as
   * follow() does, it reconnects after the last sequence number seen.
   */
  watchStudy(id: string, onEvent: (event: StudyStreamEventMessage) => void, after = 0): Promise<void> {
    return this.followStream<StudyStreamMessage, StudyStreamEventMessage>(
      `/v1/studies/${encodeURIComponent(id)}/stream`,
      after,
      (message) => (message.kind === 'studyEvent' ? message : null),
      onEvent,
      (event) => event.type === 'status' && studyEnded(event.data.status),
    );
  }

  /**
   * A stream of numbered events until `ends` says one was the last; a connection that closes
   * before it (a restart, an outage's 1013) is opened again after the last seq seen.
   */
  private followStream<Message, Event extends { seq: number }>(
    path: string,
    after: number,
    eventOf: (message: Message) => Event | null,
    onEvent: (event: Event) => void,
    ends: (event: Event) => boolean,
  ): Promise<void> {
    return new Promise((resolve, reject) => {
      let last = after;
      let finished = false;
      let refused = false;
      const connect = () => {
        const socket = new WebSocket(`${this.base.replace(/^http/, 'ws')}${path}?after=${last}`, { headers: this.auth });
        socket.on('message', (raw) => {
          const event = eventOf(JSON.parse(String(raw)) as Message);
          if (!event) return;
          last = event.seq;
          onEvent(event);
          if (ends(event)) finished = true;
        });
        socket.on('unexpected-response', (_request, response) => {
          refused = true;
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('end', () => {
            let problem: Problem | null = null;
            try {
              problem = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Problem;
            } catch {
              // Not a problem body: the status says enough.
            }
            reject(new TrainyardApiError(response.statusCode ?? 0, problem));
          });
        });
        socket.on('error', () => undefined);
        socket.on('close', () => {
          // A refused upgrade rejects once its problem body is read.
          if (refused) return;
          if (finished) resolve();
          else setTimeout(connect, 500);
        });
      };
      connect();
    });
  }
}

/**
 * The id of the one job or study whose id starts with `prefix` (any length, as git takes commit
 * ids). Ids are time-ordered (UUIDv7) and listed newest first, so the ones with a prefix are the
 * first ones listed below the prefix's upper bound.
 */
async function resolveId(kind: string, prefix: string, list: (query: { limit: number; after?: string }) => Promise<{ data: { id: string }[]; hasMore: boolean }>): Promise<string> {
  const wanted = canonicalIdPrefix(prefix);
  if (!wanted) throw new Error(`"${prefix}" is not a ${kind} id or the start of one`);
  if (wanted.length === 36) return wanted;
  const after = idPrefixBound(wanted);
  const page = await list({ limit: 2, ...(after ? { after } : {}) });
  const matches = page.data.filter((item) => item.id.startsWith(wanted));
  if (matches.length === 0) throw new Error(`no ${kind} id starts with ${prefix}`);
  if (matches.length > 1) throw new Error(`${prefix} is ambiguous: ${matches.map((item) => item.id).join(', ')}${page.hasMore ? ', …' : ''}; give more characters`);
  return matches[0]!.id;
}
