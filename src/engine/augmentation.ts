import type { AugmentationSpec } from '../spec/augmentation-spec.js';
import type { FittedScaling } from './dataset-split.js';
import { deriveSeed, Mulberry32 } from './random.js';

/**
 * The image transforms of spec.augmentation, on plain arrays: pure functions of the job seed,
 * the step and the row, so the trainer, the augmentation thread and every data-parallel thread
 * produce the same pixels for the same (step, row), whoever computes them and in whatever order.
 */

export const AUGMENT_STREAM = 7;

/** One row's random choices. Every row draws all of them, so turning one transform on never moves another's draws. */
export interface AugmentationDraws {
  /** Where the crop starts in the padded image, 0 … 2·padding on each axis. */
  cropX: number;
  cropY: number;
  flip: boolean;
  /** Content moves right by dx and down by dy. */
  dx: number;
  dy: number;
  brightness: number;
  contrast: number;
}

/** murmur3's finaliser: neighbouring steps and rows get unrelated seeds. */
function mix(h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** The stream of row `row` at global step `step`: independent of batch composition and order. */
export function rowSeed(base: number, step: number, row: number): number {
  return mix(mix(base ^ Math.imul(step + 1, 0x9e3779b1)) ^ Math.imul(row + 1, 0x27d4eb2f));
}

export function augmentationBase(jobSeed: number): number {
  return deriveSeed(jobSeed, AUGMENT_STREAM);
}

const uniformInt = (u: number, n: number) => Math.min(n - 1, Math.floor(u * n));

export function drawAugmentation(spec: AugmentationSpec, base: number, step: number, row: number): AugmentationDraws {
  const next = new Mulberry32(rowSeed(base, step, row)).next;
  const [u1, u2, u3, u4, u5, u6, u7] = [next(), next(), next(), next(), next(), next(), next()] as const;
  const padding = spec.randomCrop?.padding ?? 0;
  const shift = spec.translate?.maxPixels ?? 0;
  const b = spec.brightness?.maxDelta;
  const [lower, upper] = spec.contrast?.range ?? [1, 1];
  return {
    cropX: uniformInt(u1, 2 * padding + 1),
    cropY: uniformInt(u2, 2 * padding + 1),
    flip: spec.horizontalFlip !== undefined && u3 < spec.horizontalFlip.probability,
    dx: uniformInt(u4, 2 * shift + 1) - shift,
    dy: uniformInt(u5, 2 * shift + 1) - shift,
    brightness: b === undefined ? 1 : Math.max(0, 1 - b) + u6 * (1 + b - Math.max(0, 1 - b)),
    contrast: lower + u7 * (upper - lower),
  };
}

/**
 * One image [h, w, c] from `source` at `from` into `out` at `to`: crop (from the zero-padded
 * image), flip, translate (zero fill), then brightness and contrast. Values are pixels in [0, 1].
 */
export function augmentImage(
  spec: AugmentationSpec,
  draws: AugmentationDraws,
  shape: readonly number[],
  source: Float32Array,
  from: number,
  out: Float32Array,
  to: number,
): void {
  const [h, w, c] = shape as [number, number, number];
  const padding = spec.randomCrop?.padding ?? 0;
  // Output (y, x) reads, stage by stage backwards, translate ← flip ← crop; off the image at any stage is 0.
  for (let y = 0; y < h; y++) {
    const y1 = y - draws.dy;
    const y3 = y1 + draws.cropY - padding;
    for (let x = 0; x < w; x++) {
      const x1 = x - draws.dx;
      const x2 = draws.flip ? w - 1 - x1 : x1;
      const x3 = x2 + draws.cropX - padding;
      const inside = y1 >= 0 && y1 < h && x1 >= 0 && x1 < w && y3 >= 0 && y3 < h && x3 >= 0 && x3 < w;
      const target = to + (y * w + x) * c;
      const origin = from + (y3 * w + x3) * c;
      for (let k = 0; k < c; k++) out[target + k] = inside ? source[origin + k]! : 0;
    }
  }
  const size = h * w * c;
  if (spec.brightness) {
    const f = draws.brightness;
    for (let i = to; i < to + size; i++) out[i] = clamp01(f * out[i]!);
  }
  if (spec.contrast) {
    const f = draws.contrast;
    const m = meanGrey(out, to, size, c);
    for (let i = to; i < to + size; i++) out[i] = clamp01(f * out[i]! + (1 - f) * m);
  }
}

const clamp01 = (v: number) => (v < 0 ? 0 : v > 1 ? 1 : v);

/** torchvision's rgb_to_grayscale weights for 3 channels; the plain mean otherwise. */
function meanGrey(x: Float32Array, from: number, size: number, channels: number): number {
  let sum = 0;
  if (channels === 3) {
    for (let i = from; i < from + size; i += 3) sum += 0.299 * x[i]! + 0.587 * x[i + 1]! + 0.114 * x[i + 2]!;
    return sum / (size / 3);
  }
  for (let i = from; i < from + size; i++) sum += x[i]!;
  return sum / size;
}

export interface AugmentationSource {
  spec: AugmentationSpec;
  /** augmentationBase(job seed) */
  base: number;
  /** The training rows as stored in the split: [rows, h, w, c], flattened. */
  rows: Float32Array;
  shape: readonly number[];
  /** The split's fitted scaling: rows are augmented as pixels, then scaled again, as Normalize follows the transforms in torchvision. */
  preprocessing: FittedScaling | null;
}

/** The augmented rows `rows` (indices into the training split) of global step `step`, in batch order. */
export function augmentBatch(source: AugmentationSource, step: number, rows: ArrayLike<number>): Float32Array {
  const size = source.shape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(rows.length * size);
  const scaling = source.preprocessing;
  const pixels = scaling ? new Float32Array(size) : source.rows;
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i]!;
    let from = row * size;
    if (scaling) {
      for (let f = 0; f < size; f++) pixels[f] = source.rows[from + f]! * scaling.scale[f]! + scaling.shift[f]!;
      from = 0;
    }
    augmentImage(source.spec, drawAugmentation(source.spec, source.base, step, row), source.shape, pixels, from, out, i * size);
    if (scaling) for (let f = 0, at = i * size; f < size; f++, at++) out[at] = (out[at]! - scaling.shift[f]!) / scaling.scale[f]!;
  }
  return out;
}
