import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ConflictError, NotFoundError, PayloadTooLargeError } from '../errors/errors.js';
import type { Dataset as DatasetRow } from '../generated/prisma/client.js';
import { isUuid } from '../db/ids.js';
import { Prisma, type PrismaClient } from '../db/prisma.js';
import { labelCountsOf, writeTable } from './dataset-files.js';
import { ZipArchive, type ArchiveLimits, type CheckedArchive } from './image-archive.js';
import { TarArchive } from './tar-archive.js';
import { textStatistics, type TextStatistics } from '../engine/text-vocabulary.js';
import { textOptionsSchema } from '../spec/text-spec.js';
import { buildImageSet, type ImageOptions, type ImageSet, type Splits } from './image-dataset.js';
import { parse as parseCsv } from 'csv-parse';
import streamArray from 'stream-json/streamers/stream-array.js';
import { TableBuilder, type LabelType, type ParsedTable, type TableSchema } from './tabular-parser.js';

export const tableFormats = ['csv', 'jsonl', 'json'] as const;
export type TableFormat = (typeof tableFormats)[number];
export const archiveFormats = ['zip', 'tar', 'tar.gz'] as const;
export type ArchiveFormat = (typeof archiveFormats)[number];
export const uploadFormats = [...tableFormats, ...archiveFormats] as const;
export type UploadFormat = (typeof uploadFormats)[number];

/** The most bytes one file of an archive may inflate to. */
const MAX_ARCHIVE_ENTRY_BYTES = 64 * 1024 * 1024;

export interface UploadedDataset {
  id: string;
  name: string;
  format: string;
  sha256: string;
  sizeBytes: number;
  rows: number;
  featureNames: string[];
  labelColumn: string;
  labelType: LabelType;
  /** Empty when labelType is number. */
  classNames: string[];
  /** Values per row: features for a table, height × width × channels for images. */
  featureSize: number;
  /** [height, width, channels] for images; null for a table (its rows are [featureSize]). */
  inputShape: number[] | null;
  /** Rows per split and class; null for uploads stored before splits were recorded. */
  splits: Splits | null;
  images: ImageSet['images'] | null;
  /** A text set's text column (its rows are texts); null for numbers and images. */
  textColumn: string | null;
  /** A text set's token counts under the default tokenizer; null otherwise. */
  textStats: TextStatistics | null;
  createdAt: string;
}

/** Where an upload lives while it is received and checked, before it is renamed into place. */
const STAGING_PREFIX = '.upload-';

/** Statuses in which a job may still read its data set. */
const activeStatuses = ['queued', 'running', 'pausing', 'paused', 'cancelling'];

/**
 * User uploads: streamed to disk (never held whole in memory) while hashed and counted, parsed
 * and checked, converted to the trainer's binary form, then moved into place in one rename, so a
 * broken or oversized upload leaves nothing behind. Identical bytes give the same data set.
 */
export class DatasetService {
  constructor(
    private readonly prisma: PrismaClient,
    private readonly dataDir: string,
    private readonly limitBytes: number,
    private readonly archiveLimits: Omit<ArchiveLimits, 'maxEntryBytes'> = { maxEntries: 50_000, maxUncompressedBytes: 1 << 30 },
  ) {}

  upload(projectId: string, body: Readable, options: { name: string; format: TableFormat } & TableSchema): Promise<{ dataset: UploadedDataset; created: boolean }> {
    return this.store(projectId, body, options.format, (existing) => assertSameSchema(existing, options), async (staging, original) => {
      const table = await parse(original, options.format, options);
      await writeTable(staging, table);
      return {
        name: options.name,
        format: options.format,
        rows: table.rows,
        featureNames: table.featureNames,
        labelColumn: table.labelColumn,
        labelType: table.labelType,
        classNames: table.classNames,
        textColumn: options.text ?? null,
        // The default tokenizer's view: what a job that names no other would see.
        ...(table.texts ? { textStats: textStatistics(table.texts, textOptionsSchema.parse({})) } : {}),
        splits: { train: { rows: table.rows, classCounts: table.labelType === 'class' ? labelCountsOf(table.labels, table.classNames) : {} } } satisfies Splits,
      };
    });
  }

