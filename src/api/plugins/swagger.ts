import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance, FastifySchema } from 'fastify';
import fp from 'fastify-plugin';
import { jsonSchemaTransformObject } from 'fastify-type-provider-zod';
import type { OpenAPIV3_1 } from 'openapi-types';
import { finishDocument } from '../openapi/document-finishing.js';
import { operationTransform } from '../openapi/operation-transform.js';

export const apiInfo = {
  title: 'Trainyard API',
  version: '0.1.0',
  description:
    'Training as a service: submit a job spec, a worker trains it with TensorFlow.js, metrics and events are recorded ' +
    'and streamed. Errors are RFC 9457 problem+json bodies whose `errors` name each bad field. ' +
    'Generated from the zod schemas in src/ (npm run openapi); the committed copy is openapi/openapi.json.',
};

/** The viewer's own routes are hidden by it; these two are part of the API. */
const documentedDocsRoutes: Record<string, FastifySchema> = {
  '/docs': {
    operationId: 'getApiViewer',
    tags: ['docs'],
    summary: 'This document in a browser (Swagger UI)',
    openapi: { responses: { 200: { description: 'The viewer', content: { 'text/html': { type: 'string' } } } } },
  },
  '/docs/json': {
    operationId: 'getOpenapiDocument',
    tags: ['docs'],
    summary: 'This document (OpenAPI 3.1); the committed copy is openapi/openapi.json',
    openapi: { responses: { 200: { description: 'The OpenAPI document', content: { 'application/json': { type: 'object', description: 'An OpenAPI 3.1 document' } } } } },
  },
};

/** OpenAPI 3 generated from the routes' zod schemas, served at /docs (UI) and /docs/json. */
async function swaggerPlugin(app: FastifyInstance): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: apiInfo,
      // Relative: the server that serves this document at /docs/json (http://localhost:3000 for npm start).
      servers: [{ url: '/', description: 'The server this document was read from (http://localhost:3000 for `npm start`)' }],
      tags: [
        { name: 'jobs', description: 'Submit training jobs and follow them' },
        { name: 'datasets', description: 'Data sets a job can train on' },
        { name: 'health', description: 'Liveness, readiness and Prometheus metrics' },
        { name: 'workers', description: 'Training workers' },
        { name: 'docs', description: 'This document and its viewer' },
        { name: 'admin', description: 'Projects and API keys (Authorization: Bearer <ADMIN_TOKEN>)' },
      ],
      components: {
        securitySchemes: {
          apiKey: { type: 'http', scheme: 'bearer', description: 'An API key (ty_…); a websocket may send it as ?access_token= instead' },
          adminToken: { type: 'http', scheme: 'bearer', description: 'The deployment\'s ADMIN_TOKEN' },
        },
      },
      security: [{ apiKey: [] }],
    },
    transform: operationTransform,
    transformObject: (document) => finishDocument(jsonSchemaTransformObject(document) as OpenAPIV3_1.Document),
  });
  // The document and its viewer are public; everything they describe still needs a key.
  app.addHook('onRoute', (route) => {
    if (route.url === '/docs' || route.url.startsWith('/docs/')) route.config = { ...route.config, access: 'public' };
    const documented = documentedDocsRoutes[route.url];
    if (documented && route.method === 'GET') route.schema = { ...route.schema, ...documented, hide: false };
  });
  // Its own content security policy (with hashes for its inline parts) over the API's strict one.
  await app.register(swaggerUi, { routePrefix: '/docs', staticCSP: true });
}

export const swaggerDocs = fp(swaggerPlugin, { name: 'swagger' });
