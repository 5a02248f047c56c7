/**
 * A data set as dense row-major arrays. Classification targets are class indices (one per row, or
 * one per time step for sequence labelling); regression targets are float values of `shape` per row.
 */
export interface Dataset {
  name: string;
  features: Float32Array;
  /** Values per row; `inputShape` (default [featureSize]) is how the model sees them. */
  featureSize: number;
  inputShape?: number[];
  rows: number;
  target: DatasetTarget;
}

export type DatasetTarget =
  | { kind: 'classes'; labels: Int32Array; classes: number; steps?: number }
  | { kind: 'values'; values: Float32Array; shape: number[] };

/** The common case: one class index per row. */
export function classificationDataset(name: string, features: Float32Array, featureSize: number, labels: Int32Array, classes: number): Dataset {
  return { name, features, featureSize, rows: labels.length, target: { kind: 'classes', labels, classes } };
}
