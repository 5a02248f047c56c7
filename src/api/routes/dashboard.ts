import { readFile } from 'node:fs/promises';
import type { FastifyInstance } from 'fastify';

const page = readFile(new URL('../dashboard/index.html', import.meta.url), 'utf8');

/** The live dashboard; a job list for now, richer views come with the dashboard work. */
export async function dashboardRoutes(app: FastifyInstance): Promise<void> {
  app.get('/', { schema: { hide: true } }, async (_request, reply) => reply.type('text/html; charset=utf-8').send(await page));
}
