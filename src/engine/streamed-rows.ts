import { open, type FileHandle } from 'node:fs/promises';

interface Pending {
  rows: Int32Array;
  result: Promise<Float32Array>;
}

/**
 * Rows of a features.f32 file (row-major float32), read by file offset instead of loaded: a data
 * set larger than the training process's memory trains through it. Reads are async, so libuv's
 * thread pool reads the next batch while TF computes the current one (`prefetch`, then `take`).
 * Runs of consecutive rows are read with one call each: unshuffled and held-out rows come in
 * a few large reads, shuffled rows in one read per row.
 */
export class StreamedRows {
  private readonly pending: Pending[] = [];
  private readonly rowBytes: number;

  private constructor(
    private readonly file: FileHandle,
    readonly path: string,
    readonly featureSize: number,
    readonly rows: number,
  ) {
    this.rowBytes = featureSize * 4;
  }

  static async open(path: string, featureSize: number, rows: number): Promise<StreamedRows> {
    const file = await open(path, 'r');
    const { size } = await file.stat();
    if (size !== rows * featureSize * 4) {
      await file.close();
      throw new Error(`${path} holds ${size} bytes, not ${rows} rows × ${featureSize} float32 features`);
    }
    return new StreamedRows(file, path, featureSize, rows);
  }

  /** Starts reading `rows` (data set row indices) now, unless that read is already under way. */
  prefetch(rows: Int32Array): void {
    if (!this.find(rows)) this.request(rows);
  }

  /** The rows' features, [rows.length × featureSize]; reads started before this one's are forgotten. */
  async take(rows: Int32Array): Promise<Float32Array> {
    const ready = this.find(rows) ?? this.request(rows);
    this.pending.splice(0, this.pending.indexOf(ready) + 1);
    return ready.result;
  }

  async close(): Promise<void> {
    this.pending.length = 0;
    await this.file.close();
  }

  private find(rows: Int32Array): Pending | undefined {
    return this.pending.find((p) => p.rows.length === rows.length && p.rows.every((row, i) => row === rows[i]));
  }

  private request(rows: Int32Array): Pending {
    const copy = rows.slice();
    const result = this.read(copy);
    // A prefetch nobody takes (a rollback, an abort) may fail with the file closed: no unhandled rejection.
    result.catch(() => undefined);
    const pending = { rows: copy, result };
    this.pending.push(pending);
    return pending;
  }

  private async read(rows: Int32Array): Promise<Float32Array> {
    const out = new Float32Array(rows.length * this.featureSize);
    const bytes = new Uint8Array(out.buffer);
    // Checked before any read starts, so no read is left running unawaited.
    const outside = rows.find((row) => row < 0 || row >= this.rows);
    if (outside !== undefined) throw new RangeError(`row ${outside} is outside the ${this.rows} rows of ${this.path}`);
    const reads: Promise<unknown>[] = [];
    for (let begin = 0; begin < rows.length; ) {
      let end = begin + 1;
      while (end < rows.length && rows[end] === rows[end - 1]! + 1) end++;
      const first = rows[begin]!;
      reads.push(this.readFully(bytes, begin * this.rowBytes, (end - begin) * this.rowBytes, first * this.rowBytes));
      begin = end;
    }
    await Promise.all(reads);
    return out;
  }

  /** A read may return fewer bytes than asked (a signal, a network file system): ask again for the rest. */
  private async readFully(into: Uint8Array, offset: number, length: number, position: number): Promise<void> {
    let done = 0;
    while (done < length) {
      const { bytesRead } = await this.file.read(into, offset + done, length - done, position + done);
      if (bytesRead === 0) throw new Error(`${this.path} ended before byte ${position + length}`);
      done += bytesRead;
    }
  }
}
