import type { OpenAPIV3_1 } from 'openapi-types';
import { HEADERS_EXTENSION, type HeaderPlan } from './operation-transform.js';
import { PROBLEM_MEDIA_TYPE, isProblemStatus, problemResponses, type ProblemStatus } from './problem-responses.js';
import { headerRef, rateLimitHeaders, responseHeaders, type ResponseHeaderName } from './response-headers.js';

type Document = OpenAPIV3_1.Document;
type ResponseObject = OpenAPIV3_1.ResponseObject;

const methods = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;
const problemRef = '#/components/schemas/Problem';

function isProblemResponse(response: ResponseObject): boolean {
  const media = response.content ?? {};
  const schema = media[PROBLEM_MEDIA_TYPE]?.schema as { $ref?: string } | undefined;
  return Object.keys(media).length === 1 && schema?.$ref === problemRef;
}

/**
 * The last step of generating the document, after every route is in: problem answers become
 * shared responses, response headers shared header objects, and the schemas no operation reaches
 * are dropped (the zod provider emits an input and an output variant of every registered schema,
 * and most are used in one direction only).
 */
export function finishDocument(document: Document): Document {
  const usedProblems = new Set<ProblemStatus>();
  const usedHeaders = new Set<ResponseHeaderName>();
  const refer = (names: readonly ResponseHeaderName[]) =>
    Object.fromEntries(
      names.map((name) => {
        usedHeaders.add(name);
        return [name, headerRef(name)];
      }),
    );

  for (const pathItem of Object.values(document.paths ?? {})) {
    for (const method of methods) {
      const operation = pathItem?.[method] as (OpenAPIV3_1.OperationObject & { [HEADERS_EXTENSION]?: HeaderPlan }) | undefined;
      if (!operation) continue;
      const plan = operation[HEADERS_EXTENSION];
      delete operation[HEADERS_EXTENSION];
      for (const [code, response] of Object.entries(operation.responses ?? {}) as [string, ResponseObject][]) {
        const status = Number(code);
        if (isProblemStatus(status) && isProblemResponse(response)) {
          usedProblems.add(status);
          operation.responses![code] = { $ref: `#/components/responses/${problemResponses[status].component}` };
          continue;
        }
        // A 101 is the websocket handshake, written by the websocket library rather than by a reply.
        const names = [...(status >= 200 ? (plan?.all ?? []) : []), ...(plan?.[code] ?? [])];
        if (names.length > 0) response.headers = { ...response.headers, ...refer(names) };
      }
    }
  }

  const responses: Record<string, ResponseObject> = {};
  for (const status of [...usedProblems].sort((a, b) => a - b)) {
    const { component, description, ...rest } = problemResponses[status];
    const extra = 'headers' in rest ? rest.headers : [];
    responses[component] = {
      description,
      headers: refer(['x-request-id', ...rateLimitHeaders, ...extra]),
      content: { [PROBLEM_MEDIA_TYPE]: { schema: { $ref: problemRef } } },
    };
  }
  const headers = Object.fromEntries(
    (Object.keys(responseHeaders) as ResponseHeaderName[]).filter((name) => usedHeaders.has(name)).map((name) => [responseHeaders[name].component, { ...responseHeaders[name].header }]),
  );
  const components = { ...document.components, responses, headers };
  const finished = { ...document, components };
  components.schemas = reachableSchemas(finished);
  return withPlainInputNames(finished);
}

/**
 * The zod provider names a schema's input variant `<id>Input`. One used only as input (JobSpec,
 * what POST /v1/jobs takes) is renamed to its plain id, so clients see `JobSpec`, not `JobSpecInput`.
 */
function withPlainInputNames(document: Document): Document {
  const names = new Set(Object.keys(document.components?.schemas ?? {}));
  const renames = new Map([...names].filter((name) => name.endsWith('Input') && !names.has(name.slice(0, -'Input'.length))).map((name) => [name, name.slice(0, -'Input'.length)]));
  if (renames.size === 0) return document;
  const prefix = '#/components/schemas/';
  const rename = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(rename);
    if (value === null || typeof value !== 'object') return value;
    return Object.fromEntries(
      Object.entries(value).map(([key, inner]) => {
        if (key === '$ref' && typeof inner === 'string' && inner.startsWith(prefix)) return [key, prefix + (renames.get(inner.slice(prefix.length)) ?? inner.slice(prefix.length))];
        return [key, rename(inner)];
      }),
    );
  };
  const renamed = rename(document) as Document;
  renamed.components!.schemas = Object.fromEntries(Object.entries(renamed.components!.schemas!).map(([name, schema]) => [renames.get(name) ?? name, schema]));
  return renamed;
}

/** The component schemas some operation, shared response or other schema refers to, in their original order. */
function reachableSchemas(document: Document): Record<string, OpenAPIV3_1.SchemaObject> {
  const schemas = document.components?.schemas ?? {};
  const reached = new Set<string>();
  const visit = (value: unknown): void => {
    if (Array.isArray(value)) {
      value.forEach(visit);
    } else if (value !== null && typeof value === 'object') {
      for (const [key, inner] of Object.entries(value)) {
        if (key === '$ref' && typeof inner === 'string' && inner.startsWith('#/components/schemas/')) {
          const name = inner.slice('#/components/schemas/'.length);
          if (!reached.has(name)) {
            reached.add(name);
            visit(schemas[name]);
          }
        } else {
          visit(inner);
        }
      }
    }
  };
  const { schemas: _all, ...otherComponents } = document.components ?? {};
  visit(document.paths);
  visit(otherComponents);
  return Object.fromEntries(Object.entries(schemas).filter(([name]) => reached.has(name)));
}
