export { TrainyardApiError, TrainyardClient } from './trainyard-client.js';
export type { Checkpoint, Job, JobEvent, JobPage, JobSpecInput, Metric, Problem, StreamMessage } from './trainyard-client.js';
