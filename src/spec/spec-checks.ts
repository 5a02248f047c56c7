import { builtInDatasets } from '../engine/datasets/catalog.js';
import { augmentationProblems } from './augmentation-spec.js';
import { distributedProblems } from './distributed-spec.js';
import type { DatasetShape } from './dataset-spec.js';
import type { JobSpecFields } from './job-spec.js';
import { modelProblems } from './model-checks.js';
import { runShapeOf } from './run-shape.js';
import { scheduleProblems, type LearningRate } from './schedule-spec.js';
import { initProblems, progressiveProblems } from './transfer-plan.js';

interface Problem {
  path: (string | number)[];
  message: string;
}

/**
 * Checks that need more than one field, or the data set's shape (`info`: the whole set, before
 * any `limit`). Without `info` (an upload, before its shape is read) the shape checks are skipped;
 * the job service runs this again with the uploaded set's shape.
 */
export function specProblems(spec: JobSpecFields, info: DatasetShape | null): Problem[] {
  if (!info) return optimizationProblems(spec, null).concat(layerNameProblems(spec), augmentationProblems(spec, null));
  const problems: Problem[] = [];
  const dataset = spec.dataset;
  const limit = 'limit' in dataset ? dataset.limit : undefined;
  const available = info.rows - (info.fixedTestRows ?? 0);
  if (limit !== undefined && limit > available) {
    problems.push({ path: ['dataset', 'limit'], message: `the data set has only ${available} rows${info.fixedTestRows ? ' besides its fixed test set' : ''}` });
  }
  if ((dataset.name === 'iris' || dataset.name === 'mnist') && dataset.classes) {
    const known = builtInDatasets[dataset.name].classes;
    const classes = dataset.classes;
    classes.forEach((c, i) => {
      if (c >= known) problems.push({ path: ['dataset', 'classes', i], message: `${dataset.name} has classes 0 … ${known - 1}` });
      else if (classes.indexOf(c) !== i) problems.push({ path: ['dataset', 'classes', i], message: `class ${c} is listed twice` });
    });
    if (dataset.fixedTestSet) {
      problems.push({ path: ['dataset', 'fixedTestSet'], message: 'the fixed test set covers all ten digits: with classes, hold out a testSplit instead' });
    }
  }
  if (info.fixedTestRows && spec.testSplit > 0) {
    problems.push({ path: ['testSplit'], message: 'must be 0 with dataset.fixedTestSet (the fixed test set is the test split)' });
  }
  // Generated sets live in the worker's memory as float32.
  if (info.rows * info.featureSize > 10_000_000) {
    problems.push({ path: ['dataset', 'rows'], message: `rows × features is ${info.rows * info.featureSize}; at most 10 000 000 values` });
  }
  const { rows, trainRows, validationRows, testRows, totalSteps } = runShapeOf(spec, info);
  if (spec.testSplit > 0 && testRows < 1) {
    problems.push({ path: ['testSplit'], message: `holds out no rows of ${rows}; raise it or set 0` });
  }
  if (trainRows < 1) {
    problems.push({ path: ['validationSplit'], message: `with testSplit ${spec.testSplit} leaves no training rows out of ${rows}` });
  } else if (spec.batchSize > trainRows) {
    problems.push({
      path: ['batchSize'],
      message: `is larger than the ${trainRows} training rows (${rows} rows, validationSplit ${spec.validationSplit}, testSplit ${spec.testSplit})`,
    });
  }
  if (spec.validationSplit > 0 && validationRows < 1) {
    problems.push({ path: ['validationSplit'], message: `holds out no rows of ${rows}; raise it or set 0` });
  }

  if (dataset.name === 'iris' && (dataset.shape === 'image' || dataset.fixedTestSet)) {
    const field = dataset.shape === 'image' ? 'shape' : 'fixedTestSet';
    problems.push({ path: ['dataset', field], message: field === 'shape' ? 'only mnist has an image form' : 'only mnist has a fixed test set' });
  } else {
    problems.push(...modelProblems(spec, info));
  }
  problems.push(...optimizationProblems(spec, totalSteps), ...layerNameProblems(spec), ...augmentationProblems(spec, info));
  return problems;
}

