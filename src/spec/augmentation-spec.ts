import { z } from 'zod';
import type { DatasetShape } from './dataset-spec.js';
import type { JobSpecFields } from './job-spec.js';

/**
 * Image augmentation of the training rows (docs/techniques/regularization.md). The transforms are
 * torchvision's, applied in this order: RandomCrop(size, padding), RandomHorizontalFlip(p), a
 * translation with zero fill (RandomAffine's translate with whole pixels), then ColorJitter's
 * brightness and contrast factors. Pixels are taken to lie in [0, 1] (mnist's do).
 */
export const augmentationSchema = z
  .strictObject({
    randomCrop: z
      .strictObject({ padding: z.int().min(1).max(64).describe('Zeros added on each side before cropping back to the original size') })
      .meta({ id: 'AugmentRandomCrop', description: 'torchvision RandomCrop(size, padding): pad, then crop h × w at an offset uniform in 0 … 2·padding on each axis' })
      .optional(),
    horizontalFlip: z
      .strictObject({ probability: z.number().min(0).max(1).default(0.5).describe('p: each row is mirrored with this probability') })
      .meta({ id: 'AugmentHorizontalFlip', description: 'torchvision RandomHorizontalFlip(p): x′[y, x] = x[y, w − 1 − x]' })
      .optional(),
    translate: z
      .strictObject({ maxPixels: z.int().min(1).max(64).describe('Largest shift, in pixels, on each axis') })
      .meta({ id: 'AugmentTranslate', description: 'Shift by dx, dy each uniform in −maxPixels … maxPixels; uncovered pixels are 0' })
      .optional(),
    brightness: z
      .strictObject({ maxDelta: z.number().positive().max(10).describe('b of ColorJitter(brightness=b)') })
      .meta({ id: 'AugmentBrightness', description: "torchvision ColorJitter's brightness: x′ = clamp(f·x, 0, 1), f uniform in [max(0, 1 − b), 1 + b]" })
      .optional(),
    contrast: z
      .strictObject({
        range: z
          .tuple([z.number().min(0).max(10), z.number().min(0).max(10)])
          .describe('[lower, upper] of the factor, as ColorJitter(contrast=(lower, upper))'),
      })
      .meta({
        id: 'AugmentContrast',
        description: "torchvision ColorJitter's contrast: x′ = clamp(f·x + (1 − f)·m, 0, 1), f uniform in [lower, upper], m the image's mean grey (0.299 R + 0.587 G + 0.114 B with 3 channels, the plain mean otherwise)",
      })
      .optional(),
  })
  .meta({
    id: 'Augmentation',
    description:
      'Random image transforms of every training batch, drawn per row and step from the job seed (a resumed or distributed run draws the same); validation, test and predict rows are never augmented. Only for image inputs [h, w, c]',
  });
export type AugmentationSpec = z.infer<typeof augmentationSchema>;

interface Problem {
  path: (string | number)[];
  message: string;
}

/** Augmentation needs rows that are images, and something to do. */
export function augmentationProblems(spec: JobSpecFields, info: DatasetShape | null): Problem[] {
  const augmentation = spec.augmentation;
  if (!augmentation) return [];
  const problems: Problem[] = [];
  if (Object.values(augmentation).every((transform) => transform === undefined)) {
    problems.push({ path: ['augmentation'], message: 'names no transform: add randomCrop, horizontalFlip, translate, brightness or contrast, or drop it' });
  }
  if (spec.task === 'lrRangeTest') problems.push({ path: ['augmentation'], message: 'not used by an lrRangeTest (it sweeps rates on the plain rows)' });
  const contrast = augmentation.contrast;
  if (contrast && contrast.range[0] > contrast.range[1]) {
    problems.push({ path: ['augmentation', 'contrast', 'range'], message: `lower (${contrast.range[0]}) is above upper (${contrast.range[1]})` });
  }
  // An upload's shape is only known to the job service, which runs the checks again with it.
  if (!info) return problems;
  const shape = info.inputShape ?? [info.featureSize];
  if (shape.length !== 3 || info.vocabulary !== undefined) {
    problems.push({
      path: ['augmentation'],
      message: `only for image inputs [height, width, channels]; this data set's rows are [${shape.join(', ')}]${spec.dataset.name === 'mnist' ? ' (mnist with shape "image" has 28×28×1 images)' : ''}`,
    });
    return problems;
  }
  const [height, width] = shape as [number, number, number];
  for (const [field, pixels] of [
    ['randomCrop', augmentation.randomCrop?.padding],
    ['translate', augmentation.translate?.maxPixels],
  ] as const) {
    if (pixels !== undefined && pixels >= Math.min(height, width)) {
      problems.push({ path: ['augmentation', field, field === 'randomCrop' ? 'padding' : 'maxPixels'], message: `must be below the image's ${Math.min(height, width)} pixels` });
    }
  }
  return problems;
}
