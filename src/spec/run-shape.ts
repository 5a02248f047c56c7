import type { DatasetRef, DatasetShape } from './dataset-spec.js';
import type { JobSpec } from './job-spec.js';

/**
 * Rows and steps of a run, from the spec alone: the validator and the trainer share this
 * arithmetic. `datasetRows` are the rows available for splitting (after `limit`, without a fixed
 * test set); a data set's own fixed test rows replace the testSplit fraction.
 */
export function runShape(
  spec: Pick<JobSpec, 'validationSplit' | 'testSplit' | 'batchSize' | 'epochs'>,
  datasetRows: number,
  fixedTestRows = 0,
) {
  const rows = datasetRows + fixedTestRows;
  const testRows = fixedTestRows > 0 ? fixedTestRows : Math.floor(datasetRows * spec.testSplit);
  const validationRows = Math.floor(datasetRows * spec.validationSplit);
  const trainRows = rows - validationRows - testRows;
  const stepsPerEpoch = Math.ceil(Math.max(trainRows, 0) / spec.batchSize);
  return { rows, trainRows, validationRows, testRows, stepsPerEpoch, totalSteps: stepsPerEpoch * spec.epochs };
}

/** The rows a job splits into train, validation and (unless the set has a fixed one) test: `limit` applied. */
export function splittableRows(ref: DatasetRef, info: Pick<DatasetShape, 'rows' | 'fixedTestRows'>): number {
  const available = info.rows - (info.fixedTestRows ?? 0);
  const limit = 'limit' in ref ? ref.limit : undefined;
  return Math.min(limit ?? available, available);
}
