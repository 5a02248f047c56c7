import { z } from 'zod';
import { initializerSchema } from '../spec/initializer-spec.js';

/** Fields several layer types share, and the envelope every layer's schema has (type, name, inputs). */

export const activationSchema = z
  .enum(['linear', 'relu', 'relu6', 'elu', 'selu', 'sigmoid', 'tanh', 'softmax', 'softplus', 'softsign', 'swish', 'gelu'])
  .meta({ id: 'Activation' });
export type Activation = z.infer<typeof activationSchema>;

/** What `inputs` names for the model's own input. */
export const MODEL_INPUT = 'input';

const NAME = /^[A-Za-z][A-Za-z0-9_]{0,63}$/;
const nameRule = 'must start with a letter and hold only letters, digits and _ (at most 64)';

const layerName = z
  .string()
  .regex(NAME, nameRule)
  .optional()
  .describe('Layer name; generated (<type>_<index>) when absent. Used to match layers across jobs and by other layers\' inputs.');

const layerInputs = z
  .array(z.string().regex(NAME, nameRule))
  .min(1)
  .max(16)
  .optional()
  .describe(
    `The layers whose outputs this layer reads, by name (or "${MODEL_INPUT}", the model's input), each listed before it. ` +
      'The previous layer (the model\'s input for the first) when absent. Naming inputs makes the model a graph: residual connections, merges, several branches',
  );

export const kernelInitializer = initializerSchema.optional().describe('Default glorotUniform');
export const biasInitializer = initializerSchema.optional().describe('Default zeros');

export const kernelRegularizer = z
  .strictObject({ l1: z.number().min(0).max(10).default(0), l2: z.number().min(0).max(10).default(0) })
  .optional()
  .describe("This layer's kernel penalty, instead of regularization.l1/l2");

export const maxNorm = z
  .number()
  .positive()
  .max(1e6)
  .optional()
  .describe("c: after every optimizer step each unit's incoming weights are rescaled to an L2 norm of at most c (torch.renorm; Keras MaxNorm), instead of regularization.maxNorm");

export const windowSize = z.union([z.int().min(1).max(1024), z.tuple([z.int().min(1).max(1024), z.int().min(1).max(1024)])]);
export const padding = z.enum(['valid', 'same']).default('valid');

/** A layer type's schema: its literal type, the optional name and inputs every layer has, then its own fields. */
export function layerObject<T extends string, F extends z.ZodRawShape>(type: T, fields: F) {
  return z.strictObject({ type: z.literal(type), name: layerName, inputs: layerInputs, ...fields });
}
