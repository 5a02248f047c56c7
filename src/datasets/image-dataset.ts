import { createHash } from 'node:crypto';
import { open, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { MAX_LISTED_FILES, ProblemList, type CheckedArchive } from './image-archive.js';
import { decodeImage, ImageDecodeError, imageExtensions, readHeader, type Channels, type ImageHeader, type TargetShape } from './image-decoder.js';
import { UploadInvalidError } from './tabular-parser.js';

/**
 * An image classification set from an archive of class folders: `train/<class>/*.png|jpg`, and
 * optionally `val/` (or `validation/`) and `test/` with the same classes. Every image is decoded
 * once and written as float32 in [0, 1], row-major HWC (what a conv2d layer takes); labels are the
 * class's index among the sorted folder names of train/. Rows are stored train, then validation,
 * then test, each in an order fixed by a hash of the path: classes are mixed, so a job that does
 * not shuffle still holds out rows of every class.
 */

export const splitNames = ['train', 'validation', 'test'] as const;
export type SplitName = (typeof splitNames)[number];

const folderOfSplit: Record<string, SplitName> = { train: 'train', val: 'validation', validation: 'validation', test: 'test' };

// Type aliases, not interfaces: they are stored as JSON, which Prisma types with an index signature.
export type SplitCounts = {
  rows: number;
  /** Rows of each class, by class name, in class order. */
  classCounts: Record<string, number>;
};
export type Splits = { train: SplitCounts } & Partial<Record<Exclude<SplitName, 'train'>, SplitCounts>>;

export type ImageSource = {
  width: number;
  height: number;
  channels: Channels;
  files: number;
};

export interface ImageSet {
  rows: number;
  /** [height, width, channels]. */
  inputShape: [number, number, number];
  classNames: string[];
  splits: Splits;
  /** The sizes the images came in (most common first), and how many were resized. */
  images: { sources: ImageSource[]; resized: number };
}

export interface ImageOptions {
  size?: { width: number; height: number };
  channels?: Channels;
}

/**
 * The most values (rows × height × width × channels) a set may hold: the job service refuses to
 * train on more (src/spec/spec-checks.ts), so a larger set is refused here, before it is decoded.
 */
export const MAX_IMAGE_VALUES = 10_000_000;

/** Class folders in train/: more is a mistake in the layout (a folder per image?) rather than a task. */
export const MAX_CLASSES = 1000;

interface Item {
  path: string;
  split: SplitName;
  className: string;
  order: string;
}

/** Reads, checks and decodes the archive's images into `folder`/features.f32 and labels.i32. */
export async function buildImageSet(archive: CheckedArchive, folder: string, options: ImageOptions): Promise<ImageSet> {
  const { items, classNames } = layout(archive.files.map((file) => file.path));
  const classIndex = new Map(classNames.map((name, i) => [name, i]));
  const problems = new ProblemList();
  const sources = new Map<string, ImageSource & { example: string }>();
  let size = options.size ?? null;
  let channels = options.channels ?? null;
  let sizesDiffer = false;
  let channelsDiffer = false;
  let resized = 0;
  let sizeChecked = false;
  const labels = new Int32Array(items.length);
  let rows = 0;
  const counts = new Map<SplitName, number[]>();

  const features = await open(path.join(folder, 'features.f32'), 'w');
  try {
    for (const item of items) {
      const bytes = await archive.read(item.path);
      let header: ImageHeader;
      try {
        header = await readHeader(bytes);
      } catch (error) {
        if (!(error instanceof ImageDecodeError)) throw error;
        problems.add({ file: item.path, message: error.message });
        continue;
      }
      const key = `${header.width}x${header.height}x${header.channels}`;
      const source = sources.get(key) ?? { ...header, files: 0, example: item.path };
      source.files += 1;
      sources.set(key, source);
      if (size === null) size = { width: header.width, height: header.height };
      else if (!options.size && (header.width !== size.width || header.height !== size.height)) sizesDiffer = true;
      if (channels === null) channels = header.channels;
      else if (!options.channels && header.channels !== channels) channelsDiffer = true;
      if (!sizeChecked) {
        // Known now: a set too large to train on is refused before the rest is decoded.
        sizeChecked = true;
        const values = items.length * size.width * size.height * channels;
        if (values > MAX_IMAGE_VALUES) {
          throw new UploadInvalidError([
            { message: `${items.length} images of ${size.width}×${size.height}×${channels} are ${values} values; at most ${MAX_IMAGE_VALUES} can be trained on: name a smaller size (size=WIDTHxHEIGHT) or channels=1` },
          ]);
        }
      }
      // Once the set cannot be stored, headers still tell the caller every size there is.
      if (sizesDiffer || channelsDiffer) continue;
      const target: TargetShape = { ...size, channels };
      let pixels: Uint8Array;
      try {
        pixels = await decodeImage(bytes, header, target);
      } catch (error) {
        if (!(error instanceof ImageDecodeError)) throw error;
        problems.add({ file: item.path, message: error.message });
        continue;
      }
      if (header.width !== size.width || header.height !== size.height) resized += 1;
      if (problems.total > 0) continue;
      const row = new Float32Array(pixels.length);
      for (let i = 0; i < pixels.length; i++) row[i] = pixels[i]! / 255;
      await features.write(new Uint8Array(row.buffer));
      const label = classIndex.get(item.className)!;
      labels[rows++] = label;
      const splitCounts = counts.get(item.split) ?? new Array<number>(classNames.length).fill(0);
      splitCounts[label]! += 1;
      counts.set(item.split, splitCounts);
      // sharp decodes on the thread pool; this only keeps a long run of tiny images from starving timers.
      if (rows % 256 === 0) await yieldToLoop();
    }
  } finally {
    await features.close();
  }

  const listed = [...sources.values()].sort((a, b) => b.files - a.files);
  if (sizesDiffer) {
    for (const source of listed) problems.add({ file: source.example, message: `${source.files} image${source.files === 1 ? ' is' : 's are'} ${source.width}×${source.height} (e.g. this one): the images differ in size; name one with size=WIDTHxHEIGHT to resize them all` });
  } else if (channelsDiffer) {
    for (const source of listed) problems.add({ file: source.example, message: `${source.files} image${source.files === 1 ? ' has' : 's have'} ${source.channels === 1 ? '1 channel (grey)' : '3 channels (colour)'} (e.g. this one): name channels=1 or channels=3 to convert them all` });
  }
  problems.throwIfAny();
  if (rows < 2) throw new UploadInvalidError([{ message: `has ${rows} image${rows === 1 ? '' : 's'}; at least 2 are needed` }]);

  const splits = {} as Splits;
  for (const split of splitNames) {
    const perClass = counts.get(split);
    if (!perClass) continue;
    splits[split] = { rows: perClass.reduce((a, b) => a + b, 0), classCounts: Object.fromEntries(classNames.map((name, i) => [name, perClass[i]!])) };
  }
  await writeFile(path.join(folder, 'labels.i32'), new Uint8Array(labels.buffer, 0, rows * 4));
  return {
    rows,
    inputShape: [size!.height, size!.width, channels!],
    classNames,
    splits,
    images: { sources: listed.slice(0, MAX_LISTED_FILES).map(({ example: _example, ...source }) => source), resized },
  };
}

/** The archive's files as split/class items in storage order; a 422 naming each file that fits no class folder. */
export function layout(paths: string[]): { items: Item[]; classNames: string[] } {
  const problems = new ProblemList();
  // "Compress folder" wraps everything in one folder named after the data set: look inside it.
  const tops = new Set(paths.map((file) => file.split('/')[0]!));
  const root = tops.size === 1 && paths.every((file) => file.includes('/')) && !folderOfSplit[[...tops][0]!] ? `${[...tops][0]}/` : '';
  const items: Item[] = [];
  for (const file of paths) {
    const parts = file.slice(root.length).split('/');
    const split = folderOfSplit[parts[0]!];
    const extension = path.extname(file).toLowerCase();
    if (!split) problems.add({ file, message: `is outside train/, val/ and test/` });
    else if (parts.length < 3) problems.add({ file, message: `is not in a class folder (${parts[0]}/<class>/…)` });
    else if (!(imageExtensions as readonly string[]).includes(extension)) problems.add({ file, message: `is not a PNG or JPEG (${extension || 'no extension'}): only ${imageExtensions.join(', ')} files are read` });
    else items.push({ path: file, split, className: parts[1]!, order: createHash('sha256').update(file).digest('hex') });
  }
  const classNames = [...new Set(items.filter((item) => item.split === 'train').map((item) => item.className))].sort();
  const known = new Set(classNames);
  if (items.length > 0 && classNames.length === 0) problems.add({ message: 'has no train/ folder: put images in train/<class>/' });
  else {
    for (const item of items) {
      if (!known.has(item.className)) problems.add({ file: item.path, message: `is in class folder "${item.className}", which train/ does not have` });
    }
  }
  if (items.length === 0 && problems.total === 0) problems.add({ message: 'holds no images: put them in train/<class>/ folders' });
  else if (classNames.length === 1 && problems.total === 0) problems.add({ message: `train/ has only one class folder (${classNames[0]}): nothing to learn` });
  else if (classNames.length > MAX_CLASSES) problems.add({ message: `train/ has ${classNames.length} class folders; at most ${MAX_CLASSES} are accepted` });
  problems.throwIfAny();
  const splitOrder = new Map(splitNames.map((name, i) => [name, i]));
  items.sort((a, b) => splitOrder.get(a.split)! - splitOrder.get(b.split)! || (a.order < b.order ? -1 : a.order > b.order ? 1 : 0));
  return { items, classNames };
}
