import type { SwaggerTransform } from '@fastify/swagger';
import { jsonSchemaTransform } from 'fastify-type-provider-zod';
import type { OpenAPIV3_1 } from 'openapi-types';
import { routeAccess } from '../plugins/auth.js';
import { problemSchema } from '../schemas/job-schemas.js';
import { PROBLEM_MEDIA_TYPE, problemResponses, type ProblemStatus } from './problem-responses.js';
import { rateLimitHeaders, type ResponseHeaderName } from './response-headers.js';

type SchemaObject = OpenAPIV3_1.SchemaObject;

/** What a route's zod schemas cannot say: a body it reads itself, answers that are not JSON, headers it sets. */
export interface OperationDocs {
  /** A body the handler reads as a stream (the zod validator never sees it), by media type. */
  requestBody?: { content: Record<string, SchemaObject> };
  /** Answers that are files or text rather than JSON, by status. */
  responses?: Record<number, { description: string; content: Record<string, SchemaObject> }>;
  /** Headers the handler sets on an answer, by status (those every answer has are added for it). */
  headers?: Partial<Record<number, readonly ResponseHeaderName[]>>;
}

declare module 'fastify' {
  interface FastifySchema {
    openapi?: OperationDocs;
  }
}

/** Carries each operation's response headers from this transform to the document's (see document-finishing.ts), which removes it. */
export const HEADERS_EXTENSION = 'x-trainyard-response-headers';
export type HeaderPlan = { all: readonly ResponseHeaderName[] } & Partial<Record<string, readonly ResponseHeaderName[]>>;

const methodsWithBody = new Set(['POST', 'PUT', 'PATCH']);

const problemContent = (status: ProblemStatus) => ({ description: problemResponses[status].description, content: { [PROBLEM_MEDIA_TYPE]: { schema: problemSchema } } });

/**
 * Documents what every operation answers besides its own responses, from what decides it: the
 * input guard that checks every path and query (400), the route's access (401 and 429 wherever a
 * key is checked and counted, 403 on the admin API, 503 wherever PostgreSQL or Redis is reached)
 * and whether its method carries a body (413, 415). Problem answers are application/problem+json.
 * Public routes are marked as needing no key.
 */
export const operationTransform: SwaggerTransform = (document) => {
  const { schema, route } = document;
  if (!schema || schema.hide) return jsonSchemaTransform(document);
  const where = `${[route.method].flat().join(',')} ${route.url}`;
  if (!schema.operationId) throw new Error(`${where} has no operationId: every documented route names its operation`);

  const access = routeAccess(route.url, route.config);
  const takesBody = [route.method].flat().some((method) => methodsWithBody.has(method));
  const added: ProblemStatus[] =
    access === 'public' ? [400] : [400, 401, ...(access === 'admin' ? [403 as const] : []), ...(takesBody ? [413 as const, 415 as const] : []), 429, 503];

  const response: Record<string, unknown> = {};
  for (const [status, value] of Object.entries((schema.response ?? {}) as Record<string, unknown>)) {
    if (value !== problemSchema) response[status] = value;
    else if (Number(status) in problemResponses) response[status] = problemContent(Number(status) as ProblemStatus);
    else throw new Error(`${where}: a problem answer with status ${status} has no entry in problem-responses.ts`);
  }
  for (const status of added) response[status] ??= problemContent(status);

  const { openapi, ...zodSchema } = schema;
  const transformed = jsonSchemaTransform({ ...document, schema: { ...zodSchema, response } });
  const out = transformed.schema as Record<string, unknown> & { response: Record<string, unknown> };
  if (openapi?.requestBody) out.body = { content: mediaTypes(openapi.requestBody.content) };
  for (const [status, { description, content }] of Object.entries(openapi?.responses ?? {})) {
    out.response = { ...out.response, [status]: { description, content: mediaTypes(content) } };
  }
  if (access === 'public') out.security = [];
  const plan: HeaderPlan = { all: ['x-request-id', ...(access === 'public' ? [] : rateLimitHeaders)], ...openapi?.headers };
  out[HEADERS_EXTENSION] = plan;
  // Fastify answers a prefix's root with and without its final slash (/docs, /docs/): one path documents both.
  return { schema: out, url: transformed.url.length > 1 ? transformed.url.replace(/\/$/, '') : transformed.url };
};

const mediaTypes = (content: Record<string, SchemaObject>) => Object.fromEntries(Object.entries(content).map(([type, schema]) => [type, { schema }]));
