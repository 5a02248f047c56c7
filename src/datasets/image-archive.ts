import yauzl from 'yauzl';
import { PayloadTooLargeError } from '../errors/errors.js';
import { UploadInvalidError, type UploadProblem } from './tabular-parser.js';

/**
 * Reads a zip archive that a user uploaded, trusting nothing in it: entry names are checked before
 * anything is read (no absolute paths, no `..`, no links or devices), the entry count and the
 * uncompressed bytes are bounded, and every entry is inflated into memory only up to the size its
 * header declared (yauzl stops a stream that inflates to more), so a zip bomb costs at most the
 * limits. Nothing is ever extracted to disk: entries are handed to the caller as buffers.
 */

export interface ArchiveLimits {
  /** Files and folders in the archive. */
  maxEntries: number;
  /** All entries together, inflated. */
  maxUncompressedBytes: number;
  /** One entry, inflated: a larger image is not one a training set needs. */
  maxEntryBytes: number;
}

export interface ArchiveFile {
  /** The entry's name, as checked: relative, `/`-separated, without `.` or `..` segments. */
  path: string;
  declaredBytes: number;
}

/** An uploaded archive once its entries are checked: the files in it, each read on demand. */
export interface CheckedArchive {
  readonly files: ArchiveFile[];
  /** Files skipped as operating-system litter. */
  readonly skipped: number;
  read(path: string): Promise<Buffer>;
  close(): void | Promise<void>;
}

/** Most problems listed in one 422: the rest are counted. */
export const MAX_LISTED_FILES = 20;

/** The first MAX_LISTED_FILES problems, and how many there were. */
export class ProblemList {
  readonly listed: UploadProblem[] = [];
  total = 0;

  add(problem: UploadProblem): void {
    this.total += 1;
    if (this.listed.length < MAX_LISTED_FILES) this.listed.push(problem);
  }

  throwIfAny(): void {
    if (this.total > 0) throw new UploadInvalidError(this.listed, this.total);
  }
}

const S_IFMT = 0o170000;
const S_IFREG = 0o100000;
const S_IFDIR = 0o040000;
const S_IFLNK = 0o120000;
/** The high byte of "version made by" for archives made on Unix, whose attributes carry a file mode. */
const MADE_ON_UNIX = 3;
const UTF8_NAMES = 0x800;

/** Operating-system litter that archivers add to folders; skipped, not refused. */
export const litter = (name: string) => name.startsWith('__MACOSX/') || name.split('/').some((part) => part.startsWith('.')) || /(^|\/)(Thumbs\.db|desktop\.ini)$/i.test(name);

export class ZipArchive implements CheckedArchive {
  private constructor(
    private readonly zip: yauzl.ZipFile,
    private readonly entries: Map<string, yauzl.Entry>,
    private readonly limits: ArchiveLimits,
    /** Files skipped as operating-system litter. */
    readonly skipped: number,
  ) {}

  private inflated = 0;

  get files(): ArchiveFile[] {
    return [...this.entries].map(([path, entry]) => ({ path, declaredBytes: entry.uncompressedSize }));
  }

