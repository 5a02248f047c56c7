import { Redis, type RedisOptions } from 'ioredis';
import { trainingThreadLimit, type Config } from '../config/config.js';
import { ensureDatabase } from '../db/database.js';
import { migrate } from '../db/migrator.js';
import { closeDatabase, createDatabase, type PrismaClient } from '../db/prisma.js';
import { DatasetService } from '../datasets/dataset-service.js';
import { JobEventPublisher } from '../events/job-event-publisher.js';
import { JobLifecycle } from '../jobs/job-lifecycle.js';
import { JobService } from '../jobs/job-service.js';
import { JobStore } from '../jobs/job-store.js';
import type { Logger } from '../logging/logger.js';
import { WorkerRegistry } from '../observability/worker-registry.js';
import { KeyCache } from '../projects/key-cache.js';
import { announceKeyRevocation } from '../projects/key-revocations.js';
import { ProjectService } from '../projects/project-service.js';
import { TrainingQueues } from '../queue/training-queues.js';
import { StudyEventPublisher } from '../studies/study-event-publisher.js';
import { StudyScheduler } from '../studies/study-scheduler.js';
import { StudyService } from '../studies/study-service.js';
import { StudyStore } from '../studies/study-store.js';
import { checkPostgres, checkRedis } from './dependency-check.js';

/** The connections and domain services one process shares; `close` releases all of them. */
export interface Services {
  config: Config;
  logger: Logger;
  prisma: PrismaClient;
  redis: Redis;
  queues: TrainingQueues;
  workers: WorkerRegistry;
  store: JobStore;
  publisher: JobEventPublisher;
  jobs: JobService;
  datasets: DatasetService;
  lifecycle: JobLifecycle;
  projects: ProjectService;
  studyStore: StudyStore;
  studies: StudyService;
  /** A scheduler of studies on these services (started by the caller; see STUDY_SCHEDULER). */
  newStudyScheduler(overrides?: { intervalMs?: number; leaseMs?: number }): StudyScheduler;
  /**
   * A new Redis connection that waits an outage out: its commands wait for the reconnect, however
   * long (BullMQ workers' blocking connections need this). Closed with the rest.
   */
  newRedisConnection(purpose: string): Redis;
  /**
   * A new Redis connection, connected, whose commands fail at once while Redis is unreachable
   * (see failFastRedisOptions): for what a client is waiting on. Closed with the rest.
   */
  connectFailFast(purpose: string): Promise<Redis>;
  close(): Promise<void>;
}

/** How long a command may wait for Redis's answer on a fail-fast connection: a server that hangs rather than refusing. */
export const REDIS_COMMAND_TIMEOUT_MS = 2_000;

/**
 * ioredis queues a command sent while disconnected and resends the ones in flight after the
 * reconnect, so by default a request waits for as long as Redis is down. On these connections a
 * command fails at once instead (the API answers 503), while the connection itself still
 * reconnects forever in the background: the API recovers as soon as Redis is back.
 */
export const failFastRedisOptions = {
  lazyConnect: true,
  // Refused while disconnected ("Stream isn't writeable…")…
  enableOfflineQueue: false,
  // …and failed when the connection drops under them, rather than resent after the reconnect.
  maxRetriesPerRequest: 0,
  commandTimeout: REDIS_COMMAND_TIMEOUT_MS,
} as const satisfies RedisOptions;

