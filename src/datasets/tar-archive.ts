import { createReadStream } from 'node:fs';
import { open, rm, type FileHandle } from 'node:fs/promises';
import { Transform, type Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import tar from 'tar-stream';
import { PayloadTooLargeError } from '../errors/errors.js';
import { litter, ProblemList, tooManyEntries, unsafeName, type ArchiveFile, type ArchiveLimits, type CheckedArchive } from './image-archive.js';
import { UploadInvalidError } from './tabular-parser.js';

/** Room for the headers around the files' bytes in a tar stream: a header block, and a long name or pax record, per entry. */
const HEADER_BYTES_PER_ENTRY = 2048;

interface Stored {
  offset: number;
  bytes: number;
}

/**
 * A tar (or gzipped tar) archive a user uploaded, read once in order, trusting nothing in it: names
 * are checked like a zip's (no absolute paths, no `..`), links, devices and fifos are refused, and
 * the entry count and every byte out of the decompressor are counted against the limits as they
 * stream, so a gzip bomb stops at the limits. A tar has no index to read an entry from later, so
 * the accepted files' bytes are copied as they pass into one scratch file beside the upload (never
 * a tree of files named by the archive) and read back from it by offset; close() deletes it.
 */
export class TarArchive implements CheckedArchive {
  private constructor(
    private readonly scratch: string,
    private readonly handle: FileHandle,
    private readonly stored: Map<string, Stored>,
    readonly skipped: number,
  ) {}

  get files(): ArchiveFile[] {
    return [...this.stored].map(([path, entry]) => ({ path, declaredBytes: entry.bytes }));
  }

  /** Reads the whole archive; a 422 listing each bad entry, or a 413 over the limits. `scratch` is where its files' bytes are kept. */
  static async open(file: string, gzipped: boolean, scratch: string, limits: ArchiveLimits): Promise<TarArchive> {
    const handle = await open(scratch, 'w+');
    const stored = new Map<string, Stored>();
    const problems = new ProblemList();
    const problem = (path: string, message: string) => problems.add({ file: JSON.stringify(path).slice(1, -1).slice(0, 300), message });
    let streamed = 0;
    const budget = limits.maxUncompressedBytes + limits.maxEntries * HEADER_BYTES_PER_ENTRY;
    const meter = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        streamed += chunk.length;
        callback(streamed > budget ? inflatesTooMuch(limits) : null, chunk);
      },
    });
    const source: Readable = createReadStream(file);
    const extract = tar.extract();
    const unzip = gzipped ? createGunzip() : null;
    // Errors of the upstream streams (a broken gzip) reach the iteration below through `extract`.
    const fail = (error: Error) => extract.destroy(error);
    source.on('error', fail);
    unzip?.on('error', (error) => fail(notA('gzip', error)));
    meter.on('error', fail);
    (unzip ? source.pipe(unzip) : source).pipe(meter).pipe(extract);
    let seen = 0;
    let written = 0;
    let skipped = 0;
    try {
      for await (const entry of extract) {
        seen += 1;
        if (seen > limits.maxEntries) throw tooManyEntries(seen, limits);
        const { header } = entry;
        const name = header.type === 'directory' ? header.name.replace(/\/+$/, '') : header.name;
        const nameProblem = unsafeName(name);
        const size = header.size ?? 0;
        let keep = false;
        if (nameProblem) problem(name, nameProblem);
        else if (header.type === 'symlink') problem(name, 'is a symbolic link: only regular files are accepted');
        else if (header.type === 'link') problem(name, 'is a hard link: only regular files are accepted');
        else if (header.type === 'directory') {
          // Folders are implied by the files in them.
        } else if (header.type !== 'file' && header.type !== 'contiguous-file') problem(name, 'is not a regular file (a device, pipe or socket)');
        else if (litter(name)) skipped += 1;
        else if (stored.has(name)) problem(name, 'appears twice in the archive');
        else if (size > limits.maxEntryBytes) problem(name, `is ${size} bytes; at most ${limits.maxEntryBytes} per file`);
        else keep = true;
        if (!keep) {
          // Skipped bytes still pass the meter: a refused entry cannot hide a bomb.
          entry.resume();
          continue;
        }
        const offset = written;
        for await (const chunk of entry as AsyncIterable<Buffer>) {
          if (written + chunk.length > limits.maxUncompressedBytes) throw inflatesTooMuch(limits);
          await handle.write(chunk, 0, chunk.length, written);
          written += chunk.length;
        }
        stored.set(name, { offset, bytes: written - offset });
      }
    } catch (error) {
      await handle.close();
      await rm(scratch, { force: true });
      source.destroy();
      if (error instanceof PayloadTooLargeError || error instanceof UploadInvalidError) throw error;
      throw notA(gzipped ? 'tar.gz' : 'tar', error as Error);
    }
    if (problems.total > 0) {
      await handle.close();
      await rm(scratch, { force: true });
      problems.throwIfAny();
    }
    return new TarArchive(scratch, handle, stored, skipped);
  }

  async read(path: string): Promise<Buffer> {
    const entry = this.stored.get(path);
    if (!entry) throw new Error(`no entry ${path} in the archive`);
    const bytes = Buffer.alloc(entry.bytes);
    await this.handle.read(bytes, 0, entry.bytes, entry.offset);
    return bytes;
  }

  async close(): Promise<void> {
    await this.handle.close();
    await rm(this.scratch, { force: true });
  }
}

function inflatesTooMuch(limits: ArchiveLimits): PayloadTooLargeError {
  return new PayloadTooLargeError(`the archive inflates beyond ${limits.maxUncompressedBytes} bytes (ARCHIVE_MAX_UNCOMPRESSED_BYTES)`);
}

function notA(kind: 'gzip' | 'tar' | 'tar.gz', error: Error): UploadInvalidError | PayloadTooLargeError {
  if (error instanceof PayloadTooLargeError || error instanceof UploadInvalidError) return error;
  return new UploadInvalidError([{ message: `not a readable ${kind} archive: ${error.message}` }]);
}
