import { describe, expect, it } from 'vitest';
import { jobSpecSchema, resolveJobSpec, resolvedJobSpecSchema } from '../../src/spec/job-spec.js';
import { tinyIrisSpec } from '../support/specs.js';

describe('job spec', () => {
  it('fills defaults and spells out the optimizer', () => {
    const spec = resolveJobSpec(jobSpecSchema.parse({ dataset: { name: 'mnist' }, model: { layers: [{ type: 'dense', units: 10 }] } }), { drawSeed: () => 42 });
    expect(spec).toMatchObject({ optimizer: { type: 'adam', beta1: 0.9, beta2: 0.999, epsilon: 1e-8 }, learningRate: 0.001, seed: 42, epochs: 10 });
    expect(resolvedJobSpecSchema.parse(spec)).toEqual(spec);
  });

  it('keeps an explicit seed and learning rate', () => {
    const spec = resolveJobSpec(jobSpecSchema.parse(tinyIrisSpec({ seed: 3, learningRate: 0.2, optimizer: 'sgd' })), { drawSeed: () => 99 });
    expect(spec).toMatchObject({ seed: 3, learningRate: 0.2, optimizer: { type: 'sgd' } });
  });

  it('a resolved spec is a valid submission again (a job can be resubmitted as echoed)', () => {
    const spec = resolveJobSpec(jobSpecSchema.parse(tinyIrisSpec()));
    expect(jobSpecSchema.safeParse(spec).success).toBe(true);
  });

  it('reports cross-field problems at the field they concern', () => {
    const result = jobSpecSchema.safeParse(
      tinyIrisSpec({
        dataset: { name: 'iris', limit: 500 },
        model: { layers: [{ type: 'dense', units: 8, name: 'a' }, { type: 'dense', units: 3, name: 'a' }, { type: 'activation', activation: 'relu' }] },
      }),
    );
    expect(result.success).toBe(false);
    const paths = result.error!.issues.map((issue) => issue.path.join('.'));
    expect(paths).toEqual(expect.arrayContaining(['dataset.limit', 'model.layers.1.name', 'model.layers.2.activation']));
  });

  it('needs a validation split that holds out at least one row when it is not 0', () => {
    const result = jobSpecSchema.safeParse(tinyIrisSpec({ dataset: { name: 'iris', limit: 4 }, validationSplit: 0.1, batchSize: 2 }));
    expect(result.success).toBe(false);
    expect(result.error!.issues[0]).toMatchObject({ path: ['validationSplit'], message: expect.stringContaining('holds out no rows') });
  });
});
