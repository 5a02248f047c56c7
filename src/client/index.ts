export { TrainyardApiError, TrainyardClient } from './trainyard-client.js';
export type {
  Advice,
  Checkpoint,
  ClientOptions,
  Job,
  JobEvent,
  JobPage,
  JobSpecInput,
  JobStatus,
  ListJobsQuery,
  Metric,
  PredictResponse,
  Prediction,
  Problem,
  Schemas,
  StreamEventMessage,
  StreamMessage,
  SubmittedJob,
  UncertaintyRequest,
  components,
  paths,
} from './trainyard-client.js';
export { canonicalIdPrefix, idPrefixBound, shortIdLength } from './job-ids.js';
