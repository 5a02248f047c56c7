import { fieldFromPath } from '../../errors/errors.js';
import { type DatasetShape } from '../dataset-spec.js';
import { type ResolvedJobSpec } from '../job-spec.js';
import { type LayerSpec } from '../layer-spec.js';
import { runShapeOf } from '../run-shape.js';
import type { OptimizerConfig } from '../optimizer-spec.js';
import type { LearningRate } from '../schedule-spec.js';
import type { AdviceCode } from './codes.js';

/**
 * Advice: a practical tip the spec goes against, said beside the created job, never an error.
 * Each rule is a module of this folder: a code, the source of its tip, and a check of the resolved
 * spec (every default filled in) against the data set's shape.
 */
export interface Advice {
  code: AdviceCode;
  /** The spec field to change, as users write it (`model.layers[2].kernelInitializer`). */
  field: string;
  /** Why, with the spec's own numbers, and what to do instead. */
  reason: string;
  /** The lecture tip or paper the advice comes from. */
  source: string;
}

export interface AdviceContext {
  spec: ResolvedJobSpec;
  /** The whole data set's shape (an upload's, as recorded). */
  info: DatasetShape;
}

/** One finding of a rule: where, and why. */
export interface Finding {
  path: (string | number)[];
  reason: string;
}

export interface AdviceRule {
  code: AdviceCode;
  source: string;
  check(context: AdviceContext): Finding[];
}

export const toAdvice = (rule: AdviceRule, finding: Finding): Advice => ({ code: rule.code, field: fieldFromPath(finding.path), reason: finding.reason, source: rule.source });

/** A run of at least this many optimizer steps is long: where rate decay and a switch to SGD pay off. */
export const LONG_RUN_STEPS = 5000;

/** Rows and steps of the run, as the trainer will split the data set. */
export function runOf({ spec, info }: AdviceContext) {
  return runShapeOf(spec, info);
}

export interface Phase {
  optimizer: OptimizerConfig;
  rate: LearningRate;
  /** Where the optimizer and the rate are in the spec. */
  optimizerPath: (string | number)[];
  ratePath: (string | number)[];
}

/** The optimizer phases of a run: one for a single optimizer. */
export function phasesOf(spec: ResolvedJobSpec): Phase[] {
  if (Array.isArray(spec.optimizer)) {
    return spec.optimizer.map((phase, i) => ({ optimizer: phase.optimizer, rate: phase.learningRate, optimizerPath: ['optimizer', i, 'optimizer'], ratePath: ['optimizer', i, 'learningRate'] }));
  }
  return [{ optimizer: spec.optimizer, rate: spec.learningRate!, optimizerPath: ['optimizer'], ratePath: ['learningRate'] }];
}

/** η₀: the constant rate, or a schedule's starting (or, for oneCycle, peak) rate, resolved. */
export const initialRate = (rate: LearningRate): number => (typeof rate === 'number' ? rate : (rate.initial ?? NaN));

/** Whether the rate falls during the phase (any schedule but a constant one). */
export const decays = (rate: LearningRate): boolean => typeof rate !== 'number' && rate.type !== 'constant';

/** A number for people: 4 significant digits. */
export const num = (value: number): string => String(Number(value.toPrecision(4)));

export const isRecurrent = (layer: LayerSpec): layer is Extract<LayerSpec, { type: 'simpleRnn' | 'lstm' | 'gru' }> =>
  layer.type === 'simpleRnn' || layer.type === 'lstm' || layer.type === 'gru';

export const layerPath = (index: number, ...rest: string[]): (string | number)[] => ['model', 'layers', index, ...rest];

/**
 * The nonlinearity a kernel layer's outputs go through: its own activation, or, when that is
 * linear, the next activation layer's (after any normalization between them), as in conv → batch
 * norm → relu. A recurrent layer's is its cell activation (tanh unless it says otherwise or is an IRNN).
 */
export function effectiveActivation(layers: LayerSpec[], index: number): string {
  const layer = layers[index]!;
  if (layer.type === 'simpleRnn') return layer.irnn ? 'relu' : (layer.activation ?? 'tanh');
  if (layer.type === 'lstm' || layer.type === 'gru') return layer.activation;
  if (layer.type !== 'dense' && layer.type !== 'conv2d') return 'linear';
  if (layer.activation !== 'linear') return layer.activation;
  for (const next of layers.slice(index + 1)) {
    if (next.type === 'batchNormalization' || next.type === 'layerNormalization' || next.type === 'dropout') continue;
    return next.type === 'activation' ? next.activation : 'linear';
  }
  return 'linear';
}
