/** API, dashboard and one training worker in one process: what `npm start` runs. */
import { startRoles } from '../src/infra/roles.js';
import { runProcess } from '../src/infra/run-process.js';

await runProcess('trainyard', (config, logger) => startRoles(config, logger, { api: true, worker: true }));