  /**
   * An image classification set from an archive of class folders (src/datasets/image-dataset.ts):
   * the archive is streamed to disk like any upload, then read entry by entry (a zip by its index, a
   * tar in one pass), never extracted.
   */
  uploadArchive(projectId: string, body: Readable, options: { name: string; format: ArchiveFormat } & ImageOptions): Promise<{ dataset: UploadedDataset; created: boolean }> {
    return this.store(projectId, body, options.format, (existing) => assertSameImageOptions(existing, options), async (staging, original) => {
      const limits = { ...this.archiveLimits, maxEntryBytes: MAX_ARCHIVE_ENTRY_BYTES };
      const archive: CheckedArchive =
        options.format === 'zip' ? await ZipArchive.open(original, limits) : await TarArchive.open(original, options.format === 'tar.gz', path.join(staging, '.tar-files'), limits);
      try {
        const set = await buildImageSet(archive, staging, options);
        return {
          name: options.name,
          format: options.format,
          rows: set.rows,
          featureNames: [],
          labelColumn: IMAGE_LABEL_COLUMN,
          labelType: 'class',
          classNames: set.classNames,
          inputShape: set.inputShape,
          splits: set.splits,
          images: set.images,
        };
      } finally {
        await archive.close();
      }
    });
  }

  /**
   * Receives the body into a staging folder, answers an upload of the same bytes with the data set
   * it already is, else builds the trainer's files there and moves the folder into place.
   */
  private async store(
    projectId: string,
    body: Readable,
    format: UploadFormat,
    sameAs: (existing: UploadedDataset) => void,
    build: (staging: string, original: string) => Promise<Omit<Prisma.DatasetUncheckedCreateInput, 'projectId' | 'sha256' | 'sizeBytes' | 'path'>>,
  ): Promise<{ dataset: UploadedDataset; created: boolean }> {
    await mkdir(this.dataDir, { recursive: true });
    const staging = path.join(this.dataDir, `${STAGING_PREFIX}${randomBytes(6).toString('hex')}`);
    await mkdir(staging);
    try {
      const original = path.join(staging, `original.${format}`);
      const { sha256, sizeBytes } = await this.receive(body, original);
      const existing = await this.prisma.dataset.findUnique({ where: { projectId_sha256: { projectId, sha256 } } });
      if (existing) {
        const dataset = toUploaded(existing);
        sameAs(dataset);
        return { dataset, created: false };
      }

      const data = await build(staging, original);
      // Per project: deleting one project's copy must not take another's files.
      const folder = path.join(projectId, sha256);
      await rm(path.join(this.dataDir, folder), { recursive: true, force: true });
      await mkdir(path.join(this.dataDir, projectId), { recursive: true });
      await rename(staging, path.join(this.dataDir, folder));
      try {
        const row = await this.prisma.dataset.create({ data: { ...data, projectId, sha256, sizeBytes, path: folder } });
        return { dataset: toUploaded(row), created: true };
      } catch (error) {
        // The same bytes uploaded twice at once: the other request recorded it.
        if (error instanceof Prisma.PrismaClientKnownRequestError && error.code === 'P2002') {
          return { dataset: toUploaded(await this.prisma.dataset.findUniqueOrThrow({ where: { projectId_sha256: { projectId, sha256 } } })), created: false };
        }
        await rm(path.join(this.dataDir, folder), { recursive: true, force: true });
        throw error;
      }
    } finally {
      await rm(staging, { recursive: true, force: true });
    }
  }

