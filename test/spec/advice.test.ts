import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { adviceCodes, adviceRules, adviseOn, type AdviceRule } from '../../src/spec/advice/index.js';
import { reluStackVariance } from '../../src/spec/advice/deep-relu-variance.js';
import { describeDataset } from '../../src/spec/dataset-spec.js';
import { jobSpecSchema, resolveJobSpec, type JobSpecInput } from '../../src/spec/job-spec.js';

const resolve = (input: JobSpecInput) => {
  const spec = resolveJobSpec(jobSpecSchema.parse(input), { drawSeed: () => 1 });
  return { spec, info: describeDataset(spec.dataset)! };
};
const codesOf = (input: JobSpecInput) => {
  const { spec, info } = resolve(input);
  return adviseOn(spec, info).map((advice) => advice.code);
};
const rule = (code: string): AdviceRule => adviceRules.find((r) => r.code === code)!;
/** The rule's findings alone, as field → reason. */
const findings = (code: string, input: JobSpecInput) => rule(code).check(resolve(input));

const mlp = (layers: NonNullable<JobSpecInput['model']>['layers'], overrides: Partial<JobSpecInput> = {}): JobSpecInput => ({
  dataset: { name: 'mnist', limit: 5000 },
  model: { layers },
  epochs: 5,
  batchSize: 64,
  ...overrides,
});
const relu = (units: number, extra: Record<string, unknown> = {}) => ({ type: 'dense' as const, units, activation: 'relu' as const, ...extra });
const out = { type: 'dense' as const, units: 10 };

describe('the advice registry', () => {
  it('has one rule per code, each with a source', () => {
    expect(adviceRules.map((r) => r.code)).toEqual([...adviceCodes]);
    for (const r of adviceRules) expect(r.source.length).toBeGreaterThan(10);
  });

  it('names each finding by field with its reason and source, and drops the codes the spec silences', () => {
    const input = mlp([relu(64), out], { optimizer: 'adam', learningRate: 0.05 });
    const { spec, info } = resolve(input);
    expect(adviseOn(spec, info)).toEqual([
      { code: 'adamRateFarFromDefault', field: 'learningRate', reason: expect.stringContaining('50× above its default 0.001'), source: rule('adamRateFarFromDefault').source },
    ]);
    expect(codesOf({ ...input, silenceAdvice: ['adamRateFarFromDefault'] })).toEqual([]);
  });

  it('refuses a code it does not know in silenceAdvice, naming the entry', () => {
    const parsed = jobSpecSchema.safeParse(mlp([out], { silenceAdvice: ['noSuchAdvice'] as never }));
    expect(parsed.success).toBe(false);
    expect(parsed.error!.issues[0]!.path).toEqual(['silenceAdvice', 0]);
  });
});

describe('examples/', () => {
  const dir = fileURLToPath(new URL('../../examples/', import.meta.url));
  // An example that exists to show what a tip warns about gets that advice, and only that one.
  const intended: Record<string, string[]> = {
    // It shows batch norm and dropout together: the combination the tip says is unnecessary.
    'mlp-batchnorm-dropout.json': ['batchNormWithDropout'],
  };
  it('gets no advice, but where the example exists to show it', async () => {
    const files = (await readdir(dir)).filter((file) => file.endsWith('.json')).sort();
    expect(files.length).toBeGreaterThan(20);
    for (const file of files) {
      const example = JSON.parse(await readFile(`${dir}${file}`, 'utf8')) as JobSpecInput;
      expect(codesOf(example), file).toEqual(intended[file] ?? []);
    }
  });
});