/** Checks PostgreSQL and Redis, creates and migrates the database, then wires the services. */
export async function createServices(config: Config, logger: Logger): Promise<Services> {
  await Promise.all([checkPostgres(config.DATABASE_URL), checkRedis(config.REDIS_URL)]);
  if (config.MIGRATE_ON_START) {
    if (await ensureDatabase(config.DATABASE_URL)) logger.info('created the database');
    const result = await migrate(config.DATABASE_URL);
    if (result.applied.length > 0) logger.info({ applied: result.applied }, 'applied database migrations');
  }

  const extra: Redis[] = [];
  const track = (connection: Redis, purpose: string): Redis => {
    connection.on('error', (error) => logger.warn({ err: error, purpose }, 'redis connection error'));
    extra.push(connection);
    return connection;
  };
  // BullMQ requires maxRetriesPerRequest: null on blocking connections.
  const newRedisConnection = (purpose: string): Redis => track(new Redis(config.REDIS_URL, { maxRetriesPerRequest: null, connectionName: `trainyard:${purpose}` }), purpose);
  const connectFailFast = async (purpose: string): Promise<Redis> => {
    const connection = track(new Redis(config.REDIS_URL, { ...failFastRedisOptions, connectionName: `trainyard:${purpose}` }), purpose);
    // Without an offline queue, a command sent before the connection is ready would fail.
    await connection.connect();
    return connection;
  };

  const database = createDatabase(config.DATABASE_URL);
  const { prisma } = database;
  // Queues, rate limits, worker presence, event announcements: each a request may wait on.
  const redis = await connectFailFast('commands');
  const queues = new TrainingQueues(redis, config.QUEUE_PREFIX);
  const workers = new WorkerRegistry(redis, config.QUEUE_PREFIX, config.WORKER_HEARTBEAT_MS);
  const store = new JobStore(prisma, database.pool);
  // A connection of its own: BullMQ defines its Lua scripts on `redis`, and ioredis copies every
  // defined script into each pipeline it makes — a third of a job submission's CPU when shared.
  const publisher = new JobEventPublisher(await connectFailFast('publisher'), config.QUEUE_PREFIX);
  const datasets = new DatasetService(prisma, config.DATA_DIR, config.UPLOAD_LIMIT_BYTES, { maxEntries: config.ARCHIVE_MAX_ENTRIES, maxUncompressedBytes: config.ARCHIVE_MAX_UNCOMPRESSED_BYTES });
  const jobs = new JobService({
    store,
    queues,
    publisher,
    datasets,
    workers,
    redis,
    prefix: config.QUEUE_PREFIX,
    logger,
    artifactDir: config.ARTIFACT_DIR,
    projectMaxRunningJobs: config.PROJECT_MAX_RUNNING_JOBS,
    limits: { memoryBytes: config.WORKER_MEMORY_LIMIT_MB * 2 ** 20, threads: trainingThreadLimit(config), inMemoryBytes: config.TRAINING_IN_MEMORY_BYTES },
  });
  const studyStore = new StudyStore(prisma);
  const studyPublisher = new StudyEventPublisher(publisher.connection, config.QUEUE_PREFIX);

  return {
    config,
    logger,
    prisma,
    redis,
    queues,
    workers,
    store,
    publisher,
    jobs,
    studyStore,
    studies: new StudyService({ store: studyStore, jobs, publisher: studyPublisher, prisma, logger }),
    newStudyScheduler: (overrides = {}) =>
      new StudyScheduler({
        studies: studyStore,
        jobStore: store,
        jobs,
        publisher: studyPublisher,
        logger,
        artifactDir: config.ARTIFACT_DIR,
        intervalMs: overrides.intervalMs ?? config.STUDY_SCHEDULER_INTERVAL_MS,
        leaseMs: overrides.leaseMs ?? config.STUDY_LEASE_MS,
      }),
    datasets,
    lifecycle: new JobLifecycle(store, publisher, logger),
    projects: new ProjectService(prisma, {
      cache: new KeyCache(config.KEY_CACHE_TTL_MS),
      announceRevocation: (hash) =>
        announceKeyRevocation(redis, config.QUEUE_PREFIX, hash).catch((error: unknown) =>
          logger.warn({ err: error }, `could not announce a key revocation: other API processes accept the key for up to ${config.KEY_CACHE_TTL_MS} ms`),
        ),
    }),
    newRedisConnection,
    connectFailFast,
    async close() {
      await queues.close();
      await Promise.all(extra.map((connection) => connection.quit().catch(() => connection.disconnect())));
      await closeDatabase(database);
    },
  };
}
