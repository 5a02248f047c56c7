import type * as TF from '@tensorflow/tfjs';
import type { z } from 'zod';
import type { LayerKit } from '../engine/layer-kit.js';
import type { StepClock } from '../engine/layers/seeded-dropout.js';

/** A tensor's shape without the batch dimension. */
export type Shape = number[];

/** Where a layer sits, for the rules that depend on it. */
export interface LayerPosition {
  /** The layer reads the model's input, directly or through layers that pass it on unchanged in kind (`passesTokens`). */
  readsModelInput: boolean;
}

/**
 * What building one layer needs. TF.js and the engine's own layer classes arrive here rather than
 * being imported, so a layer module (and with it the job spec and the API's schemas) loads without
 * TF.js: only src/engine/layer-factory.ts supplies them.
 */
export interface BuildContext {
  tf: typeof TF;
  kit: LayerKit;
  /** The layer's name in the model. */
  name: string;
  /** Shapes of the layer's inputs, without the batch dimension. */
  inputShapes: Shape[];
  /** Given to the first layer of a sequential model. */
  inputShape?: Shape;
  /** Seeds of the layer's own streams, derived from the job's seed and the layer's index. */
  seeds: { weight: number; extraWeight: number; dropout: number };
  clock: StepClock;
  /** A progressive column adds laterals before the activation, so it asks for the layer without one. */
  activation?: 'linear';
}

/**
 * One layer type, whole: its spec schema, its output-shape rule, its weights' shapes and how the
 * engine builds it. src/layers/registry.ts lists every definition; the spec's layer union, the
 * shape checker, the weight-shape table and the engine's builder all derive from it.
 */
export interface LayerDefinition<L extends { type: string }> {
  schema: z.ZodType<L, unknown>;
  /** Its output is a part of its input's values as they are (a slice): token ids stay token ids an embedding can read. */
  passesTokens?: boolean;
  /** How many inputs the layer takes (merge layers take several). */
  arity?: { min: number; max: number };
  /** The output shape, or what is wrong with the inputs (said to the user, naming the layer). */
  outputShape(layer: L, inputs: Shape[], position: LayerPosition): Shape | string;
  /** Weight name (without the layer's prefix) → shape, as TF.js names them in checkpoints. */
  weights?(layer: L, inputs: Shape[]): Record<string, Shape>;
  /** Spec initializer field → the weight it initialises. Default: kernelInitializer → kernel, recurrentInitializer → recurrent_kernel, biasInitializer → bias. */
  initialized?: Record<string, string>;
  /** The weights an L1/L2 penalty (the layer's kernelRegularizer or the global one) acts on. */
  penalized?: string[];
  build(layer: L, context: BuildContext): TF.layers.Layer;
}

export const DEFAULT_INITIALIZED: Record<string, string> = { kernelInitializer: 'kernel', recurrentInitializer: 'recurrent_kernel', biasInitializer: 'bias' };

export const describeShape = (shape: Shape) => `[${shape.join(', ')}]`;
export const sizeOf = (shape: Shape) => shape.reduce((a, b) => a * b, 1);
export const pair = (value: number | [number, number]): [number, number] => (typeof value === 'number' ? [value, value] : value);

/** TF's conv/pool output size: 'same' keeps ⌈n/s⌉, 'valid' ⌈(n − k + 1)/s⌉. */
export function windowed(n: number, kernel: number, stride: number, padding: 'valid' | 'same'): number {
  return padding === 'same' ? Math.ceil(n / stride) : Math.ceil((n - kernel + 1) / stride);
}