describe('unscaledLearningRate', () => {
  it('fires when the batch moves 4× from 32 and the rate stays the default, for each optimizer phase', () => {
    expect(findings('unscaledLearningRate', mlp([relu(64), out], { batchSize: 256, optimizer: 'momentum' }))[0]).toMatchObject({
      path: ['batchSize'],
      reason: expect.stringContaining('η = 0.01 · 256/32 = 0.08'),
    });
    expect(findings('unscaledLearningRate', mlp([relu(64), out], { batchSize: 8, optimizer: 'adam' }))).toHaveLength(1);
    expect(findings('unscaledLearningRate', mlp([relu(64), out], { batchSize: 128, optimizer: [{ optimizer: 'adam', untilEpoch: 2, learningRate: 0.002 }, { optimizer: 'sgd' }] }))).toHaveLength(1);
  });

  it('is quiet when the rate was chosen, is scaled, or the batch is near 32', () => {
    expect(findings('unscaledLearningRate', mlp([relu(64), out], { batchSize: 256, optimizer: 'momentum', learningRate: 0.08 }))).toEqual([]);
    expect(findings('unscaledLearningRate', mlp([relu(64), out], { batchSize: 256, optimizer: 'momentum', linearScaling: { baseBatchSize: 32, baseLearningRate: 0.01 } }))).toEqual([]);
    expect(findings('unscaledLearningRate', mlp([relu(64), out], { batchSize: 64, optimizer: 'momentum' }))).toEqual([]);
  });
});

describe('largeBatchSmallDataset', () => {
  it('fires for a batch above 32 that leaves a small set fewer than 16 steps an epoch', () => {
    const [finding] = findings('largeBatchSmallDataset', { dataset: { name: 'spirals', rows: 1000 }, model: { layers: [relu(32), { type: 'dense', units: 2 }] }, batchSize: 128, learningRate: 0.01 });
    expect(finding).toMatchObject({ path: ['batchSize'], reason: expect.stringContaining('800 training rows is 7 steps an epoch') });
  });

  it('is quiet for batch 32 on a tiny set, for many steps, and for a large set', () => {
    expect(findings('largeBatchSmallDataset', { dataset: { name: 'iris' }, model: { layers: [{ type: 'dense', units: 3 }] }, batchSize: 32 })).toEqual([]);
    expect(findings('largeBatchSmallDataset', { dataset: { name: 'spirals', rows: 4000 }, model: { layers: [{ type: 'dense', units: 2 }] }, batchSize: 64 })).toEqual([]);
    expect(findings('largeBatchSmallDataset', mlp([out], { dataset: { name: 'mnist' }, batchSize: 512 }))).toEqual([]);
  });
});

describe('momentumOutOfRange', () => {
  it('fires below 0.5 and above 0.99, naming the phase', () => {
    expect(findings('momentumOutOfRange', mlp([out], { optimizer: { type: 'momentum', momentum: 0.3 } }))[0]!.path).toEqual(['optimizer', 'momentum']);
    expect(findings('momentumOutOfRange', mlp([out], { optimizer: [{ optimizer: 'adam', untilEpoch: 2 }, { optimizer: { type: 'nesterov', momentum: 0.995 } }] }))[0]).toMatchObject({
      path: ['optimizer', 1, 'optimizer', 'momentum'],
      reason: expect.stringContaining('above 0.99'),
    });
    expect(findings('momentumOutOfRange', mlp([out], { optimizer: { type: 'rmsprop', momentum: 0.2 } }))).toHaveLength(1);
  });

  it('is quiet from 0.5 to 0.99 and for RMSprop without momentum', () => {
    for (const momentum of [0.5, 0.9, 0.99]) expect(findings('momentumOutOfRange', mlp([out], { optimizer: { type: 'momentum', momentum } }))).toEqual([]);
    expect(findings('momentumOutOfRange', mlp([out], { optimizer: 'rmsprop' }))).toEqual([]);
  });
});

