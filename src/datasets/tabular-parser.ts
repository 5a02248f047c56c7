import { printable, unstorableText } from '../validation/storable-text.js';

/**
 * Turns the records of an uploaded file into a table of numeric features and a label (classes, or
 * numbers for a regression), reporting the first problems precisely (row, column, value, why).
 * Rows are numbered as a person counts them in the file: the CSV header is row 1, the first JSON
 * Lines record or JSON array element is row 1.
 */
export interface UploadProblem {
  /** A file inside an uploaded archive. */
  file?: string;
  row?: number;
  column?: string;
  value?: string;
  message: string;
}

export class UploadInvalidError extends Error {
  override name = 'UploadInvalidError';
  constructor(
    readonly problems: UploadProblem[],
    /** How many there were, when `problems` lists only the first ones. */
    readonly total = problems.length,
  ) {
    super(`the upload is not a usable data set: ${problems.map(describeProblem).join('; ')}${total > problems.length ? `; … ${total} problems in all` : ''}`);
  }
}

/** Where in the file: `row 5, column "x"`, `train/cat/1.png` in an archive, or `(file)` for the file as a whole. */
export function problemLocation(problem: UploadProblem): string {
  const where = [problem.file ?? '', problem.row !== undefined ? `row ${problem.row}` : '', problem.column !== undefined ? `column "${problem.column}"` : ''].filter(Boolean).join(', ');
  return where || '(file)';
}

export function describeProblem(problem: UploadProblem): string {
  return `${problemLocation(problem)}: ${problem.message}${problem.value !== undefined ? ` (value ${JSON.stringify(problem.value)})` : ''}`;
}

export const labelTypes = ['class', 'number'] as const;
export type LabelType = (typeof labelTypes)[number];

/** What the uploader may declare; the rest is inferred from the file. */
export interface TableSchema {
  /** The label column; default `label` if there is one, else the last column. */
  label?: string;
  /** The feature columns, in this order; default every column but the label. Others are ignored. */
  features?: string[];
  /** Default: inferred (see `inferLabelType`). */
  labelType?: LabelType;
  /** A text set: this column's texts are the rows (made into token ids by each job); no feature columns. */
  text?: string;
}

export type ParsedTable = {
  featureNames: string[];
  labelColumn: string;
  /** Empty for a text set. */
  features: Float32Array;
  rows: number;
  /** A text set's rows. */
  texts?: string[];
} & ({ labelType: 'class'; classNames: string[]; labels: Int32Array } | { labelType: 'number'; classNames: []; targets: Float32Array });

/** Most distinct integer labels that still read as classes when the type is not declared. */
export const MAX_INFERRED_CLASSES = 20;

/**
 * A label is a number (a regression target) when every value is numeric and either one is not an
 * integer or there are more than MAX_INFERRED_CLASSES distinct values; otherwise it names classes.
 */
export function inferLabelType(values: string[]): LabelType {
  const distinct = new Set(values);
  const numbers = [...distinct].map(Number);
  if (!numbers.every(Number.isFinite)) return 'class';
  return numbers.some((n) => !Number.isInteger(n)) || distinct.size > MAX_INFERRED_CLASSES ? 'number' : 'class';
}

const MAX_PROBLEMS = 10;

/**
 * The most columns an upload may have. Wider rows are images or embeddings, which belong in a
 * binary format; the limit keeps a 1 MB header from costing the API anything.
 */
export const MAX_COLUMNS = 16_384;

/** A list of column names short enough for an error message. */
function listColumns(columns: string[]): string {
  const shown = columns.slice(0, 12).join(', ');
  return columns.length > 12 ? `${shown}, … ${columns.length} in all` : shown;
}

/** Collects records (column name → raw value) and builds the table once they are all in. */
export class TableBuilder {
  private columns: string[] | null = null;
  private columnIndex = new Map<string, number>();
  private readonly values: number[] = [];
  private readonly texts: string[] = [];
  private readonly rawLabels: string[] = [];
  private readonly problems: UploadProblem[] = [];
  private featureColumns: string[] = [];
  /** Column index of each feature, in feature order. */
  private featureIndices: number[] = [];
  private labelIndex = -1;
  /** Set when reading on is pointless (too wide): the problems so far are the answer. */
  private stopped = false;

  constructor(private readonly schema: TableSchema = {}) {}

  get full(): boolean {
    return this.stopped || this.problems.length >= MAX_PROBLEMS;
  }

  /** The header, naming the columns; the label column is the requested one, else `label`, else the last. */
  setColumns(columns: string[], row: number): void {
    if (columns.length > MAX_COLUMNS) {
      this.problem({ row, message: `has ${columns.length} columns; at most ${MAX_COLUMNS} are accepted` });
      this.stopped = true;
      return;
    }
    const index = new Map<string, number>();
    columns.forEach((column, i) => {
      const unstorable = unstorableText(column);
      if (column === '') this.problem({ row, message: `column ${i + 1} has no name` });
      else if (unstorable) this.problem({ row, column: printable(column), message: `the column name ${unstorable}` });
      else if (index.has(column)) this.problem({ row, column, message: 'the column name appears twice' });
      if (!index.has(column)) index.set(column, i);
    });
    this.columnIndex = index;
    const label = this.schema.label ?? (index.has('label') ? 'label' : columns.at(-1));
    this.labelIndex = label === undefined ? -1 : (index.get(label) ?? -1);
    if (this.labelIndex < 0) {
      this.problem({ row, column: label, message: `the label column is missing (columns: ${listColumns(columns)})` });
    }
    this.columns = columns;
    const text = this.schema.text;
    if (text !== undefined) {
      if (!index.has(text)) this.problem({ row, column: text, message: `the text column is missing (columns: ${listColumns(columns)})` });
      else if (text === label) this.problem({ row, column: text, message: 'the label column cannot also be the text' });
    }
    const declared = text !== undefined ? [text] : this.schema.features;
    for (const column of text !== undefined ? [] : (declared ?? [])) {
      if (!index.has(column)) this.problem({ row, column, message: `a declared feature column is missing (columns: ${listColumns(columns)})` });
      else if (column === label) this.problem({ row, column, message: 'the label column cannot also be a feature' });
    }
    this.featureColumns = declared ?? columns.filter((_, i) => i !== this.labelIndex);
    this.featureIndices = this.featureColumns.map((column) => index.get(column) ?? -1);
    if (this.featureColumns.length === 0) this.problem({ row, message: 'there are no feature columns besides the label' });
  }

