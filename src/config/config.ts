import os from 'node:os';
import { z } from 'zod';

const booleanFromEnv = z
  .enum(['true', 'false', '1', '0'])
  .transform((value) => value === 'true' || value === '1');

export const backendPreferenceSchema = z.enum(['auto', 'tensorflow', 'webgpu', 'native', 'wasm', 'cpu']);
export type BackendPreference = z.infer<typeof backendPreferenceSchema>;

/** Dawn's backend for WebGPU: Vulkan on Linux GPUs; OpenGL(ES) reaches Mesa's llvmpipe where there is none. */
export const webgpuBackendSchema = z.enum(['vulkan', 'opengl', 'opengles', 'metal', 'd3d12']);
export type WebgpuBackend = z.infer<typeof webgpuBackendSchema>;

const configSchema = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  HOST: z.string().default('0.0.0.0'),
  DATABASE_URL: z.url().default('postgresql://postgres@127.0.0.1:5432/trainyard'),
  REDIS_URL: z.url().default('redis://127.0.0.1:6379'),
  // Namespaces every BullMQ key and pub/sub channel, so test runs and deployments sharing a Redis never meet.
  QUEUE_PREFIX: z.string().regex(/^[A-Za-z0-9_-]+$/).default('trainyard'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  TRAINYARD_BACKEND: backendPreferenceSchema.default('auto'),
  // For the webgpu backend: Dawn's backend, and an adapter by name when there are several.
  WEBGPU_BACKEND: webgpuBackendSchema.default('vulkan'),
  WEBGPU_ADAPTER: z.string().min(1).optional(),
  // Threads the native backend's kernels split their work over, per training process. Keep WORKER_CONCURRENCY × this ≤ cores.
  BLAS_THREADS: z.coerce.number().int().min(1).max(64).default(1),
  WORKER_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(1),
  // Training threads a distributed job may start per training process (workers: "auto" takes this many; default: the cores).
  TRAINING_THREADS: z.coerce.number().int().min(1).max(64).optional(),
  // An upload whose features.f32 is larger than this is not loaded: the training process keeps its
  // labels and row order and reads feature rows from the file a batch at a time (docs/jobs.md). 0 streams every table upload.
  TRAINING_IN_MEMORY_BYTES: z.coerce.number().int().min(0).default(536_870_912),
  // How often workers announce themselves (GET /v1/workers, /metrics); an entry lapses after three missed beats.
  WORKER_HEARTBEAT_MS: z.coerce.number().int().min(100).default(5000),
  // Requests larger than this get 413; job specs are small, uploads have their own limit.
  BODY_LIMIT_BYTES: z.coerce.number().int().min(1024).default(1_048_576),
  // Slow clients: all request headers within HEADERS_TIMEOUT_MS (at least IDLE_TIMEOUT_MS), the
  // whole request (an upload included) within REQUEST_TIMEOUT_MS, and no connection silent for
  // longer than IDLE_TIMEOUT_MS.
  HEADERS_TIMEOUT_MS: z.coerce.number().int().min(100).default(10_000),
  REQUEST_TIMEOUT_MS: z.coerce.number().int().min(100).default(120_000),
  IDLE_TIMEOUT_MS: z.coerce.number().int().min(100).default(10_000),
  SHUTDOWN_TIMEOUT_MS: z.coerce.number().int().min(100).default(15_000),
  MIGRATE_ON_START: booleanFromEnv.default(true),
  // Check every response against its schema before sending it (the test suite does); off, responses
  // are only projected onto their schema, which is several times cheaper.
  RESPONSE_CHECKS: booleanFromEnv.default(false),
  // Checkpoints and exported models live here (shared by every worker and API of a deployment).
  ARTIFACT_DIR: z.string().min(1).default('data/artifacts'),
  // Uploaded data sets (original file and the trainer's binary form), shared like ARTIFACT_DIR.
  DATA_DIR: z.string().min(1).default('data/datasets'),
  UPLOAD_LIMIT_BYTES: z.coerce.number().int().min(1024).default(104_857_600),
  // Image archives: a few hundred bytes of zip can claim millions of entries or inflate to
  // gigabytes, so both are bounded while the archive is read, whatever its headers say.
  ARCHIVE_MAX_ENTRIES: z.coerce.number().int().min(1).default(50_000),
  ARCHIVE_MAX_UNCOMPRESSED_BYTES: z.coerce.number().int().min(1024).default(1_073_741_824),
  // BullMQ lock duration (the stalled-job check runs every half of it): how soon a dead worker's job is handed on.
  QUEUE_LOCK_MS: z.coerce.number().int().min(500).default(10_000),
  // A worker renews its lease on a running job every quarter of this and stops training (fenced)
  // when it could not for 80 % of it; an expired lease may be taken over. PostgreSQL outages
  // shorter than this are ridden out.
  LEASE_MS: z.coerce.number().int().min(500).default(10_000),
  // Websocket streams: an application-level heartbeat (browsers cannot see ping frames) and the
  // most a slow client may have waiting to be sent before it is dropped.
  STREAM_HEARTBEAT_MS: z.coerce.number().int().min(100).default(15_000),
  STREAM_MAX_BUFFERED_BYTES: z.coerce.number().int().min(1024).default(1_048_576),
  // How often a worker re-queues jobs PostgreSQL has but Redis lost.
  RECONCILE_INTERVAL_MS: z.coerce.number().int().min(500).default(30_000),
  // Studies' schedulers (src/studies/study-scheduler.ts) run in every API and worker process; one at a
  // time decides for a study, under a lease of STUDY_LEASE_MS renewed at every look (every
  // STUDY_SCHEDULER_INTERVAL_MS). A killed scheduler's studies are taken over once its lease lapses.
  STUDY_SCHEDULER: booleanFromEnv.default(true),
  STUDY_SCHEDULER_INTERVAL_MS: z.coerce.number().int().min(50).default(1_000),
  STUDY_LEASE_MS: z.coerce.number().int().min(500).default(15_000),
  // "off" serves every request as the project "default" without a key: for local use only, never the default.
  AUTH_MODE: z.enum(['required', 'off']).default('required'),
  // How long an API process trusts a key it has looked up. A revocation reaches every process at
  // once over Redis; this bounds the time a revocation whose announcement was lost goes unnoticed.
  KEY_CACHE_TTL_MS: z.coerce.number().int().min(0).default(10_000),
  // Bearer token of the /v1/admin endpoints (projects and API keys); unset, they answer 403.
  ADMIN_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  // Requests each API key (or, without auth, each client address) may make per window; 429 with Retry-After beyond.
  RATE_LIMIT_MAX: z.coerce.number().int().min(1).default(600),
  RATE_LIMIT_WINDOW_MS: z.coerce.number().int().min(100).default(60_000),
  // Failed requests (invalid input, wrong or missing keys) each client address may make per window
  // before all its requests get 429 until the window ends: counted before authentication.
  FAILURE_LIMIT_MAX: z.coerce.number().int().min(1).default(120),
  FAILURE_LIMIT_WINDOW_MS: z.coerce.number().int().min(100).default(60_000),
  // Jobs of one project that may train at once, unless the project sets its own (PATCH /v1/admin/projects/{name}).
  PROJECT_MAX_RUNNING_JOBS: z.coerce.number().int().min(1).default(4),
  // How long a job waiting for its project's slot stays delayed before a worker looks again.
  PROJECT_SLOT_RETRY_MS: z.coerce.number().int().min(50).default(5_000),
  // Origins allowed to call the API from a browser (comma-separated, or "*"); empty: same origin only.
  CORS_ORIGINS: z.string().default(''),
  // The device class this worker serves: "auto" is gpu when its backend runs on a GPU, cpu otherwise.
  WORKER_DEVICE: z.enum(['auto', 'cpu', 'gpu']).default('auto'),
  // Memory one training process may use (a job's whole estimate, and the RSS its process is killed
  // at); default: half the machine's (or container's) memory shared by WORKER_CONCURRENCY processes,
  // at most 8 GiB (docs/limits.md). Set it alike on the API (which refuses bigger jobs) and the workers.
  WORKER_MEMORY_LIMIT_MB: z.coerce.number().int().min(128).optional(),
});