describe('adamRateFarFromDefault', () => {
  it('fires more than 10× above or below 0.001, at a schedule\'s initial', () => {
    expect(findings('adamRateFarFromDefault', mlp([out], { optimizer: 'adam', learningRate: 0.00005 }))[0]!.reason).toContain('20× below');
    expect(findings('adamRateFarFromDefault', mlp([out], { optimizer: 'adamw', learningRate: { type: 'cosine', initial: 0.05 } }))[0]!.path).toEqual(['learningRate', 'initial']);
  });

  it('is quiet within 10× and for other optimizers', () => {
    expect(findings('adamRateFarFromDefault', mlp([out], { optimizer: 'adam', learningRate: 0.01 }))).toEqual([]);
    expect(findings('adamRateFarFromDefault', mlp([out], { optimizer: 'adam', learningRate: 0.0001 }))).toEqual([]);
    expect(findings('adamRateFarFromDefault', mlp([out], { optimizer: 'sgd', learningRate: 0.5 }))).toEqual([]);
  });
});

describe('noLearningRateDecay and adamThenSgd', () => {
  // Full MNIST (8000 training rows), batch 32: 250 steps an epoch, 5000 in 20 epochs.
  const long = (overrides: Partial<JobSpecInput>) => mlp([relu(64), out], { dataset: { name: 'mnist' }, batchSize: 32, epochs: 20, ...overrides });

  it('fire on a long run at a constant rate, and on a long run on Adam alone', () => {
    expect(findings('noLearningRateDecay', long({ optimizer: 'momentum' }))[0]).toMatchObject({ path: ['learningRate'], reason: expect.stringContaining('5000 steps at a constant rate') });
    expect(findings('adamThenSgd', long({ optimizer: 'adam' }))[0]).toMatchObject({ path: ['optimizer'], reason: expect.stringContaining('untilEpoch: 10') });
    expect(codesOf(long({ optimizer: 'adam' }))).toEqual(['noLearningRateDecay', 'adamThenSgd']);
  });

  it('are quiet on short runs, with a schedule or phases, and (decay) on Adagrad', () => {
    expect(codesOf(long({ optimizer: 'adam', epochs: 19 }))).toEqual([]);
    expect(findings('noLearningRateDecay', long({ learningRate: { type: 'step', everyEpochs: 5, factor: 0.5 } }))).toEqual([]);
    expect(findings('noLearningRateDecay', long({ optimizer: 'adagrad' }))).toEqual([]);
    expect(findings('adamThenSgd', long({ optimizer: [{ optimizer: 'adam', untilEpoch: 10 }, { optimizer: 'momentum' }] }))).toEqual([]);
    expect(findings('adamThenSgd', long({ optimizer: 'momentum' }))).toEqual([]);
  });
});

describe('heInitWithSaturatingActivation', () => {
  it('fires for He on tanh or sigmoid, also through batch norm to an activation layer, and on a recurrent layer', () => {
    expect(findings('heInitWithSaturatingActivation', mlp([{ type: 'dense', units: 64, activation: 'tanh', kernelInitializer: 'heNormal' }, out]))[0]!.path).toEqual(['model', 'layers', 0, 'kernelInitializer']);
    expect(
      findings('heInitWithSaturatingActivation', mlp([{ type: 'dense', units: 64, kernelInitializer: { type: 'heUniform' } }, { type: 'batchNormalization' }, { type: 'activation', activation: 'sigmoid' }, out])),
    ).toHaveLength(1);
    expect(
      findings('heInitWithSaturatingActivation', { dataset: { name: 'adding', rows: 100, length: 5 }, model: { layers: [{ type: 'lstm', units: 8, kernelInitializer: 'heNormal' }, { type: 'dense', units: 1 }] } }),
    ).toHaveLength(1);
  });

  it('is quiet for He on ReLU and Glorot on tanh', () => {
    expect(findings('heInitWithSaturatingActivation', mlp([relu(64, { kernelInitializer: 'heNormal' }), out]))).toEqual([]);
    expect(findings('heInitWithSaturatingActivation', mlp([{ type: 'dense', units: 64, activation: 'tanh', kernelInitializer: 'glorotNormal' }, out]))).toEqual([]);
  });
});

