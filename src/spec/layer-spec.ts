import { z } from 'zod';
import { layerSchema } from '../layers/registry.js';

/** The model part of the job spec: its layers (each type's module is in src/layers/), auxiliary heads, progressive columns. */

export { activationSchema, type Activation } from '../layers/fields.js';
export { layerSchema, type LayerSpec } from '../layers/registry.js';

export const auxiliaryHeadSchema = z
  .strictObject({
    after: z
      .union([z.string(), z.int().min(0)])
      .describe('The hidden layer the head reads: its name, or its index in layers'),
    weight: z.number().positive().max(100).default(0.3).describe('α: L = L_main + Σ α·L_head'),
    decayToZeroByEpoch: z
      .int()
      .min(1)
      .optional()
      .describe('α falls linearly, step by step, to 0 at the end of this epoch (and stays 0); constant when absent'),
  })
  .meta({
    id: 'AuxiliaryHead',
    description:
      'Deeply supervised nets (Lee et al. 2015): a dense output head (flattened input, the output layer\'s units and activation) after a hidden layer, ' +
      'trained with the same loss; its loss is reported as aux_<layer>_loss; heads are not part of the exported model',
  });

export const checkpointRef = z
  .union([z.enum(['best', 'last']), z.uuid()])
  .default('best')
  .describe('best (by its monitored metric; the newest when none is marked), last, or a checkpoint id');

export const progressiveSchema = z
  .strictObject({
    columns: z
      .array(
        z
          .strictObject({
            job: z.uuid().describe('A finished (or running) job whose model becomes a frozen column'),
            checkpoint: checkpointRef,
            layers: z.array(layerSchema).optional().describe('Filled in at submission from the job; do not send'),
          })
          .meta({ id: 'ProgressiveColumn' }),
      )
      .min(1)
      .max(4),
  })
  .meta({
    id: 'Progressive',
    description:
      'Progressive networks (Rusu et al. 2016): earlier jobs\' models (dense stacks) become frozen columns; each dense layer k ≥ 1 of `layers` ' +
      '(the new column) also receives a linear lateral adapter from every column\'s hidden activation k−1. The export holds all columns',
  });

export const modelSchema = z
  .strictObject({
    auxiliaryHeads: z.array(auxiliaryHeadSchema).max(16).optional(),
    progressive: progressiveSchema.optional(),
    layers: z
      .array(layerSchema)
      .min(1)
      .max(256)
      .describe(
        'A stack, or a graph where layers name their inputs. The last layer is the model\'s output; the last dense layer is the output layer: its units must equal the data set\'s classes. ' +
          'With a softmax activation its outputs are probabilities; otherwise they are treated as logits.',
      ),
  })
  .meta({ id: 'Model' });
