import type { FastifyInstance } from 'fastify';

export const openapiPath = new URL('../../openapi/openapi.json', import.meta.url);

/** The document exactly as committed: stable key order from the routes, 2-space JSON, final newline. */
export async function renderOpenapi(app: FastifyInstance): Promise<string> {
  await app.ready();
  return `${JSON.stringify(app.swagger(), null, 2)}\n`;
}
