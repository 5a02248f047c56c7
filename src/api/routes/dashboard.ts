import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';

const require = createRequire(import.meta.url);
const dashboardDir = new URL('../dashboard/', import.meta.url);
// The chart library is served from its npm package: no CDN, nothing to build.
const uplotDir = path.dirname(require.resolve('uplot/dist/uPlot.iife.min.js'));

const assets: Record<string, { file: string | URL; type: string }> = {
  '/': { file: new URL('index.html', dashboardDir), type: 'text/html; charset=utf-8' },
  '/dashboard/app.js': { file: new URL('app.js', dashboardDir), type: 'text/javascript; charset=utf-8' },
  '/dashboard/style.css': { file: new URL('style.css', dashboardDir), type: 'text/css; charset=utf-8' },
  '/vendor/uplot/uPlot.iife.min.js': { file: path.join(uplotDir, 'uPlot.iife.min.js'), type: 'text/javascript; charset=utf-8' },
  '/vendor/uplot/uPlot.min.css': { file: path.join(uplotDir, 'uPlot.min.css'), type: 'text/css; charset=utf-8' },
};

/** The live dashboard: static files, read once and kept in memory. */
export async function dashboardRoutes(app: FastifyInstance): Promise<void> {
  for (const [url, { file, type }] of Object.entries(assets)) {
    const body = await readFile(file);
    app.get(url, { config: { access: 'public' }, schema: { hide: true } }, async (_request, reply) => reply.type(type).header('cache-control', 'no-cache').send(body));
  }
}
