import { z } from 'zod';

/**
 * Weight initializers (docs/techniques/initialization.md) as named, serialisable configs: a name takes the defaults,
 * an object sets the parameters. fan_in and fan_out follow Keras: for a kernel [in, out] they are
 * in and out; for a convolution kernel [kh, kw, cin, cout], kh·kw·cin and kh·kw·cout.
 */
export const initializerNames = ['uniform', 'normal', 'zeros', 'constant', 'glorotUniform', 'glorotNormal', 'heNormal', 'heUniform', 'orthogonal', 'identity'] as const;
export type InitializerName = (typeof initializerNames)[number];

const gain = z.number().positive().max(100).default(1);

export const initializerConfigSchema = z
  .discriminatedUnion('type', [
    z.strictObject({ type: z.literal('uniform'), limit: z.number().positive().max(100).default(0.1).describe('a: values ~ U[−a, a]') }),
    z.strictObject({ type: z.literal('normal'), mean: z.number().min(-100).max(100).default(0), stddev: z.number().positive().max(100).default(0.05) }),
    z.strictObject({ type: z.literal('zeros') }),
    z.strictObject({ type: z.literal('constant'), value: z.number().min(-1e6).max(1e6).default(0) }),
    z.strictObject({ type: z.literal('glorotUniform') }).describe('U[−l, l], l = √(6 / (fan_in + fan_out))'),
    z.strictObject({ type: z.literal('glorotNormal') }).describe('N(0, 2 / (fan_in + fan_out))'),
    z.strictObject({ type: z.literal('heNormal') }).describe('N(0, 2 / fan_in)'),
    z.strictObject({ type: z.literal('heUniform') }).describe('U[−√(6 / fan_in), √(6 / fan_in)]'),
    z.strictObject({ type: z.literal('orthogonal'), gain }).describe('gain · Q of the QR decomposition of a normal matrix (2-D weights only)'),
    z.strictObject({ type: z.literal('identity'), gain }).describe('gain · I, for square 2-D weights (e.g. a simpleRnn recurrent kernel)'),
  ])
  .meta({ id: 'InitializerConfig' });
export type InitializerConfig = z.infer<typeof initializerConfigSchema>;

export const initializerSchema = z
  .union([z.enum(initializerNames), initializerConfigSchema])
  .meta({
    id: 'Initializer',
    description:
      'uniform (±0.1), normal (0, 0.05), zeros, constant, glorotUniform, glorotNormal, heNormal (Var = 2/fan_in), heUniform (±√(6/fan_in)), orthogonal, identity; a name takes the defaults',
  });
export type InitializerRef = z.infer<typeof initializerSchema>;

export function resolveInitializer(ref: InitializerRef): InitializerConfig {
  return typeof ref === 'string' ? initializerConfigSchema.parse({ type: ref }) : ref;
}
