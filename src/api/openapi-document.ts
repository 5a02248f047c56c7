import type { FastifyInstance } from 'fastify';

export const openapiPath = new URL('../../openapi/openapi.json', import.meta.url);

/**
 * The document exactly as committed: paths in the routes' order, component schemas by name (their
 * registration order follows module import order, which says nothing), 2-space JSON, final newline.
 */
export async function renderOpenapi(app: FastifyInstance): Promise<string> {
  await app.ready();
  const document = app.swagger() as { components?: { schemas?: Record<string, unknown> } };
  const schemas = document.components?.schemas;
  if (schemas) document.components!.schemas = Object.fromEntries(Object.entries(schemas).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  return `${JSON.stringify(document, null, 2)}\n`;
}
