import { z } from 'zod';

/**
 * Optimizers as named, serialisable configs (docs/techniques/optimization.md). The defaults are
 * torch.optim's; so are the update rules (src/engine/optimizers/), and every option a user porting
 * from torch.optim reaches for: coupled weight decay, dampening, centered RMSprop, AMSGrad.
 */

const momentumCoefficient = z.number().min(0).lt(1).describe('μ in [0, 1); typical 0.5, 0.9, 0.99');
const beta = (value: number, name: string) => z.number().min(0).lt(1).default(value).describe(`${name} in [0, 1)`);
const epsilon = (value: number) => z.number().positive().max(1).default(value).describe('ε added to the denominator');
// Optional rather than defaulted: a config that leaves them out is echoed unchanged.
const coupledWeightDecay = z
  .number()
  .min(0)
  .max(1)
  .optional()
  .describe('λ, coupled (L2 through the gradient, as torch.optim\'s weight_decay): g ← g + λ θ before the update; 0 when absent');
const amsgrad = z
  .boolean()
  .optional()
  .describe('AMSGrad (Reddi et al. 2018), in torch\'s form: v_max ← max(v_max, v), and θ ← θ − η m̂ / (√(v_max / (1 − β2ᵗ)) + ε); false when absent');

export const sgdConfigSchema = z
  .strictObject({ type: z.literal('sgd'), weightDecay: coupledWeightDecay })
  .meta({ id: 'SgdOptimizer', description: 'θ ← θ − η g  (torch.optim.SGD)' });

export const momentumConfigSchema = z
  .strictObject({
    type: z.literal('momentum'),
    momentum: momentumCoefficient.default(0.9),
    dampening: z
      .number()
      .min(0)
      .lt(1)
      .optional()
      .describe('d: v ← μ v + (1 − d) g after the first step (the first step sets v ← g, as torch does); 0 when absent'),
    weightDecay: coupledWeightDecay,
  })
  .meta({ id: 'MomentumOptimizer', description: 'v ← μ v + g ; θ ← θ − η v  (torch.optim.SGD with momentum)' });

export const nesterovConfigSchema = z
  .strictObject({ type: z.literal('nesterov'), momentum: momentumCoefficient.default(0.9), weightDecay: coupledWeightDecay })
  .meta({ id: 'NesterovOptimizer', description: 'v ← μ v + g ; θ ← θ − η (g + μ v)  (torch.optim.SGD with nesterov, which allows no dampening)' });

export const adagradConfigSchema = z
  .strictObject({
    type: z.literal('adagrad'),
    epsilon: epsilon(1e-10),
    initialAccumulator: z.number().min(0).default(0).describe('Starting value of G'),
    weightDecay: coupledWeightDecay,
  })
  .meta({ id: 'AdagradOptimizer', description: 'G ← G + g² ; θ ← θ − η g / (√G + ε)  (torch.optim.Adagrad, lr_decay 0)' });

export const rmspropConfigSchema = z
  .strictObject({
    type: z.literal('rmsprop'),
    rho: beta(0.9, 'γ, the decay of the squared-gradient average,'),
    epsilon: epsilon(1e-8),
    momentum: z.number().min(0).lt(1).default(0).describe('μ; with μ > 0: b ← μ b + g / (√s + ε) ; θ ← θ − η b'),
    centered: z
      .boolean()
      .optional()
      .describe('Graves 2013: also keep ḡ ← γ ḡ + (1−γ) g and divide by √(s − ḡ²) + ε (an estimate of the variance); false when absent'),
    weightDecay: coupledWeightDecay,
  })
  .meta({ id: 'RmspropOptimizer', description: 's ← γ s + (1−γ) g² ; θ ← θ − η g / (√s + ε)  (torch.optim.RMSprop, alpha = γ)' });

const adamFields = {
  beta1: beta(0.9, 'β1'),
  beta2: beta(0.999, 'β2'),
  epsilon: epsilon(1e-8),
  amsgrad,
};

export const adamConfigSchema = z
  .strictObject({ type: z.literal('adam'), ...adamFields, weightDecay: coupledWeightDecay })
  .meta({ id: 'AdamOptimizer', description: 'bias-corrected moments; θ ← θ − η m̂ / (√v̂ + ε)  (torch.optim.Adam)' });

export const adamwConfigSchema = z
  .strictObject({
    type: z.literal('adamw'),
    ...adamFields,
    weightDecay: z.number().min(0).max(1).default(0.01).describe('λ, decoupled: θ ← θ − η λ θ before the Adam step'),
  })
  .meta({ id: 'AdamwOptimizer', description: 'θ ← θ − η λ θ − η m̂ / (√v̂ + ε)  (torch.optim.AdamW, Loshchilov & Hutter 2019)' });

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
