import type { DatasetRef, DatasetShape } from './dataset-spec.js';
import type { JobSpec } from './job-spec.js';

/**
 * Rows and steps of a run, from the spec alone: the validator and the trainer share this
 * arithmetic. `datasetRows` are the rows available for splitting (after `limit`, without fixed
 * held-out sets); a data set's own fixed test or validation rows replace the testSplit or
 * validationSplit fraction.
 */
export function runShape(
  spec: Pick<JobSpec, 'validationSplit' | 'testSplit' | 'batchSize' | 'epochs'>,
  datasetRows: number,
  fixedTestRows = 0,
  fixedValidationRows = 0,
) {
  const rows = datasetRows + fixedTestRows + fixedValidationRows;
  const testRows = fixedTestRows > 0 ? fixedTestRows : Math.floor(datasetRows * spec.testSplit);
  const validationRows = fixedValidationRows > 0 ? fixedValidationRows : Math.floor(datasetRows * spec.validationSplit);
  const trainRows = rows - validationRows - testRows;
  const stepsPerEpoch = Math.ceil(Math.max(trainRows, 0) / spec.batchSize);
  return { rows, trainRows, validationRows, testRows, stepsPerEpoch, totalSteps: stepsPerEpoch * spec.epochs };
}

/** The rows a job splits into train, validation and test (but the sets the data set fixes itself): `limit` applied. */
export function splittableRows(ref: DatasetRef, info: Pick<DatasetShape, 'rows' | 'fixedTestRows' | 'fixedValidationRows'>): number {
  const available = info.rows - (info.fixedTestRows ?? 0) - (info.fixedValidationRows ?? 0);
  const limit = 'limit' in ref ? ref.limit : undefined;
  return Math.min(limit ?? available, available);
}

/** A job's rows and steps on a data set of this shape. */
export function runShapeOf(spec: Pick<JobSpec, 'validationSplit' | 'testSplit' | 'batchSize' | 'epochs' | 'dataset'>, info: Pick<DatasetShape, 'rows' | 'fixedTestRows' | 'fixedValidationRows'>) {
  return runShape(spec, splittableRows(spec.dataset, info), info.fixedTestRows, info.fixedValidationRows);
}
