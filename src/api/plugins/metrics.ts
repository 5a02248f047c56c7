import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { JobEventSubscriber } from '../../events/job-event-subscriber.js';
import { outageOf } from '../../infra/dependency-errors.js';
import type { Services } from '../../infra/services.js';
import { jobStatuses } from '../../jobs/job-types.js';
import { terminalStatuses } from '../../jobs/job-state-machine.js';

/**
 * A gauge read from PostgreSQL or Redis has no samples while that one is down, and the scrape
 * still answers: an outage is when the HTTP metrics (its 503s) matter most.
 */
async function unlessDown<T extends string>(gauge: Gauge<T>, read: () => Promise<void>): Promise<void> {
  try {
    await read();
  } catch (error) {
    if (!outageOf(error)) throw error;
    gauge.reset();
  }
}

/**
 * Prometheus metrics at GET /metrics, one registry per app. Queue depth, jobs by state and live
 * workers are read when scraped; epoch durations and training speed come from the all-jobs event
 * feed, so the API reports on training wherever the workers run.
 */
export function metricsPlugin(services: Services, subscriber: JobEventSubscriber) {
  return fp(async (app: FastifyInstance) => {
    const registry = new Registry();
    collectDefaultMetrics({ register: registry, prefix: 'trainyard_' });
    const workers = services.workers;

    const http = new Histogram({
      name: 'trainyard_http_request_duration_seconds',
      help: 'HTTP request latency by method, route pattern and status',
      labelNames: ['method', 'route', 'status'] as const,
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    });
    new Gauge({
      name: 'trainyard_queue_jobs',
      help: 'BullMQ jobs per queue and state',
      labelNames: ['queue', 'state'] as const,
      registers: [registry],
      async collect() {
        await unlessDown(this, async () => {
          for (const queue of services.queues.all()) {
            const counts = await queue.getJobCounts('waiting', 'prioritized', 'active', 'delayed', 'failed', 'completed');
            for (const [state, count] of Object.entries(counts)) this.set({ queue: queue.name, state }, count);
          }
        });
      },
    });
    new Gauge({
      name: 'trainyard_jobs',
      help: 'Jobs by status (PostgreSQL)',
      labelNames: ['status'] as const,
      registers: [registry],
      async collect() {
        await unlessDown(this, async () => {
          const rows = await services.prisma.job.groupBy({ by: ['status'], _count: { _all: true } });
          for (const status of jobStatuses) this.set({ status }, rows.find((row) => row.status === status)?._count._all ?? 0);
        });
      },
    });
    new Gauge({
      name: 'trainyard_workers',
      help: 'Training workers whose heartbeat is current',
      registers: [registry],
      async collect() {
        await unlessDown(this, async () => this.set((await workers.list()).length));
      },
    });
    const epochs = new Histogram({
      name: 'trainyard_epoch_duration_seconds',
      help: 'Duration of finished training epochs',
      buckets: [0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600],
      registers: [registry],
    });
    const speed = new Gauge({
      name: 'trainyard_training_samples_per_second',
      help: "Each running job's training speed in its last epoch",
      labelNames: ['job'] as const,
      registers: [registry],
    });

    app.addHook('onResponse', async (request, reply) => {
      // The route pattern, not the URL: ids would make every request its own series.
      http.observe({ method: request.method, route: request.routeOptions.url ?? 'unmatched', status: String(reply.statusCode) }, reply.elapsedTime / 1000);
    });

    const unsubscribe = await subscriber.subscribeSummaries((event) => {
      if (event.type === 'metrics' && event.data.scope === 'epoch') {
        const { durationMs, samplesPerSecond } = event.data as { durationMs?: number; samplesPerSecond?: number };
        if (durationMs !== undefined) epochs.observe(durationMs / 1000);
        if (samplesPerSecond !== undefined) speed.set({ job: event.jobId }, samplesPerSecond);
      } else if (event.type === 'status' && terminalStatuses.has(event.data.status as never)) {
        speed.remove({ job: event.jobId });
      }
    });
    app.addHook('onClose', async () => unsubscribe());

    const metricsSchema = {
      operationId: 'getMetrics',
      tags: ['health'],
      summary: 'Prometheus metrics: HTTP latency, queue depth, jobs by status, live workers, epoch durations, training speed',
      openapi: { responses: { 200: { description: 'The Prometheus text exposition format', content: { [registry.contentType.split(';')[0]!]: { type: 'string' as const } } } } },
    };
    app.get('/metrics', { config: { access: 'public' }, schema: metricsSchema }, async (_request, reply) => {
      return reply.header('content-type', registry.contentType).send(await registry.metrics());
    });
  });
}
