import { readFileSync } from 'node:fs';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import type { FastifyInstance } from 'fastify';
import type { OpenAPIV3_1 } from 'openapi-types';
import { openapiPath } from '../../src/api/openapi-document.js';
import { responseHeaders, type ResponseHeaderName } from '../../src/api/openapi/response-headers.js';

type Document = OpenAPIV3_1.Document;
type ResponseObject = OpenAPIV3_1.ResponseObject;
type HeaderObject = OpenAPIV3_1.HeaderObject;

// ajv-formats is CommonJS with a default export that TypeScript sees one level down.
const addFormats = ((addFormatsModule as unknown as { default?: typeof addFormatsModule }).default ?? addFormatsModule) as unknown as (ajv: Ajv2020) => void;

const DOCUMENT_ID = 'trainyard-openapi';
const STREAMED = Symbol('streamed body');

/** One response as the server sent it. */
export interface Exchange {
  method: string;
  /** The route's pattern (/v1/jobs/:id); undefined when no route matched. */
  route: string | undefined;
  /** The route is left out of the document (the dashboard's files). */
  hidden: boolean;
  url: string;
  status: number;
  headers: Record<string, unknown>;
  /** The body as sent, null for none, STREAMED for a stream. */
  body: string | null | typeof STREAMED;
}
const pointer = (...parts: string[]) => parts.map((part) => part.replace(/~/g, '~0').replace(/\//g, '~1')).join('/');

/**
 * Checks every response an app sends against the committed openapi/openapi.json, with a JSON
 * Schema validator (ajv, draft 2020-12, the dialect of OpenAPI 3.1) that knows nothing of zod:
 * the status must be documented for the operation, the content type among the documented ones,
 * a JSON body valid against its schema, and the headers the document describes present when
 * required and documented when present. Only routes the document hides (the dashboard's files,
 * the viewer's assets) are left out.
 */
export class ContractCheck {
  readonly violations: string[] = [];
  private readonly document: Document;
  private readonly ajv: Ajv2020;
  private readonly validators = new Map<string, ValidateFunction>();

  constructor(document: Document = JSON.parse(readFileSync(openapiPath, 'utf8')) as Document) {
    this.document = document;
    this.ajv = new Ajv2020({ strict: false, allErrors: true });
    addFormats(this.ajv);
    this.ajv.addFormat('binary', true);
    this.ajv.addSchema({ ...document, $id: DOCUMENT_ID } as object);
  }

  /** Checks each response of `app` as it is sent; call before the app is ready. */
  install(app: FastifyInstance): void {
    app.addHook('onSend', async (request, reply, payload) => {
      const exchange: Exchange = {
        method: request.method,
        route: request.routeOptions.url,
        hidden: request.routeOptions.schema?.hide === true,
        url: request.url.split('?')[0]!,
        status: reply.statusCode,
        headers: reply.getHeaders(),
        // A stream (a file download) is not read here: its status, type and headers are still checked.
        body: typeof payload === 'string' || Buffer.isBuffer(payload) ? String(payload) : payload === null || payload === undefined ? null : STREAMED,
      };
      this.seen.push(exchange);
      if (this.seen.length > 500) this.seen.shift();
      this.violations.push(...this.check(exchange));
      return payload;
    });
  }

  /** The last 500 exchanges checked, for tests of the check itself. */
  readonly seen: Exchange[] = [];

  /** Throws when any response did not match the document. */
  assertClean(): void {
    if (this.violations.length === 0) return;
    throw new Error(`${this.violations.length} response(s) did not match openapi/openapi.json:\n${this.violations.slice(0, 20).join('\n')}`);
  }

  /** What is wrong with one response, as sentences; none when it matches the document. */
  check(exchange: Exchange): string[] {
    const problems: string[] = [];
    try {
      this.checkExchange(exchange, problems);
    } catch (error) {
      problems.push(`${exchange.method} ${exchange.url}: the check itself failed: ${(error as Error).message}`);
    }
    return problems;
  }

  private checkExchange({ method: verb, route, hidden, url, status: code, headers: sent, body }: Exchange, problems: string[]): void {
    // No route matched (a 404 for an unknown path), a HEAD (never documented), or a route the document hides.
    if (route === undefined || verb === 'HEAD' || hidden) return;
    const path = route.replace(/:(\w+)/g, '{$1}').replace(/(.)\/$/, '$1');
    const method = verb.toLowerCase();
    const where = `${verb} ${url} → ${code}`;
    const operation = this.document.paths?.[path]?.[method as 'get'];
    if (!operation) {
      problems.push(`${where}: no operation ${verb} ${path} in the document`);
      return;
    }
    const status = String(code);
    const documented = operation.responses?.[status] ?? operation.responses?.default;
    if (!documented) {
      problems.push(`${where}: status ${status} is not documented for ${operation.operationId}`);
      return;
    }
    const response = this.resolve<ResponseObject>(documented);
    this.checkHeaders(where, sent, response, problems);

    const contentType = String(sent['content-type'] ?? '').split(';')[0]!.trim();
    const content = response.content;
    if (!content) {
      // Fastify drops the body of a 204 after this hook (a `null` serialised for z.null() never leaves).
      if (body !== null && body !== '' && code !== 204) problems.push(`${where}: a body where the document says there is none`);
      return;
    }
    const media = content[contentType];
    if (!media) {
      problems.push(`${where}: content-type ${contentType || '(none)'} is not one of ${Object.keys(content).join(', ')}`);
      return;
    }
    const isJson = contentType === 'application/json' || contentType.endsWith('+json');
    if (!isJson || !media.schema || typeof body !== 'string') return;
    const base = '$ref' in documented ? documented.$ref : `#/${pointer('paths', path, method, 'responses', operation.responses?.[status] ? status : 'default')}`;
    const validate = this.validator(`${base}/${pointer('content', contentType, 'schema')}`);
    if (!validate(JSON.parse(body))) {
      const errors = (validate.errors ?? []).slice(0, 5).map((error) => `${error.instancePath || '(root)'} ${error.message ?? ''}`);
      problems.push(`${where}: the body does not match the schema: ${errors.join('; ')}`);
    }
  }

  private checkHeaders(where: string, sent: Exchange['headers'], response: ResponseObject, problems: string[]): void {
    const headers = Object.fromEntries(Object.entries(response.headers ?? {}).map(([name, header]) => [name.toLowerCase(), this.resolve<HeaderObject>(header)]));
    for (const name of Object.keys(responseHeaders) as ResponseHeaderName[]) {
      const value = sent[name];
      const header = headers[name];
      if (value !== undefined && !header) problems.push(`${where}: sends ${name}, which the document does not list for this response`);
      if (value === undefined && header?.required) problems.push(`${where}: the document requires ${name}, which was not sent`);
      if (value !== undefined && header?.schema) {
        const schema = header.schema as { type?: string; enum?: string[] };
        const text = String(value);
        if (schema.type === 'integer' && !/^\d+$/.test(text)) problems.push(`${where}: ${name} is ${text}, not an integer`);
        if (schema.enum && !schema.enum.includes(text)) problems.push(`${where}: ${name} is ${text}, not one of ${schema.enum.join(', ')}`);
      }
    }
  }

  private resolve<T>(value: T | OpenAPIV3_1.ReferenceObject): T {
    if (value && typeof value === 'object' && '$ref' in value) {
      const parts = value.$ref.replace(/^#\//, '').split('/').map((part) => part.replace(/~1/g, '/').replace(/~0/g, '~'));
      return this.resolve(parts.reduce<unknown>((node, part) => (node as Record<string, unknown>)[part], this.document) as T);
    }
    return value as T;
  }

  private validator(at: string): ValidateFunction {
    let validate = this.validators.get(at);
    if (!validate) {
      validate = this.ajv.compile({ $ref: `${DOCUMENT_ID}${at}` });
      this.validators.set(at, validate);
    }
    return validate;
  }
}
