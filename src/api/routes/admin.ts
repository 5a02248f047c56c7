import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Services } from '../../infra/services.js';
import { adminGuard } from '../plugins/auth.js';
import { problemSchema } from '../schemas/job-schemas.js';

const projectNameSchema = z
  .string()
  .regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'lower-case letters, digits, "-" and "_", starting with a letter or digit, at most 63 characters')
  .describe('Project name');

export const projectSchema = z
  .object({
    id: z.uuid(),
    name: z.string(),
    maxRunningJobs: z.int().nullable().describe("Jobs that may train at once; null: the deployment's PROJECT_MAX_RUNNING_JOBS"),
    createdAt: z.string(),
  })
  .meta({ id: 'Project' });

export const apiKeySchema = z
  .object({
    id: z.uuid(),
    project: z.string(),
    name: z.string(),
    prefix: z.string().describe('The first characters of the key'),
    createdAt: z.string(),
    lastUsedAt: z.string().nullable(),
    revokedAt: z.string().nullable(),
  })
  .meta({ id: 'ApiKey' });

const security = [{ adminToken: [] }];
const errors = { 401: problemSchema, 403: problemSchema };

/** Operators' endpoints: the auth plugin lets through only requests bearing ADMIN_TOKEN. */
export function adminRoutes(services: Services) {
  return async (app: FastifyInstance): Promise<void> => {
    // Their own check besides the global one: these routes hand out keys to every project.
    app.addHook('onRequest', adminGuard(services.config));
    const api = app.withTypeProvider<ZodTypeProvider>();
    const projectParams = z.strictObject({ project: projectNameSchema });

    api.get(
      '/v1/admin/projects',
      { schema: { operationId: 'listProjects', tags: ['admin'], summary: 'Every project', security, response: { 200: z.object({ data: z.array(projectSchema) }), ...errors } } },
      async () => ({ data: await services.projects.list() }),
    );

    api.patch(
      '/v1/admin/projects/:project',
      {
        schema: {
          operationId: 'updateProject',
          tags: ['admin'],
          summary: "Set a project's limit on jobs training at once (null: the deployment default)",
          security,
          params: projectParams,
          body: z.strictObject({ maxRunningJobs: z.int().min(1).max(10_000).nullable() }),
          response: { 200: projectSchema, 400: problemSchema, 404: problemSchema, ...errors },
        },
      },
      async (request) => services.projects.setMaxRunningJobs(request.params.project, request.body.maxRunningJobs),
    );

    api.post(
      '/v1/admin/projects/:project/keys',
      {
        schema: {
          operationId: 'createApiKey',
          tags: ['admin'],
          summary: 'Create an API key for a project (the project is created if needed); the key is shown only in this answer',
          security,
          params: projectParams,
          body: z.strictObject({ name: z.string().min(1).max(200).default('key') }).default({ name: 'key' }),
          response: { 201: apiKeySchema.extend({ key: z.string().describe('Send as Authorization: Bearer <key>; it cannot be shown again') }), 400: problemSchema, ...errors },
        },
      },
      async (request, reply) => {
        const { key, record } = await services.projects.createKey(request.params.project, request.body.name);
        return reply.code(201).send({ ...record, key });
      },
    );

    api.get(
      '/v1/admin/keys',
      {
        schema: {
          operationId: 'listApiKeys',
          tags: ['admin'],
          summary: 'API keys (never the keys themselves), optionally of one project',
          security,
          querystring: z.strictObject({ project: projectNameSchema.optional() }),
          response: { 200: z.object({ data: z.array(apiKeySchema) }), 400: problemSchema, ...errors },
        },
      },
      async (request) => ({ data: await services.projects.listKeys(request.query.project) }),
    );

    api.delete(
      '/v1/admin/keys/:id',
      {
        schema: {
          operationId: 'revokeApiKey',
          tags: ['admin'],
          summary: 'Revoke an API key: its next request is a 401',
          security,
          params: z.strictObject({ id: z.string().describe('API key id (UUID), as listed by GET /v1/admin/keys') }),
          response: { 200: apiKeySchema, 404: problemSchema, ...errors },
        },
      },
      async (request) => services.projects.revokeKey(request.params.id),
    );
  };
}