describe('deepReluVariance', () => {
  const deep = (extra: Record<string, unknown> = {}, width = 256) => mlp([relu(width, extra), relu(width, extra), relu(width, extra), relu(width, extra), relu(width, extra), relu(width, extra), out]);

  it('computes He et al.\'s variance ratio: ½ · fan_in · Var[w] per layer after the first', () => {
    // Glorot on 256 → 256: ½ · 256 · 2/512 = 0.5, five times; the output layer ½ · 256 · 2/266.
    const stack = reluStackVariance(resolve(deep()).spec.model.layers, [784])!;
    expect(stack.reluLayers).toEqual([0, 1, 2, 3, 4, 5]);
    expect(stack.ratio).toBeCloseTo(0.5 ** 5 * (256 / 266), 12);
    // He: 1 per hidden layer; the output layer keeps its default Glorot.
    expect(reluStackVariance(resolve(deep({ kernelInitializer: 'heNormal' })).spec.model.layers, [784])!.ratio).toBeCloseTo(256 / 266, 12);
  });

  it('fires for Glorot (vanishing) and a uniform ±0.1 on wide layers (exploding) in a deep ReLU stack, with the ratio', () => {
    expect(findings('deepReluVariance', deep())[0]).toMatchObject({
      path: ['model', 'layers', 0, 'kernelInitializer'],
      reason: expect.stringMatching(/6 ReLU layers initialised with glorotUniform \(the default\): the expected variance at the last layer is 0\.030× .* vanish/),
    });
    // ½ · 1024 · 0.1²/3 = 1.71 per hidden layer, five times, then the Glorot output layer.
    expect(findings('deepReluVariance', deep({ kernelInitializer: 'uniform' }, 1024))[0]!.reason).toMatch(/uniform ±0\.1: .* is 14× .*1\.707, 1\.707.* explode/);
  });

  it('is quiet for He, for shallow stacks, and with batch norm between the layers', () => {
    expect(findings('deepReluVariance', deep({ kernelInitializer: 'heNormal' }))).toEqual([]);
    expect(findings('deepReluVariance', mlp([relu(256), relu(256), relu(256), relu(256), out]))).toEqual([]);
    expect(findings('deepReluVariance', mlp([relu(256), { type: 'batchNormalization' }, relu(256), relu(256), relu(256), relu(256), relu(256), out]))).toEqual([]);
  });
});

describe('batchNormWithDropout', () => {
  it('fires for batch norm and dropout in a feed-forward net, naming the first dropout', () => {
    expect(findings('batchNormWithDropout', mlp([relu(64), { type: 'batchNormalization' }, { type: 'dropout', rate: 0.5 }, out]))[0]!.path).toEqual(['model', 'layers', 2, 'rate']);
  });

  it('is quiet for either alone', () => {
    expect(findings('batchNormWithDropout', mlp([relu(64), { type: 'batchNormalization' }, out]))).toEqual([]);
    expect(findings('batchNormWithDropout', mlp([relu(64), { type: 'dropout', rate: 0.5 }, out]))).toEqual([]);
  });
});

describe('plainDropoutOnSequence', () => {
  const sequence = (layers: NonNullable<JobSpecInput['model']>['layers']): JobSpecInput => ({ dataset: { name: 'adding', rows: 100, length: 6 }, model: { layers } });

  it('fires for a dropout layer with a fresh mask per step in front of a recurrent layer', () => {
    expect(findings('plainDropoutOnSequence', sequence([{ type: 'dropout', rate: 0.3 }, { type: 'lstm', units: 8 }, { type: 'dense', units: 1 }]))[0]).toMatchObject({
      path: ['model', 'layers', 0],
      reason: expect.stringContaining('model.layers[1].dropout with dropoutMode "variational"'),
    });
  });

  it('is quiet for recurrent dropout, a mask shared over time, and dropout after the recurrent layer', () => {
    expect(findings('plainDropoutOnSequence', sequence([{ type: 'lstm', units: 8, dropout: 0.3, dropoutMode: 'variational' }, { type: 'dense', units: 1 }]))).toEqual([]);
    expect(findings('plainDropoutOnSequence', sequence([{ type: 'dropout', rate: 0.3, noiseShape: [1, 2] }, { type: 'lstm', units: 8 }, { type: 'dense', units: 1 }]))).toEqual([]);
    expect(findings('plainDropoutOnSequence', sequence([{ type: 'lstm', units: 8 }, { type: 'dropout', rate: 0.3 }, { type: 'dense', units: 1 }]))).toEqual([]);
  });
});