function layerNameProblems(spec: JobSpecFields): Problem[] {
  return [...duplicateNameProblems(spec), ...initProblems(spec), ...progressiveProblems(spec), ...distributedProblems(spec)];
}

function duplicateNameProblems(spec: JobSpecFields): Problem[] {
  const problems: Problem[] = [];
  const layers = spec.model.layers;
  const names = new Map<string, number>();
  layers.forEach((layer, index) => {
    if (!layer.name) return;
    const first = names.get(layer.name);
    if (first !== undefined) {
      problems.push({ path: ['model', 'layers', index, 'name'], message: `duplicates the name of layer ${first}` });
    } else {
      names.set(layer.name, index);
    }
  });
  return problems;
}

/** Phases in order and within the run, schedules that stay within the run, options that fit the task. */
function optimizationProblems(spec: JobSpecFields, totalSteps: number | null): Problem[] {
  const problems: Problem[] = [];
  const stepsPerEpoch = totalSteps === null ? null : totalSteps / spec.epochs;
  const spanOf = (epochs: number, what: string) => ({ epochs, steps: stepsPerEpoch === null ? null : stepsPerEpoch * epochs, what });
  const checkRate = (rate: LearningRate | undefined, path: (string | number)[], span = spanOf(spec.epochs, "the run's")) => {
    if (rate === undefined) return;
    if (typeof rate === 'number') {
      if (spec.linearScaling) problems.push({ path, message: 'give either a rate or linearScaling, not both' });
      return;
    }
    if (rate.initial !== undefined && spec.linearScaling) {
      problems.push({ path: [...path, 'initial'], message: 'give either initial or linearScaling, not both' });
    }
    for (const problem of scheduleProblems(rate, span, spec.validationSplit > 0)) problems.push({ path: [...path, ...problem.path], message: problem.message });
  };
  checkRate(spec.learningRate, ['learningRate']);

  if (Array.isArray(spec.optimizer)) {
    const phases = spec.optimizer;
    let previous = 0;
    phases.forEach((phase, index) => {
      const last = index === phases.length - 1;
      const path = ['optimizer', index, 'untilEpoch'];
      if (phase.untilEpoch === undefined) {
        if (!last) problems.push({ path, message: 'every phase but the last needs the epoch it ends with' });
      } else if (phase.untilEpoch <= previous) {
        problems.push({ path, message: `must be after the previous phase's ${previous} (phases run in ascending order)` });
      } else if (last ? phase.untilEpoch !== spec.epochs : phase.untilEpoch >= spec.epochs) {
        problems.push({
          path,
          message: last ? `the last phase runs to the end: omit it or set ${spec.epochs}` : `must be below epochs (${spec.epochs}) so a later phase runs`,
        });
      }
      const until = last ? spec.epochs : (phase.untilEpoch ?? spec.epochs);
      checkRate(phase.learningRate, ['optimizer', index, 'learningRate'], spanOf(Math.max(1, until - previous), `phase ${index + 1}'s`));
      previous = phase.untilEpoch ?? previous;
    });
  }

  if (spec.earlyStopping?.monitor.startsWith('val_') && spec.validationSplit === 0) {
    problems.push({ path: ['earlyStopping', 'monitor'], message: `${spec.earlyStopping.monitor} needs a validation split: set validationSplit or monitor loss` });
  }
  if (spec.checkpoint.everyEpochs > spec.epochs) {
    problems.push({ path: ['checkpoint', 'everyEpochs'], message: `is beyond the run's ${spec.epochs} epochs (the final checkpoint is always written)` });
  }

  if (spec.task === 'lrRangeTest') {
    const test = spec.lrRangeTest;
    if (test && test.minLearningRate >= test.maxLearningRate) {
      problems.push({ path: ['lrRangeTest', 'maxLearningRate'], message: `must be above minLearningRate (${test.minLearningRate})` });
    }
    if (Array.isArray(spec.optimizer)) problems.push({ path: ['optimizer'], message: 'an lrRangeTest uses one optimizer, not phases' });
    if (spec.divergence) problems.push({ path: ['divergence'], message: 'not used by an lrRangeTest (it stops when the loss blows up)' });
  } else if (spec.lrRangeTest) {
    problems.push({ path: ['lrRangeTest'], message: 'only used with task "lrRangeTest"' });
  }
  return problems;
}
