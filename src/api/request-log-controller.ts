import { LogController, type FastifyReply, type FastifyRequest } from 'fastify';

/** Probes and scrapes: load balancers and Prometheus call them every few seconds. */
const PROBES = new Set(['/healthz', '/readyz', '/metrics']);

const isProbe = (request: FastifyRequest) => PROBES.has(request.routeOptions.url ?? '');

/**
 * Fastify's request log lines, with the probes' moved to debug: at info they would bury every
 * other line (a probe every 5 s is 17 000 lines a day). Their failures still log as errors.
 */
export class RequestLogController extends LogController {
  override incomingRequest(request: FastifyRequest, reply: FastifyReply, metadata?: Record<string, unknown>): void {
    if (!isProbe(request)) return super.incomingRequest(request, reply, metadata);
    request.log.debug({ req: request }, 'incoming request');
  }

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply, metadata?: Record<string, unknown>): void {
    if (!isProbe(request) || error) return super.requestCompleted(error, request, reply, metadata);
    reply.log.debug({ res: reply, responseTime: reply.elapsedTime }, 'request completed');
  }
}