describe('recurrentBatchNormGamma', () => {
  const lstm = (gammaInit: number): JobSpecInput => ({ dataset: { name: 'adding', rows: 100, length: 6 }, model: { layers: [{ type: 'lstm', units: 8, recurrentBatchNorm: { gammaInit } }, { type: 'dense', units: 1 }] } });

  it('fires for γ far from 0.1', () => {
    expect(findings('recurrentBatchNormGamma', lstm(1))[0]).toMatchObject({ path: ['model', 'layers', 0, 'recurrentBatchNorm', 'gammaInit'], reason: expect.stringContaining('saturate') });
    expect(findings('recurrentBatchNormGamma', lstm(0))[0]!.reason).toContain('switched off');
  });

  it('is quiet near 0.1', () => {
    for (const gamma of [0.05, 0.1, 0.3]) expect(findings('recurrentBatchNormGamma', lstm(gamma))).toEqual([]);
  });
});

describe('irnnWithoutRelu', () => {
  const rnn = (layer: Record<string, unknown>): JobSpecInput => ({ dataset: { name: 'adding', rows: 100, length: 6 }, model: { layers: [{ type: 'simpleRnn', units: 8, ...layer }, { type: 'dense', units: 1 }] } });

  it('fires for an identity recurrence with tanh, said or by default', () => {
    expect(findings('irnnWithoutRelu', rnn({ recurrentInitializer: 'identity' }))[0]).toMatchObject({ path: ['model', 'layers', 0, 'activation'], reason: expect.stringContaining('tanh (the default)') });
    expect(findings('irnnWithoutRelu', rnn({ recurrentInitializer: { type: 'identity', gain: 1 }, activation: 'sigmoid' }))).toHaveLength(1);
  });

  it('is quiet for irnn: true, an identity with ReLU, and other recurrences', () => {
    expect(findings('irnnWithoutRelu', rnn({ irnn: true }))).toEqual([]);
    expect(findings('irnnWithoutRelu', rnn({ recurrentInitializer: 'identity', activation: 'relu' }))).toEqual([]);
    expect(findings('irnnWithoutRelu', rnn({}))).toEqual([]);
  });
});

describe('tooManyRegularizers', () => {
  it('fires for three strong regularisers at once, listing them', () => {
    const [finding] = findings('tooManyRegularizers', mlp([relu(64), { type: 'dropout', rate: 0.5 }, out], { regularization: { l2: 0.01, labelSmoothing: 0.2 } }));
    expect(finding).toMatchObject({ path: ['regularization'], reason: expect.stringContaining('3 strong regularisers at once: dropout (up to 0.5), an L2 penalty (λ₂ 0.01), label smoothing (ε 0.2)') });
    expect(findings('tooManyRegularizers', mlp([relu(64), out], { optimizer: { type: 'momentum', weightDecay: 0.005 }, regularization: { maxNorm: 3 }, gradientNoise: {} }))).toHaveLength(1);
  });

  it('is quiet for two, and does not count weak settings', () => {
    expect(findings('tooManyRegularizers', mlp([relu(64), { type: 'dropout', rate: 0.5 }, out], { regularization: { maxNorm: 3 } }))).toEqual([]);
    expect(findings('tooManyRegularizers', mlp([relu(64), { type: 'dropout', rate: 0.1 }, out], { optimizer: 'adamw', regularization: { l2: 0.0001, labelSmoothing: 0.05, maxNorm: 3 } }))).toEqual([]);
  });
});
