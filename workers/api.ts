import { startRoles } from '../src/infra/roles.js';
import { runProcess } from '../src/infra/run-process.js';

await runProcess('api', (config, logger) => startRoles(config, logger, { api: true, worker: false }));
