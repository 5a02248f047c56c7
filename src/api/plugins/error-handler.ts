import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { UploadInvalidError, problemLocation } from '../../datasets/tabular-parser.js';
import { ConflictError, PayloadTooLargeError, ResourceLimitError, TooManyRequestsError, TrainyardError, UnauthorizedError, ValidationError, fieldFromPath, type FieldProblem } from '../../errors/errors.js';
import { unavailableFrom } from '../../infra/dependency-errors.js';

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  instance: string;
  requestId?: string;
  errors?: ProblemEntry[];
  /** How many problems there were when `errors` lists only the first MAX_LISTED_PROBLEMS. */
  errorCount?: number;
}

type ProblemEntry = FieldProblem & { in?: string; row?: number; column?: string; value?: string };

/**
 * An error body stays small whatever the request: a spec of 30 000 unknown keys must not buy a
 * 5 MB answer. The first problems are listed, each string cut to a readable length, and counted.
 */
export const MAX_LISTED_PROBLEMS = 20;
const MAX_TEXT = 300;
const MAX_DETAIL = 2_000;

const cut = (text: string, limit = MAX_TEXT) => (text.length <= limit ? text : `${text.slice(0, limit - 1)}…`);

function bounded({ errorCount, ...problem }: ProblemInput): ProblemInput {
  const { errors } = problem;
  if (!errors) return { ...problem, detail: cut(problem.detail, MAX_DETAIL) };
  const total = Math.max(errorCount ?? 0, errors.length);
  const listed = errors.slice(0, MAX_LISTED_PROBLEMS).map((entry) => {
    const copy: ProblemEntry = { ...entry, field: cut(entry.field), message: cut(entry.message) };
    if (entry.column !== undefined) copy.column = cut(entry.column);
    if (entry.value !== undefined) copy.value = cut(entry.value);
    return copy;
  });
  const more = total > listed.length;
  const detail = more ? `${total} problems; the first ${listed.length}: ${listed.map((e) => `${e.field}: ${e.message}`).join('; ')}` : problem.detail;
  return { ...problem, detail: cut(detail, MAX_DETAIL), errors: listed, ...(more ? { errorCount: total } : {}) };
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

export function sendProblem(reply: FastifyReply, request: FastifyRequest, input: ProblemInput): FastifyReply {
  const { extensions, ...problem } = bounded(input);
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
      let total = 0;
      for (const issue of error.validation) {
        const path = issue.instancePath.split('/').filter(Boolean);
        const keys = (issue.params as { keys?: unknown }).keys;
        const unknownKeys = issue.keyword === 'unrecognized_keys' && Array.isArray(keys) ? keys : null;
        total += unknownKeys ? unknownKeys.length : 1;
        if (errors.length >= MAX_LISTED_PROBLEMS) continue;
        if (unknownKeys) {
          for (const key of unknownKeys.slice(0, MAX_LISTED_PROBLEMS - errors.length)) errors.push({ in: location, field: fieldFromPath([...path, String(key) || '""']), message: 'unknown field' });
        } else {
          errors.push({ in: location, field: fieldFromPath(path) || '(root)', message: issue.message ?? 'invalid' });
        }
      }
      return sendProblem(reply, request, {
        title: 'Invalid request',
        status: 400,
        detail: `${total} problem${total === 1 ? '' : 's'}: ${errors.map((e) => `${e.field}: ${e.message}`).join('; ')}`,
        errors,
        errorCount: total,
      });
    }
    if (error instanceof UploadInvalidError) {
      return sendProblem(reply, request, {
        title: 'Unprocessable upload',
        status: 422,
        detail: error.message,
        errors: error.problems.map((problem) => ({ ...problem, field: problemLocation(problem) })),
        ...(error.total > error.problems.length ? { errorCount: error.total } : {}),
      });
    }
    if (error instanceof ValidationError) {
      return sendProblem(reply, request, { title: error.title, status: error.status, detail: error.message, errors: error.errors });
    }
    if (error instanceof ResourceLimitError) {
      return sendProblem(reply, request, { title: error.title, status: error.status, detail: error.message, errors: error.errors, extensions: error.extensions });
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
    // A dependency that is down is the client's to retry (503 + Retry-After), not a bug of ours (500).
    const unavailable = unavailableFrom(error);
    if (unavailable) {
      // One line per refused request: the driver's whole error (Prisma's quotes the source) would flood the log of an outage.
      const reason = (unavailable.cause instanceof Error ? unavailable.cause : unavailable).message.trim().split('\n').at(-1);
      request.log.warn({ dependency: unavailable.dependency, reason }, 'dependency unavailable: answered 503');
      reply.header('retry-after', String(unavailable.retryAfterSeconds));
      return sendProblem(reply, request, {
        title: unavailable.title,
        status: unavailable.status,
        detail: unavailable.message,
        extensions: { retryAfterSeconds: unavailable.retryAfterSeconds, ...(unavailable.dependency ? { dependency: unavailable.dependency } : {}) },
      });
    }
    if (error instanceof PayloadTooLargeError) {
      return sendProblem(reply, request, { title: error.title, status: error.status, detail: error.message, errors: [{ ...fieldOfClientError[413]!, message: error.message }] });
    }
    if (error instanceof TrainyardError) {
      return sendProblem(reply, request, { title: error.title, status: error.status, detail: error.message });
    }
    // Fastify's own client errors (malformed JSON, body too large, wrong content type) keep their status.
    const status = error.statusCode ?? 500;
    if (status >= 400 && status < 500) {
      const detail = status === 415 ? `${error.message}: send the body as JSON (content-type: application/json)` : error.message;
      const field = fieldOfClientError[status];
      return sendProblem(reply, request, { title: titleFor(status), status, detail, ...(field ? { errors: [{ ...field, message: detail }] } : {}) });
    }
    request.log.error({ err: error }, 'unhandled error');
    return sendProblem(reply, request, { title: 'Internal Server Error', status: 500, detail: 'an unexpected error occurred; it has been logged' });
  });

  app.setNotFoundHandler((request, reply) =>
    sendProblem(reply, request, { title: 'Not Found', status: 404, detail: `no route ${request.method} ${request.url.split('?')[0]}` }),
  );
}

/** What Fastify's own client errors are about: the body (malformed, too large) or its declared type. */
const fieldOfClientError: Partial<Record<number, { in: string; field: string }>> = {
  400: { in: 'body', field: '(body)' },
  413: { in: 'body', field: '(body)' },
  415: { in: 'header', field: 'content-type' },
};

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
