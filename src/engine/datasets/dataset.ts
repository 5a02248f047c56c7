/**
 * A data set as dense row-major arrays. Classification targets are class indices (one per row, or
 * one per time step for sequence labelling); regression targets are float values of `shape` per row.
 */
export interface Dataset {
  name: string;
  /** Empty for a text set, whose rows are `texts`, and for a streamed one, whose rows are in `featureFile`. */
  features: Float32Array;
  /** Values per row; `inputShape` (default [featureSize]) is how the model sees them. */
  featureSize: number;
  inputShape?: number[];
  rows: number;
  target: DatasetTarget;
  /** The data set's own validation and test sets: the last rows, validation then test (an image archive's folders). */
  heldOut?: { validation: number; test: number };
  /** A text set: one text per row, made into token ids by the job's vocabulary (src/engine/text-vocabulary.ts). */
  texts?: readonly string[];
  /** A set too large to load (TRAINING_IN_MEMORY_BYTES): its features.f32, read a batch at a time (src/engine/streamed-rows.ts). */
  featureFile?: string;
}

export type DatasetTarget =
  | { kind: 'classes'; labels: Int32Array; classes: number; steps?: number }
  | { kind: 'values'; values: Float32Array; shape: number[] };

/** The common case: one class index per row. */
export function classificationDataset(name: string, features: Float32Array, featureSize: number, labels: Int32Array, classes: number): Dataset {
  return { name, features, featureSize, rows: labels.length, target: { kind: 'classes', labels, classes } };
}

/** The rows of the listed classes only, relabelled 0 … k−1 in the order listed. */
export function selectClasses(dataset: Dataset, classes: number[]): Dataset {
  const target = dataset.target;
  if (target.kind !== 'classes' || target.steps) throw new Error(`${dataset.name}: only a set with one class per row can be cut to some classes`);
  const relabel = new Map(classes.map((c, i) => [c, i]));
  const rows: number[] = [];
  target.labels.forEach((label, row) => relabel.has(label) && rows.push(row));
  const size = dataset.featureSize;
  const features = new Float32Array(rows.length * size);
  const labels = new Int32Array(rows.length);
  rows.forEach((row, i) => {
    features.set(dataset.features.subarray(row * size, (row + 1) * size), i * size);
    labels[i] = relabel.get(target.labels[row]!)!;
  });
  return { ...dataset, name: `${dataset.name}[${classes.join(',')}]`, features, rows: rows.length, target: { kind: 'classes', labels, classes: classes.length } };
}
