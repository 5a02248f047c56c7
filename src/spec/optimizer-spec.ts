import { z } from 'zod';

/**
 * Optimizers as named, serialisable configs (TECHNIQUES.md 1.2). The defaults are the catalogue's;
 * the update rules are those of PyTorch's torch.optim (src/engine/optimizers/).
 */

const momentumCoefficient = z.number().min(0).lt(1).describe('μ in [0, 1); typical 0.5, 0.9, 0.99');
const beta = (value: number, name: string) => z.number().min(0).lt(1).default(value).describe(`${name} in [0, 1)`);
const epsilon = (value: number) => z.number().positive().max(1).default(value).describe('ε added to the denominator');

export const sgdConfigSchema = z
  .strictObject({ type: z.literal('sgd') })
  .meta({ id: 'SgdOptimizer', description: 'θ ← θ − η g' });

export const momentumConfigSchema = z
  .strictObject({ type: z.literal('momentum'), momentum: momentumCoefficient.default(0.9) })
  .meta({ id: 'MomentumOptimizer', description: 'v ← μ v + g ; θ ← θ − η v' });

export const nesterovConfigSchema = z
  .strictObject({ type: z.literal('nesterov'), momentum: momentumCoefficient.default(0.9) })
  .meta({ id: 'NesterovOptimizer', description: 'v ← μ v + g ; θ ← θ − η (g + μ v)' });

export const adagradConfigSchema = z
  .strictObject({
    type: z.literal('adagrad'),
    epsilon: epsilon(1e-10),
    initialAccumulator: z.number().min(0).default(0).describe('Starting value of G'),
  })
  .meta({ id: 'AdagradOptimizer', description: 'G ← G + g² ; θ ← θ − η g / (√G + ε)' });

export const rmspropConfigSchema = z
  .strictObject({
    type: z.literal('rmsprop'),
    rho: beta(0.9, 'γ, the decay of the squared-gradient average,'),
    epsilon: epsilon(1e-8),
    momentum: z.number().min(0).lt(1).default(0).describe('μ; with μ > 0: b ← μ b + g / (√s + ε) ; θ ← θ − η b'),
  })
  .meta({ id: 'RmspropOptimizer', description: 's ← γ s + (1−γ) g² ; θ ← θ − η g / (√s + ε)' });

const adamFields = {
  beta1: beta(0.9, 'β1'),
  beta2: beta(0.999, 'β2'),
  epsilon: epsilon(1e-8),
};

export const adamConfigSchema = z
  .strictObject({ type: z.literal('adam'), ...adamFields })
  .meta({ id: 'AdamOptimizer', description: 'bias-corrected moments; θ ← θ − η m̂ / (√v̂ + ε)' });

export const adamwConfigSchema = z
  .strictObject({
    type: z.literal('adamw'),
    ...adamFields,
    weightDecay: z.number().min(0).max(1).default(0.01).describe('λ, decoupled: θ ← θ − η λ θ before the Adam step'),
  })
  .meta({ id: 'AdamwOptimizer', description: 'θ ← θ − η λ θ − η m̂ / (√v̂ + ε)' });

export const optimizerConfigSchema = z
  .discriminatedUnion('type', [
    sgdConfigSchema,
    momentumConfigSchema,
    nesterovConfigSchema,
    adagradConfigSchema,
    rmspropConfigSchema,
    adamConfigSchema,
    adamwConfigSchema,
  ])
  .meta({ id: 'OptimizerConfig' });
export type OptimizerConfig = z.infer<typeof optimizerConfigSchema>;
export type OptimizerName = OptimizerConfig['type'];

export const optimizerNames = ['sgd', 'momentum', 'nesterov', 'adagrad', 'rmsprop', 'adam', 'adamw'] as const satisfies readonly OptimizerName[];
export const optimizerNameSchema = z.enum(optimizerNames).meta({ id: 'OptimizerName' });

/** A name ("adam") or a config object; a name takes every default. */
export const optimizerRefSchema = z.union([optimizerNameSchema, optimizerConfigSchema]);
export type OptimizerRef = z.infer<typeof optimizerRefSchema>;

export function resolveOptimizer(ref: OptimizerRef): OptimizerConfig {
  return typeof ref === 'string' ? optimizerConfigSchema.parse({ type: ref }) : ref;
}

/** The rate used when a spec names none: torch.optim's defaults. */
export const defaultLearningRates: Record<OptimizerName, number> = {
  sgd: 0.01,
  momentum: 0.01,
  nesterov: 0.01,
  adagrad: 0.01,
  rmsprop: 0.01,
  adam: 0.001,
  adamw: 0.001,
};