  /**
   * Removes staging folders of uploads whose API process died mid-way. Several API processes may
   * share DATA_DIR, so only folders nothing has written to for `idleMs` go: a live upload writes
   * its file continuously, and no request outlives REQUEST_TIMEOUT_MS.
   */
  async removeAbandonedStaging(idleMs: number): Promise<string[]> {
    const entries = await readdir(this.dataDir, { withFileTypes: true }).catch(() => []);
    const removed: string[] = [];
    for (const entry of entries) {
      if (!entry.isDirectory() || !entry.name.startsWith(STAGING_PREFIX)) continue;
      const folder = path.join(this.dataDir, entry.name);
      const files = await readdir(folder).catch(() => []);
      const times = await Promise.all([folder, ...files.map((file) => path.join(folder, file))].map((item) => stat(item).then((info) => info.mtimeMs, () => 0)));
      if (Date.now() - Math.max(...times) < idleMs) continue;
      await rm(folder, { recursive: true, force: true });
      removed.push(entry.name);
    }
    return removed;
  }

  async list(projectId: string): Promise<UploadedDataset[]> {
    return (await this.prisma.dataset.findMany({ where: { projectId }, orderBy: { id: 'asc' } })).map(toUploaded);
  }

  /** Another project's upload is as unknown as a missing one. */
  async get(projectId: string, id: string): Promise<UploadedDataset & { path: string }> {
    const row = isUuid(id) ? await this.prisma.dataset.findFirst({ where: { id, projectId } }) : null;
    if (!row) throw new NotFoundError('data set', id);
    return { ...toUploaded(row), path: row.path };
  }

  /** Refused (409) while a job that has not finished uses it. */
  async delete(projectId: string, id: string): Promise<void> {
    const dataset = await this.get(projectId, id);
    const users = await this.prisma.$queryRaw<{ id: string; status: string }[]>`
      SELECT id::text, status::text FROM jobs
      WHERE project_id = ${projectId}::uuid AND spec->'dataset'->>'id' = ${id} AND status::text = ANY(${activeStatuses}) LIMIT 5`;
    if (users.length > 0) {
      throw new ConflictError(`data set ${id} is used by jobs that have not finished: ${users.map((u) => `${u.id} (${u.status})`).join(', ')}`);
    }
    await this.prisma.dataset.delete({ where: { id } });
    await rm(path.join(this.dataDir, dataset.path), { recursive: true, force: true });
  }

  private async receive(body: Readable, file: string): Promise<{ sha256: string; sizeBytes: number }> {
    const hash = createHash('sha256');
    let sizeBytes = 0;
    const limit = this.limitBytes;
    const meter = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        sizeBytes += chunk.length;
        if (sizeBytes > limit) {
          callback(new PayloadTooLargeError(`the upload exceeds the ${limit}-byte limit (UPLOAD_LIMIT_BYTES)`));
          return;
        }
        hash.update(chunk);
        callback(null, chunk);
      },
    });
    await pipeline(body, meter, createWriteStream(file));
    return { sha256: hash.digest('hex'), sizeBytes };
  }
}

