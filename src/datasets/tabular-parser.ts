/**
 * Turns the records of an uploaded file into a classification table, reporting the first
 * problems precisely (row, column, value, why). Rows are numbered as a person counts them in
 * the file: the CSV header is row 1, the first JSON Lines record is row 1.
 */
export interface UploadProblem {
  row?: number;
  column?: string;
  value?: string;
  message: string;
}

export class UploadInvalidError extends Error {
  override name = 'UploadInvalidError';
  constructor(readonly problems: UploadProblem[]) {
    super(`the upload is not a usable data set: ${problems.map(describeProblem).join('; ')}`);
  }
}

/** Where in the file: `row 5, column "x"`, or `(file)` for the file as a whole. */
export function problemLocation(problem: UploadProblem): string {
  const where = [problem.row !== undefined ? `row ${problem.row}` : '', problem.column !== undefined ? `column "${problem.column}"` : ''].filter(Boolean).join(', ');
  return where || '(file)';
}

export function describeProblem(problem: UploadProblem): string {
  return `${problemLocation(problem)}: ${problem.message}${problem.value !== undefined ? ` (value ${JSON.stringify(problem.value)})` : ''}`;
}

export interface ParsedTable {
  featureNames: string[];
  labelColumn: string;
  classNames: string[];
  features: Float32Array;
  labels: Int32Array;
  rows: number;
}

const MAX_PROBLEMS = 10;

/** Splits one CSV line (RFC 4180 quoting: "a,b" and "" for a quote); null when a quote is left open. */
export function splitCsvLine(line: string): string[] | null {
  const fields: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const char = line[i]!;
    if (quoted) {
      if (char === '"' && line[i + 1] === '"') {
        field += '"';
        i++;
      } else if (char === '"') quoted = false;
      else field += char;
    } else if (char === '"' && field === '') quoted = true;
    else if (char === ',') {
      fields.push(field);
      field = '';
    } else field += char;
  }
  if (quoted) return null;
  fields.push(field);
  return fields.map((value) => value.trim());
}

/** Collects records (column name → raw value) and builds the table once they are all in. */
export class TableBuilder {
  private columns: string[] | null = null;
  private readonly values: number[] = [];
  private readonly rawLabels: string[] = [];
  private readonly problems: UploadProblem[] = [];
  private featureColumns: string[] = [];
  private labelIndex = -1;

  constructor(private readonly requestedLabel: string | undefined) {}

  get full(): boolean {
    return this.problems.length >= MAX_PROBLEMS;
  }

  /** The header, naming the columns; the label column is the requested one, else `label`, else the last. */
  setColumns(columns: string[], row: number): void {
    const seen = new Set<string>();
    for (const column of columns) {
      if (column === '') this.problem({ row, message: 'a column has no name' });
      else if (seen.has(column)) this.problem({ row, column, message: 'the column name appears twice' });
      seen.add(column);
    }
    const label = this.requestedLabel ?? (columns.includes('label') ? 'label' : columns.at(-1));
    this.labelIndex = label === undefined ? -1 : columns.indexOf(label);
    if (this.labelIndex < 0) {
      this.problem({ row, column: label, message: `the label column is missing (columns: ${columns.join(', ')})` });
    }
    this.columns = columns;
    this.featureColumns = columns.filter((_, i) => i !== this.labelIndex);
    if (this.featureColumns.length === 0) this.problem({ row, message: 'there are no feature columns besides the label' });
  }

  addRow(fields: string[], row: number): void {
    const columns = this.columns!;
    if (fields.length !== columns.length) {
      this.problem({ row, message: `has ${fields.length} fields, the header has ${columns.length} (a ragged row)` });
      return;
    }
    fields.forEach((value, i) => {
      if (i === this.labelIndex) {
        if (value === '') this.problem({ row, column: columns[i]!, value, message: 'the label is empty' });
        this.rawLabels.push(value);
        return;
      }
      const number = value === '' ? Number.NaN : Number(value);
      if (!Number.isFinite(number)) this.problem({ row, column: columns[i]!, value, message: 'a feature must be a finite number' });
      this.values.push(number);
    });
  }

  addRecord(record: unknown, row: number): void {
    if (!record || typeof record !== 'object' || Array.isArray(record)) {
      this.problem({ row, message: 'each record must be a JSON object' });
      return;
    }
    const entries = record as Record<string, unknown>;
    if (!this.columns) this.setColumns(Object.keys(entries), row);
    const columns = this.columns!;
    const keys = Object.keys(entries);
    const missing = columns.filter((column) => !(column in entries));
    const extra = keys.filter((key) => !columns.includes(key));
    if (missing.length || extra.length) {
      this.problem({ row, message: `has different fields from the first record (${[...missing.map((m) => `missing ${m}`), ...extra.map((e) => `extra ${e}`)].join(', ')})` });
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
    if (this.problems.length === 0 && classNames.length < 2) this.problem({ column: this.columns![this.labelIndex], message: 'the label has only one value: nothing to classify' });
    if (this.problems.length > 0) throw new UploadInvalidError(this.problems);
    const index = new Map(classNames.map((name, i) => [name, i]));
    return {
      featureNames: this.featureColumns,
      labelColumn: this.columns![this.labelIndex]!,
      classNames,
      features: Float32Array.from(this.values),
      labels: Int32Array.from(this.rawLabels, (label) => index.get(label)!),
      rows,
    };
  }
}

/** Numeric labels in numeric order ("2" before "10"), others alphabetically. */
function naturalSort(values: string[]): string[] {
  const numeric = values.every((value) => Number.isFinite(Number(value)));
  return numeric ? values.sort((a, b) => Number(a) - Number(b)) : values.sort();
}