  addRow(fields: string[], row: number): void {
    const columns = this.columns;
    // A header without a usable label column is already a problem; its rows cannot be read.
    if (!columns || this.labelIndex < 0) return;
    if (fields.length !== columns.length) {
      this.problem({ row, message: `has ${fields.length} fields, the header has ${columns.length} (a ragged row)` });
      return;
    }
    const label = fields[this.labelIndex]!;
    const labelColumn = columns[this.labelIndex]!;
    const unstorable = unstorableText(label);
    if (label === '') this.problem({ row, column: labelColumn, value: label, message: 'the label is empty' });
    else if (unstorable) this.problem({ row, column: labelColumn, value: printable(label), message: `the label ${unstorable}` });
    else if (this.schema.labelType === 'number' && !Number.isFinite(Number(label))) {
      this.problem({ row, column: labelColumn, value: label, message: 'labelType is number: the label must be a finite number' });
    }
    this.rawLabels.push(label);
    if (this.schema.text !== undefined) {
      const text = fields[this.featureIndices[0]!] ?? '';
      const why = unstorableText(text);
      if (why) this.problem({ row, column: this.schema.text, value: printable(text.slice(0, 80)), message: `the text ${why}` });
      this.texts.push(text);
      return;
    }
    for (const i of this.featureIndices) {
      const value = fields[i]!;
      const number = value === '' ? Number.NaN : Number(value);
      if (!Number.isFinite(number)) this.problem({ row, column: columns[i]!, value: printable(value), message: 'a feature must be a finite number' });
      this.values.push(number);
    }
  }

  addRecord(record: unknown, row: number): void {
    if (!record || typeof record !== 'object' || Array.isArray(record)) {
      this.problem({ row, message: 'each record must be a JSON object' });
      return;
    }
    const entries = record as Record<string, unknown>;
    if (!this.columns) {
      this.setColumns(Object.keys(entries), row);
      if (this.stopped) return;
    }
    const columns = this.columns!;
    const keys = Object.keys(entries);
    const missing = columns.filter((column) => !Object.hasOwn(entries, column));
    const extra = keys.filter((key) => !this.columnIndex.has(key));
    if (missing.length || extra.length) {
      const differences = [...missing.map((m) => `missing ${printable(m)}`), ...extra.map((e) => `extra ${printable(e)}`)];
      this.problem({ row, message: `has different fields from the first record (${listColumns(differences)})` });
      return;
    }
    const text = this.schema.text;
    if (text !== undefined && entries[text] !== null && typeof entries[text] === 'object') {
      this.problem({ row, column: text, message: 'the text must be a string, not an object or an array' });
      return;
    }
    this.addRow(columns.map((column) => (entries[column] === null || entries[column] === undefined ? '' : String(entries[column]))), row);
  }

  problem(problem: UploadProblem): void {
    if (this.problems.length < MAX_PROBLEMS) this.problems.push(problem);
  }

  build(): ParsedTable {
    if (!this.columns && this.problems.length === 0) this.problem({ message: 'the file is empty' });
    const rows = this.rawLabels.length;
    if (this.problems.length === 0 && rows < 2) this.problem({ message: `has ${rows} data row${rows === 1 ? '' : 's'}; at least 2 are needed` });
    const classNames = naturalSort([...new Set(this.rawLabels)]);
    if (this.problems.length === 0 && classNames.length < 2) this.problem({ column: this.columns![this.labelIndex], message: 'the label has only one value: nothing to learn' });
    if (this.problems.length > 0) throw new UploadInvalidError(this.problems);
    const common = {
      featureNames: this.featureColumns,
      labelColumn: this.columns![this.labelIndex]!,
      features: Float32Array.from(this.values),
      rows,
      ...(this.schema.text !== undefined ? { texts: this.texts } : {}),
    };
    if ((this.schema.labelType ?? inferLabelType(classNames)) === 'number') {
      return { ...common, labelType: 'number', classNames: [], targets: Float32Array.from(this.rawLabels, Number) };
    }
    const index = new Map(classNames.map((name, i) => [name, i]));
    return { ...common, labelType: 'class', classNames, labels: Int32Array.from(this.rawLabels, (label) => index.get(label)!) };
  }
}

/** Numeric labels in numeric order ("2" before "10"), others alphabetically. */
function naturalSort(values: string[]): string[] {
  const numeric = values.every((value) => Number.isFinite(Number(value)));
  return numeric ? values.sort((a, b) => Number(a) - Number(b)) : values.sort();
}
