import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { jsonSchemaTransform, jsonSchemaTransformObject } from 'fastify-type-provider-zod';

export const apiInfo = {
  title: 'Trainyard API',
  version: '0.1.0',
  description:
    'Training as a service: submit a job spec, a worker trains it with TensorFlow.js, metrics and events are recorded ' +
    'and streamed. Errors are RFC 9457 problem+json bodies whose `errors` name each bad field. ' +
    'Generated from the zod schemas in src/ (npm run openapi); the committed copy is openapi/openapi.json.',
};

/** OpenAPI 3 generated from the routes' zod schemas, served at /docs (UI) and /docs/json. */
async function swaggerPlugin(app: FastifyInstance): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: apiInfo,
      tags: [
        { name: 'jobs', description: 'Submit training jobs and follow them' },
        { name: 'datasets', description: 'Data sets a job can train on' },
        { name: 'health', description: 'Liveness and readiness' },
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
    transform: jsonSchemaTransform,
    transformObject: jsonSchemaTransformObject,
  });
  // The document and its viewer are public; everything they describe still needs a key.
  app.addHook('onRoute', (route) => {
    if (route.url === '/docs' || route.url.startsWith('/docs/')) route.config = { ...route.config, access: 'public' };
  });
  // Its own content security policy (with hashes for its inline parts) over the API's strict one.
  await app.register(swaggerUi, { routePrefix: '/docs', staticCSP: true });
}

export const swaggerDocs = fp(swaggerPlugin, { name: 'swagger' });
