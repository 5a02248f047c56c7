import { z } from 'zod';
import { checkpointRef } from './layer-spec.js';

/** Starting from other jobs' weights (`init`): the sources, how the model takes them, and what the worker runs. */

const layerRef = z.union([z.string().min(1), z.int().min(0)]);

const initSourceSchema = z
  .strictObject({
    job: z.uuid().describe('The job whose weights to start from (finished or running)'),
    checkpoint: checkpointRef,
    layers: z
      .array(z.string().min(1).max(64))
      .min(1)
      .max(1000)
      .optional()
      .describe('Only these layers from this source, by name; default every layer of the model with a namesake in its checkpoint'),
  })
  .meta({ id: 'InitSource' });
export type InitSourceRef = z.infer<typeof initSourceSchema>;

export const initSchema = z
  .strictObject({
    from: z
      .union([initSourceSchema, z.array(initSourceSchema).min(1).max(8)])
      .describe(
        'One source, or several (e.g. an encoder and a decoder each pretrained as a language model): each layer loads from the one source whose checkpoint has its name; ' +
          'a name in more than one is a 400 unless one source\'s `layers` lists it',
      ),
    mode: z
      .enum(['finetune', 'linearProbe'])
      .default('finetune')
      .describe('finetune: every layer trains (but frozen ones); linearProbe: keep the layers up to cutAt, frozen, and put the output layer on top'),
    freeze: z
      .union([
        z.strictObject({ upTo: layerRef.describe('This layer and every layer it depends on: in a stack the layers before it, in a graph its ancestors (not a parallel branch listed earlier)') }),
        z.strictObject({ layers: z.array(z.string().min(1)).min(1).describe('Layer names') }),
      ])
      .optional()
      .describe('finetune: layers whose weights stay as loaded'),
    cutAt: layerRef.optional().describe('linearProbe: the last layer kept (name or index); default the last hidden layer'),
    transfer: z
      .literal('auto')
      .optional()
      .describe('Pick freeze/finetune and the cut from the new data set\'s size and `similarity` (docs/techniques/initialization.md); the choice and its reason are recorded'),
    similarity: z.enum(['similar', 'different']).optional().describe('transfer auto: how the new data set relates to the source job\'s'),
    smallDatasetRows: z.int().min(1).default(5000).describe('transfer auto: at most this many training rows count as a small data set'),
  })
  .meta({
    id: 'Init',
    description:
      'Start from other jobs\' checkpoints: layers are matched by name, and every weight a source has for a layer must be one of the layer\'s, of the same shape; ' +
      'weights the source lacks (a decoder block\'s cross-attention, when the source was a language model) and layers in no source start fresh. ' +
      'Frozen layers keep their loaded weights and run in inference mode.',
  });

const fixedSource = { job: z.uuid(), checkpoint: z.uuid() };

/** What the worker runs: the source checkpoints fixed, the frozen layers listed, the model already cut. */
export const resolvedInitSchema = z
  .strictObject({
    /** The first source. */
    from: z.strictObject(fixedSource),
    /** Further sources and the layers each gives; the loaded layers not listed here come from `from`. */
    alsoFrom: z.array(z.strictObject({ ...fixedSource, layers: z.array(z.string()).min(1) })).optional(),
    mode: z.enum(['finetune', 'linearProbe']),
    /** Layers loaded from the checkpoints, by name. */
    loaded: z.array(z.string()),
    /** Weights of loaded layers that their source lacks (`<layer>/<weight>`): they start fresh. */
    fresh: z.array(z.string()).optional(),
    frozen: z.array(z.string()),
    cutAt: z.string().optional(),
    reason: z.string().describe('What was loaded, frozen and trained fresh, and for transfer auto why'),
  })
  .meta({ id: 'ResolvedInit' });
export type ResolvedInit = z.infer<typeof resolvedInitSchema>;

/** Each source checkpoint of a resolved init with the layers it gives. */
export function initSources(init: ResolvedInit): { job: string; checkpoint: string; layers: string[] }[] {
  const others = init.alsoFrom ?? [];
  const elsewhere = new Set(others.flatMap((source) => source.layers));
  return [{ ...init.from, layers: init.loaded.filter((layer) => !elsewhere.has(layer)) }, ...others];
}
