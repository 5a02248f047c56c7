import { readdir, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { actionSources } from '../../jobs/job-service.js';
import { terminalStatuses } from '../../jobs/job-state-machine.js';
import { jobEventTypes, jobStatuses } from '../../jobs/job-types.js';
import { HIGHER_IS_BETTER } from '../../jobs/run-summaries.js';
import { studyEventTypes, trialStates } from '../../studies/study-types.js';
import { studyActionRules, studyEndedStatuses, studyStatuses } from '../study-action-rules.js';

const require = createRequire(import.meta.url);
const dashboardDir = fileURLToPath(new URL('../dashboard/', import.meta.url));
const clientDir = fileURLToPath(new URL('../../client/', import.meta.url));
// Browser libraries are served from their npm packages: no CDN, nothing to build.
const uplotDir = path.dirname(require.resolve('uplot/dist/uPlot.iife.min.js'));
const jsonSchemaDir = path.join(path.dirname(require.resolve('@cfworker/json-schema/package.json')), 'dist/esm');

const types: Record<string, string> = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8' };

/**
 * What the dashboard knows of jobs and studies, written from the server's own rules: the statuses,
 * which end a job or a study, and in which statuses the API accepts each action. A browser module,
 * made once at start.
 */
export function dashboardContract(): string {
  const constants = {
    jobStatuses,
    terminalStatuses: [...terminalStatuses],
    actionSources: actionSources(),
    jobEventTypes,
    higherIsBetterPattern: HIGHER_IS_BETTER.source,
    studyStatuses,
    studyEndedStatuses,
    studyActionRules,
    trialStates,
    studyEventTypes,
  };
  const lines = Object.entries(constants).map(([name, value]) => `export const ${name} = ${JSON.stringify(value)};`);
  return `// Written by the API from src/jobs (job-types, job-state-machine, job-service, run-summaries), src/studies/study-types,\n// src/api/schemas/study-schemas and src/api/study-action-rules.\n${lines.join('\n')}\n`;
}

/** Every file of a folder (recursively) with a type we serve, by path relative to it. */
async function filesOf(folder: string): Promise<string[]> {
  const entries = await readdir(folder, { recursive: true, withFileTypes: true });
  return entries.filter((entry) => entry.isFile() && path.extname(entry.name) in types).map((entry) => path.relative(folder, path.join(entry.parentPath, entry.name)));
}

/** The live dashboard: static files, read once and kept in memory, and its contract module. */
export async function dashboardRoutes(app: FastifyInstance): Promise<void> {
  const assets = new Map<string, { body: string | Buffer; type: string }>();
  const add = async (url: string, file: string) => assets.set(url, { body: await readFile(file), type: types[path.extname(file)]! });
  await add('/', path.join(dashboardDir, 'index.html'));
  for (const file of await filesOf(dashboardDir)) if (file !== 'index.html') await add(`/dashboard/${file.split(path.sep).join('/')}`, path.join(dashboardDir, file));
  // Shared with the CLI: plain JavaScript modules.
  for (const file of ['job-ids.js', 'event-sentences.js', 'study-event-sentences.js']) await add(`/dashboard/lib/${file}`, path.join(clientDir, file));
  for (const file of await filesOf(jsonSchemaDir)) await add(`/vendor/json-schema/${file.split(path.sep).join('/')}`, path.join(jsonSchemaDir, file));
  await add('/vendor/uplot/uPlot.iife.min.js', path.join(uplotDir, 'uPlot.iife.min.js'));
  await add('/vendor/uplot/uPlot.min.css', path.join(uplotDir, 'uPlot.min.css'));
  assets.set('/dashboard/contract.js', { body: dashboardContract(), type: types['.js']! });

  for (const [url, { body, type }] of assets) {
    app.get(url, { config: { access: 'public' }, schema: { hide: true } }, async (_request, reply) => reply.type(type).header('cache-control', 'no-cache').send(body));
  }
}
