import { startRoles } from '../src/infra/roles.js';
import { runProcess } from '../src/infra/run-process.js';

await runProcess('worker', (config, logger) => startRoles(config, logger, { api: false, worker: true }));
