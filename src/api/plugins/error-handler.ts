import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { UploadInvalidError, problemLocation } from '../../datasets/tabular-parser.js';
import { ConflictError, TooManyRequestsError, TrainyardError, UnauthorizedError, ValidationError, fieldFromPath, type FieldProblem } from '../../errors/errors.js';

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  instance: string;
  requestId?: string;
  errors?: (FieldProblem & { in?: string; row?: number; column?: string; value?: string })[];
}

const slugByStatus: Record<number, string> = {
  400: 'invalid-request',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not-found',
  409: 'conflict',
  413: 'payload-too-large',
  415: 'unsupported-media-type',
  422: 'unprocessable',
  426: 'upgrade-required',
  429: 'too-many-requests',
  503: 'unavailable',
};

type ProblemInput = Omit<Problem, 'type' | 'instance' | 'requestId'> & { extensions?: Record<string, unknown> };

export function sendProblem(reply: FastifyReply, request: FastifyRequest, { extensions, ...problem }: ProblemInput): FastifyReply {
  // Extensions first: they may add members, never replace the standard ones.
  const body: Problem & Record<string, unknown> = {
    ...extensions,
    type: `urn:trainyard:problem:${slugByStatus[problem.status] ?? 'internal'}`,
    // Without its query: a websocket's access_token must not be echoed into bodies and logs.
    instance: request.url.split('?')[0]!,
    requestId: request.id,
    ...problem,
  };
  return reply.code(problem.status).type('application/problem+json').send(body);
}

const locationByContext: Record<string, string> = { body: 'body', querystring: 'query', params: 'path', headers: 'header' };

/** The one place where errors become HTTP responses: problem+json (RFC 9457) naming each bad field. */
async function errorHandlerPlugin(app: FastifyInstance): Promise<void> {
  app.setErrorHandler((error: FastifyError, request, reply) => {
    if (hasZodFastifySchemaValidationErrors(error)) {
      const location = locationByContext[error.validationContext ?? 'body'] ?? 'body';
      const errors: (FieldProblem & { in: string })[] = [];
      for (const issue of error.validation) {
        const path = issue.instancePath.split('/').filter(Boolean);
        const keys = (issue.params as { keys?: unknown }).keys;
        if (issue.keyword === 'unrecognized_keys' && Array.isArray(keys)) {
          for (const key of keys) errors.push({ in: location, field: fieldFromPath([...path, String(key)]), message: 'unknown field' });
        } else {
          errors.push({ in: location, field: fieldFromPath(path) || '(root)', message: issue.message ?? 'invalid' });
        }
      }
      return sendProblem(reply, request, {
        title: 'Invalid request',
        status: 400,
        detail: `${errors.length} problem${errors.length === 1 ? '' : 's'}: ${errors.map((e) => `${e.field}: ${e.message}`).join('; ')}`,
        errors,
      });
    }
    if (error instanceof UploadInvalidError) {
      return sendProblem(reply, request, {
        title: 'Unprocessable upload',
        status: 422,
        detail: error.message,
        errors: error.problems.map((problem) => ({ ...problem, field: problemLocation(problem) })),
      });
    }
    if (error instanceof ValidationError) {
      return sendProblem(reply, request, { title: error.title, status: error.status, detail: error.message, errors: error.errors });
    }
    if (error instanceof ConflictError) {
      return sendProblem(reply, request, { title: error.title, status: error.status, detail: error.message, extensions: error.extensions });
    }
    if (error instanceof UnauthorizedError) {
      reply.header('www-authenticate', 'Bearer realm="trainyard"');
    }
    if (error instanceof TooManyRequestsError) {
      reply.header('retry-after', String(error.retryAfterSeconds));
      return sendProblem(reply, request, { title: error.title, status: error.status, detail: error.message, extensions: { retryAfterSeconds: error.retryAfterSeconds } });
    }
    if (error instanceof TrainyardError) {
      return sendProblem(reply, request, { title: error.title, status: error.status, detail: error.message });
    }
    // Fastify's own client errors (malformed JSON, body too large, wrong content type) keep their status.
    const status = error.statusCode ?? 500;
    if (status >= 400 && status < 500) {
      const detail = status === 415 ? `${error.message}: send the body as JSON (content-type: application/json)` : error.message;
      return sendProblem(reply, request, { title: titleFor(status), status, detail });
    }
    request.log.error({ err: error }, 'unhandled error');
    return sendProblem(reply, request, { title: 'Internal Server Error', status: 500, detail: 'an unexpected error occurred; it has been logged' });
  });

  app.setNotFoundHandler((request, reply) =>
    sendProblem(reply, request, { title: 'Not Found', status: 404, detail: `no route ${request.method} ${request.url.split('?')[0]}` }),
  );
}

function titleFor(status: number): string {
  switch (status) {
    case 413:
      return 'Payload Too Large';
    case 415:
      return 'Unsupported Media Type';
    case 404:
      return 'Not Found';
    case 401:
      return 'Unauthorized';
    default:
      return 'Bad Request';
  }
}

export const errorHandler = fp(errorHandlerPlugin, { name: 'error-handler' });