async function parse(file: string, format: TableFormat, schema: TableSchema): Promise<ParsedTable> {
  const builder = new TableBuilder(schema);
  if (format === 'json') {
    // Element by element: a JSON array is never held whole in memory.
    const elements = createReadStream(file).pipe(streamArray.withParserAsStream());
    try {
      for await (const { key, value } of elements as AsyncIterable<{ key: number; value: unknown }>) {
        builder.addRecord(value, key + 1);
        if (builder.full) break;
      }
    } catch (error) {
      const message = (error as Error).message;
      builder.problem({ message: /top-level/i.test(message) ? 'a JSON upload must be an array of records' : `not valid JSON: ${message}` });
    } finally {
      elements.destroy();
    }
    return builder.build();
  }
  if (format === 'jsonl') {
    let row = 0;
    const lines = createInterface({ input: createReadStream(file, 'utf8'), crlfDelay: Infinity });
    for await (const line of lines) {
      row += 1;
      if (builder.full) break;
      if (line.trim() === '') continue;
      let record: unknown;
      try {
        record = JSON.parse(line);
      } catch {
        builder.problem({ row, value: line.slice(0, 80), message: 'not a JSON object' });
        continue;
      }
      builder.addRecord(record, row);
    }
    lines.close();
    return builder.build();
  }
  // csv-parse reads in time linear in the file, chunk by chunk as the file streams in, so even a
  // 1 MB header line never holds the event loop; quoted fields may span lines (RFC 4180).
  const records = createReadStream(file).pipe(
    parseCsv({ info: true, bom: true, trim: true, skip_empty_lines: true, relax_column_count: true, relax_quotes: true }),
  );
  // The line the last whole record ended on: an unclosed quote opened on a line after it.
  let lastLine = 0;
  try {
    for await (const { record, info } of records as AsyncIterable<{ record: string[]; info: { lines: number } }>) {
      if (lastLine === 0) builder.setColumns(record, info.lines);
      else builder.addRow(record, info.lines);
      lastLine = info.lines;
      if (builder.full) break;
    }
  } catch (error) {
    const { code, lines } = error as { code?: string; lines?: number };
    if (code === 'CSV_QUOTE_NOT_CLOSED') builder.problem({ row: lastLine + 1, message: 'a quoted field is not closed: it opens on this row and runs to the end of the file' });
    else builder.problem({ ...(lines !== undefined ? { row: lines } : {}), message: `not valid CSV (${code ?? 'unreadable'})` });
  } finally {
    records.destroy();
  }
  return builder.build();
}

/** What an image set's labelColumn says: the class is the name of the folder an image is in. */
export const IMAGE_LABEL_COLUMN = 'folder';

function toUploaded(row: DatasetRow): UploadedDataset {
  const inputShape = (row.inputShape as number[] | null) ?? null;
  return {
    id: row.id,
    name: row.name,
    format: row.format,
    sha256: row.sha256,
    sizeBytes: row.sizeBytes,
    rows: row.rows,
    featureNames: row.featureNames as string[],
    labelColumn: row.labelColumn,
    labelType: row.labelType as LabelType,
    classNames: row.classNames as string[],
    featureSize: inputShape ? inputShape.reduce((a, b) => a * b, 1) : (row.featureNames as string[]).length,
    inputShape,
    splits: (row.splits as Splits | null) ?? null,
    images: (row.images as ImageSet['images'] | null) ?? null,
    textColumn: row.textColumn,
    textStats: (row.textStats as TextStatistics | null) ?? null,
    createdAt: row.createdAt.toISOString(),
  };
}

/** The same archive again: fine, unless this upload asks for another size or channels. */
function assertSameImageOptions(existing: UploadedDataset, options: ImageOptions): void {
  const [height, width, channels] = existing.inputShape ?? [];
  const differences: string[] = [];
  if (options.size && (options.size.width !== width || options.size.height !== height)) differences.push(`size ${width}x${height}`);
  if (options.channels && options.channels !== channels) differences.push(`channels ${channels}`);
  if (differences.length > 0) {
    throw new ConflictError(`the same archive is already data set ${existing.id}, read with ${differences.join(', ')}; delete it first to read it differently`);
  }
}

/** The same bytes were uploaded before: fine, unless this upload declares a different reading of them. */
function assertSameSchema(existing: UploadedDataset, schema: TableSchema): void {
  const differences: string[] = [];
  if (schema.label !== undefined && schema.label !== existing.labelColumn) differences.push(`label ${existing.labelColumn}`);
  if (schema.labelType !== undefined && schema.labelType !== existing.labelType) differences.push(`labelType ${existing.labelType}`);
  if (schema.text !== (existing.textColumn ?? undefined)) differences.push(existing.textColumn ? `text ${existing.textColumn}` : 'no text column');
  else if (schema.features !== undefined && schema.features.join(',') !== existing.featureNames.join(',')) differences.push(`features ${existing.featureNames.join(',')}`);
  if (differences.length > 0) {
    throw new ConflictError(`the same file is already data set ${existing.id}, read with ${differences.join(', ')}; delete it first to read it differently`);
  }
}