  /** Lists and checks every entry; a 422 listing each bad name, or a 413 over the limits, before any entry is inflated. */
  static async open(file: string, limits: ArchiveLimits): Promise<ZipArchive> {
    const zip = await new Promise<yauzl.ZipFile>((resolve, reject) =>
      // Names are decoded and checked here, not by yauzl, so that a bad one is reported with the others rather than ending the listing.
      yauzl.open(file, { lazyEntries: true, autoClose: false, decodeStrings: false, validateEntrySizes: true }, (error, opened) => (error ? reject(notAZip(error)) : resolve(opened))),
    );
    try {
      // The end record's count is only a claim, but an honest 10⁵-entry archive is refused without listing it.
      if (zip.entryCount > limits.maxEntries) throw tooManyEntries(zip.entryCount, limits);
      const entries = new Map<string, yauzl.Entry>();
      const problems = new ProblemList();
      const problem = (path: string, message: string) => problems.add({ file: path, message });
      let seen = 0;
      let declared = 0;
      let skipped = 0;
      await new Promise<void>((resolve, reject) => {
        zip.on('error', (error: Error) => reject(notAZip(error)));
        zip.on('end', () => resolve());
        zip.on('entry', (entry: yauzl.Entry) => {
          seen += 1;
          if (seen > limits.maxEntries) {
            reject(tooManyEntries(seen, limits));
            return;
          }
          const raw = entry.fileName as unknown as Buffer;
          const name = raw.toString(entry.generalPurposeBitFlag & UTF8_NAMES ? 'utf8' : 'latin1');
          const shown = JSON.stringify(name).slice(1, -1).slice(0, 300);
          const nameProblem = unsafeName(name);
          const mode = entry.versionMadeBy >> 8 === MADE_ON_UNIX ? (entry.externalFileAttributes >>> 16) & S_IFMT : 0;
          const isFolder = name.endsWith('/') || mode === S_IFDIR;
          if (nameProblem) problem(shown, nameProblem);
          else if (mode === S_IFLNK) problem(shown, 'is a symbolic link: only regular files are accepted');
          else if (mode !== 0 && mode !== S_IFREG && mode !== S_IFDIR) problem(shown, 'is not a regular file (a device, pipe or socket)');
          else if (isFolder) {
            // Folders are implied by the files in them.
          } else if (litter(name)) skipped += 1;
          else if (entry.isEncrypted()) problem(shown, 'is encrypted');
          else if (entry.compressionMethod !== 0 && entry.compressionMethod !== 8) problem(shown, `uses compression method ${entry.compressionMethod}; only stored and deflated entries are read`);
          else if (entries.has(name)) problem(shown, 'appears twice in the archive');
          else if (entry.uncompressedSize > limits.maxEntryBytes) problem(shown, `inflates to ${entry.uncompressedSize} bytes; at most ${limits.maxEntryBytes} per file`);
          else {
            declared += entry.uncompressedSize;
            entries.set(name, entry);
          }
          zip.readEntry();
        });
        zip.readEntry();
      });
      if (declared > limits.maxUncompressedBytes) {
        throw new PayloadTooLargeError(`the archive inflates to ${declared} bytes; at most ${limits.maxUncompressedBytes} are accepted (ARCHIVE_MAX_UNCOMPRESSED_BYTES)`);
      }
      problems.throwIfAny();
      return new ZipArchive(zip, entries, limits, skipped);
    } catch (error) {
      zip.close();
      throw error;
    }
  }

  /**
   * One entry's bytes. yauzl fails a stream that inflates beyond its declared size (or its CRC), so
   * the bytes held are bounded by the checked headers; they are counted here as well, against the
   * whole archive's budget.
   */
  async read(path: string): Promise<Buffer> {
    const entry = this.entries.get(path);
    if (!entry) throw new Error(`no entry ${path} in the archive`);
    // A damaged archive fails here (its local header cut off or not matching the directory).
    const stream = await new Promise<NodeJS.ReadableStream>((resolve, reject) =>
      this.zip.openReadStream(entry, (error, opened) => (error ? reject(new UploadInvalidError([{ file: path, message: `cannot be read: ${error.message}` }])) : resolve(opened))),
    );
    const chunks: Buffer[] = [];
    let bytes = 0;
    try {
      for await (const chunk of stream as AsyncIterable<Buffer>) {
        bytes += chunk.length;
        this.inflated += chunk.length;
        if (bytes > this.limits.maxEntryBytes || this.inflated > this.limits.maxUncompressedBytes) {
          throw new PayloadTooLargeError(`${path} inflates beyond the limits (ARCHIVE_MAX_UNCOMPRESSED_BYTES)`);
        }
        chunks.push(chunk);
      }
    } catch (error) {
      (stream as unknown as { destroy?: () => void }).destroy?.();
      if (error instanceof PayloadTooLargeError) throw error;
      throw new UploadInvalidError([{ file: path, message: `cannot be inflated: ${(error as Error).message}` }]);
    }
    return Buffer.concat(chunks, bytes);
  }

  close(): void {
    this.zip.close();
  }
}

/** Why a name may not be used, or null when it is a plain relative path. */
export function unsafeName(name: string): string | null {
  if (name.length === 0) return 'has an empty name';
  if (name.includes('\0')) return 'has a NUL character in its name';
  if (name.includes('\\')) return 'has a backslash in its name: use / between folders';
  if (name.startsWith('/') || /^[a-zA-Z]:/.test(name)) return 'has an absolute path';
  const parts = name.replace(/\/$/, '').split('/');
  if (parts.some((part) => part === '..')) return 'has a path that leaves the archive (..)';
  if (parts.some((part) => part === '' || part === '.')) return 'has an empty or "." path segment';
  return null;
}

export function tooManyEntries(count: number, limits: ArchiveLimits): PayloadTooLargeError {
  return new PayloadTooLargeError(`the archive has ${count === limits.maxEntries + 1 ? 'more than ' + limits.maxEntries : count} entries; at most ${limits.maxEntries} are accepted (ARCHIVE_MAX_ENTRIES)`);
}

function notAZip(error: Error): UploadInvalidError {
  return new UploadInvalidError([{ message: `not a readable zip archive: ${error.message}` }]);
}
