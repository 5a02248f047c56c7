// Regenerates openapi/openapi.json from the zod schemas behind the routes, then src/client/api-types.ts
// from that document with openapi-typescript. test/api/openapi.test.ts and openapi-contract.test.ts
// fail while the committed files differ from what this writes.
import { writeFile } from 'node:fs/promises';
import { buildApp } from '../src/api/app.js';
import { openapiPath, renderOpenapi } from '../src/api/openapi-document.js';
import { apiTypesPath, renderApiTypes } from './api-types.js';
import { loadConfig } from '../src/config/config.js';
import { dropDatabase } from '../src/db/database.js';
import { createServices } from '../src/infra/services.js';
import { createLogger } from '../src/logging/logger.js';

// A scratch database of its own: building the app migrates its database, and the document must not
// depend on (or change) whatever the deployment's database holds.
const base = loadConfig({ ...process.env, LOG_LEVEL: 'warn' });
const scratch = new URL(base.DATABASE_URL);
scratch.pathname = `/trainyard_openapi_${process.pid}`;
const config = loadConfig({ ...process.env, LOG_LEVEL: 'warn', DATABASE_URL: scratch.toString(), QUEUE_PREFIX: `trainyard_openapi_${process.pid}` });
const services = await createServices(config, createLogger(config.LOG_LEVEL, 'openapi'));
try {
  const app = await buildApp(services);
  await writeFile(openapiPath, await renderOpenapi(app));
  await app.close();
  console.log(`wrote ${openapiPath.pathname}`);
  await writeFile(apiTypesPath, await renderApiTypes());
  console.log(`wrote ${apiTypesPath.pathname}`);
} finally {
  await services.close();
  await dropDatabase(config.DATABASE_URL);
}