export type Config = Omit<z.infer<typeof configSchema>, 'WORKER_MEMORY_LIMIT_MB'> & { WORKER_MEMORY_LIMIT_MB: number };

/** The memory the machine gives this process: its RAM, or a cgroup's limit when lower (a container). */
export function machineMemoryBytes(): number {
  const total = os.totalmem();
  const constrained = process.constrainedMemory?.() ?? 0;
  return constrained > 0 && constrained < total ? constrained : total;
}

/** WORKER_MEMORY_LIMIT_MB's default: half the memory, shared by the worker's training processes, at most 8 GiB. */
export function defaultWorkerMemoryLimitMb(concurrency = 1, memoryBytes = machineMemoryBytes()): number {
  return Math.max(128, Math.min(8192, Math.floor(memoryBytes / 2 / concurrency / 2 ** 20)));
}

/** Training threads a distributed job may start: TRAINING_THREADS, else the cores. */
export function trainingThreadLimit(config: Pick<Config, 'TRAINING_THREADS'>): number {
  return config.TRAINING_THREADS ?? os.availableParallelism();
}

/**
 * The settings a training process needs, read from the environment its worker passes down (the
 * worker validated them with the rest); the bench reads the same ones.
 */
export const trainingProcessSettingsSchema = configSchema.pick({
  TRAINYARD_BACKEND: true,
  WEBGPU_BACKEND: true,
  WEBGPU_ADAPTER: true,
  BLAS_THREADS: true,
  TRAINING_THREADS: true,
  TRAINING_IN_MEMORY_BYTES: true,
});

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Reads and validates the environment once; every bad variable is named in one message. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const result = configSchema.safeParse(env);
  if (!result.success) {
    const problems = result.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
    throw new ConfigError(`invalid configuration: ${problems.join('; ')}`);
  }
  const config = result.data;
  return { ...config, WORKER_MEMORY_LIMIT_MB: config.WORKER_MEMORY_LIMIT_MB ?? defaultWorkerMemoryLimitMb(config.WORKER_CONCURRENCY) };
}
