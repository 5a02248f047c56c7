import { close, fstat, open, read } from 'node:fs';
import { promisify } from 'node:util';

interface Pending {
  rows: Int32Array;
  result: Promise<Float32Array>;
}

/**
 * Rows of a features.f32 file (row-major float32), read by file offset instead of loaded: a data
 * set larger than the training process's memory trains through it. Reads are async, so libuv's
 * thread pool reads the next batch while TF computes the current one (`prefetch`, then `take`).
 * Runs of consecutive rows are read with one call each: unshuffled and held-out rows come in
 * a few large reads, shuffled rows in one read per row. The callback `fs.read` on a plain
 * descriptor, not FileHandle.read: a promise per row cost three times as much (6–8 ms against
 * 2.5 ms for 256 rows of 1 KiB on this 2-core VM), as long as the training step itself.
 */
export class StreamedRows {
  private readonly pending: Pending[] = [];
  /** Every read not yet finished, taken or not: the descriptor is closed only after them, so none reads a reused one. */
  private readonly inFlight = new Set<Promise<Float32Array>>();
  private readonly rowBytes: number;

  private constructor(
    private readonly fd: number,
    readonly path: string,
    readonly featureSize: number,
    readonly rows: number,
  ) {
    this.rowBytes = featureSize * 4;
  }

  static async open(path: string, featureSize: number, rows: number): Promise<StreamedRows> {
    const fd = await promisify(open)(path, 'r');
    const { size } = await promisify(fstat)(fd);
    if (size !== rows * featureSize * 4) {
      await promisify(close)(fd);
      throw new Error(`${path} holds ${size} bytes, not ${rows} rows × ${featureSize} float32 features`);
    }
    return new StreamedRows(fd, path, featureSize, rows);
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
    await Promise.allSettled(this.inFlight);
    await promisify(close)(this.fd);
  }

  private find(rows: Int32Array): Pending | undefined {
    return this.pending.find((p) => p.rows.length === rows.length && p.rows.every((row, i) => row === rows[i]));
  }

  private request(rows: Int32Array): Pending {
    const copy = rows.slice();
    const result = this.read(copy);
    this.inFlight.add(result);
    const settled = () => this.inFlight.delete(result);
    result.then(settled, settled);
    // A prefetch nobody takes (a rollback, an abort) may fail with the file closed: no unhandled rejection.
    result.catch(() => undefined);
    const pending = { rows: copy, result };
    this.pending.push(pending);
    return pending;
  }

  private read(rows: Int32Array): Promise<Float32Array> {
    // Checked before any read starts, so no read is left running unawaited.
    const outside = rows.find((row) => row < 0 || row >= this.rows);
    if (outside !== undefined) return Promise.reject(new RangeError(`row ${outside} is outside the ${this.rows} rows of ${this.path}`));
    const out = new Float32Array(rows.length * this.featureSize);
    const bytes = new Uint8Array(out.buffer);
    const runs: [offset: number, length: number, position: number][] = [];
    for (let begin = 0; begin < rows.length; ) {
      let end = begin + 1;
      while (end < rows.length && rows[end] === rows[end - 1]! + 1) end++;
      runs.push([begin * this.rowBytes, (end - begin) * this.rowBytes, rows[begin]! * this.rowBytes]);
      begin = end;
    }
    // Settles once every run has finished, even after a failure, so `close` never pulls the descriptor from under one.
    return new Promise((resolve, reject) => {
      let left = runs.length;
      if (left === 0) resolve(out);
      let failure: Error | null = null;
      const done = (error: Error | null) => {
        failure ??= error;
        if (--left > 0) return;
        if (failure) reject(failure);
        else resolve(out);
      };
      for (const [offset, length, position] of runs) this.readFully(bytes, offset, length, position, done);
    });
  }

  /** A read may return fewer bytes than asked (a signal, a network file system): ask again for the rest. */
  private readFully(into: Uint8Array, offset: number, length: number, position: number, done: (error: Error | null) => void): void {
    read(this.fd, into, offset, length, position, (error, bytesRead) => {
      if (error) done(error);
      else if (bytesRead === length) done(null);
      else if (bytesRead === 0) done(new Error(`${this.path} ended before byte ${position + length}`));
      else this.readFully(into, offset + bytesRead, length - bytesRead, position + bytesRead, done);
    });
  }
}
