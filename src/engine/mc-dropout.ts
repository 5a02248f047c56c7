import * as tf from '@tensorflow/tfjs';
import type { ResolvedJobSpec } from '../spec/job-spec.js';
import type { LayerSpec } from '../spec/layer-spec.js';
import { forwardValuesPerRowOf } from '../spec/memory-estimate.js';
import { fieldFromPath } from '../errors/errors.js';
import type { StepClock } from './layers/seeded-dropout.js';
import { deriveSeed } from './random.js';

/**
 * Monte Carlo dropout (Gal & Ghahramani 2016): the trained model is run T times per input with its
 * dropout masks drawn as in training, and the spread of the T outputs is the model's uncertainty.
 * This module only draws the samples; what they mean (entropies, variances) is computed by the
 * caller (src/inference/uncertainty.ts).
 *
 * The T passes are one batch: every input is repeated T times (input-major: input i's samples are
 * rows i·T … i·T + T − 1), and the rows go through the model in as few forward calls as its memory
 * bound allows. In a sequential model the layers before the first dropout are the same for every
 * pass: they run once per input, and only their output is repeated. Each row of a call gets its own masks (a dropout mask is drawn per row), so the T
 * copies of an input are T independent draws; a recurrent layer draws per row as in training, so
 * the variational mode keeps one mask for a whole sequence. The masks are seeded by (layer seed,
 * request seed, call), so the same request gives the same samples.
 */

/** What one forward call may hold: its rows' activations (a bound, not an allocation). */
export const MC_CALL_BYTES = 256 * 2 ** 20;
/** At most this many rows per forward call, however small the model. */
export const MC_MAX_ROWS_PER_CALL = 65_536;

/** A place where a model built from the spec draws dropout masks, named as the spec field it comes from. */
export interface DropoutSite {
  field: string;
  rate: number;
  /** dropout layer, or a recurrent layer's mode. */
  kind: 'dropout' | 'standard' | 'variational' | 'cellUpdate' | 'attention';
}

/** Every layer that drops something in training, including a progressive net's columns. */
export function dropoutSites(spec: Pick<ResolvedJobSpec, 'model'>): DropoutSite[] {
  const sites: DropoutSite[] = [];
  const visit = (layers: readonly LayerSpec[], path: (string | number)[]) =>
    layers.forEach((layer, index) => {
      const at = (field: string) => fieldFromPath([...path, index, field]);
      if (layer.type === 'dropout' && layer.rate > 0) sites.push({ field: at('rate'), rate: layer.rate, kind: 'dropout' });
      if (layer.type === 'simpleRnn' || layer.type === 'lstm' || layer.type === 'gru') {
        const rate = Math.max(layer.dropout, layer.dropoutMode === 'variational' ? (layer.recurrentDropout ?? layer.dropout) : 0);
        if (rate > 0) sites.push({ field: at('dropout'), rate, kind: layer.dropoutMode });
      }
      if ((layer.type === 'multiHeadAttention' || layer.type === 'transformerEncoder' || layer.type === 'transformerDecoder') && layer.dropout > 0) {
        sites.push({ field: at('dropout'), rate: layer.dropout, kind: 'attention' });
      }
    });
  visit(spec.model.layers, ['model', 'layers']);
  spec.model.progressive?.columns.forEach((column, j) => visit(column.layers ?? [], ['model', 'progressive', 'columns', j, 'layers']));
  return sites;
}

/** Rows (inputs × samples) one forward call of this spec's model takes: its memory bound. */
export function rowsPerCall(spec: Pick<ResolvedJobSpec, 'model'>, inputShape: number[]): number {
  const columns = spec.model.progressive?.columns ?? [];
  const perRow = forwardValuesPerRowOf(spec.model.layers, inputShape) + columns.reduce((sum, column) => sum + forwardValuesPerRowOf(column.layers ?? [], inputShape), 0);
  return Math.max(1, Math.min(MC_MAX_ROWS_PER_CALL, Math.floor(MC_CALL_BYTES / (4 * Math.max(1, perRow)))));
}

export interface SampleOptions {
  /** T: stochastic passes per input. */
  samples: number;
  seed: number;
  /** Rows one forward call may take (rowsPerCall). */
  maxRowsPerCall: number;
  /** Applied to each pass's outputs before they are handed over (softmax on logits, …). */
  link?: (output: tf.Tensor) => tf.Tensor;
}

/** One forward call's outputs: rows firstRow … firstRow + rows − 1 of the input-major order. */
export interface SampleBlock {
  firstRow: number;
  rows: number;
  /** rows × outputSize values. */
  values: Float32Array;
}

/**
 * The layers a pass must run T times: a sequential model's layers from its first one that draws
 * masks (those before it give every pass the same values, so they run once per input); the whole
 * model otherwise.
 */
function stochasticPart(model: tf.LayersModel): { prefix: tf.layers.Layer[]; rest: tf.layers.Layer[] | null } {
  if (!(model instanceof tf.Sequential)) return { prefix: [], rest: null };
  const first = model.layers.findIndex(drawsMasks);
  if (first <= 0) return { prefix: [], rest: null };
  return { prefix: model.layers.slice(0, first), rest: model.layers.slice(first) };
}

/** SeededDropout, the recurrent layer and the attention family say whether they draw masks; other layers do not. */
const drawsMasks = (layer: tf.layers.Layer): boolean => 'drawsMasks' in layer && layer.drawsMasks === true;

const applyLayers = (layers: tf.layers.Layer[], x: tf.Tensor): tf.Tensor => layers.reduce((t, layer) => layer.apply(t, { training: false }) as tf.Tensor, x);

/**
 * Runs `x` (`inputs` rows of `inputShape`, row-major) through `model` T times per input with
 * dropout on, handing each forward call's outputs to `onBlock` in row order. The model must have
 * been built with `clock` (src/engine/model-builder.ts); batch normalization stays in inference
 * mode. Rows are repeated by copying typed arrays (tf.gather is a JS loop on the CPU backends).
 */
export async function sampleWithDropout(
  model: tf.LayersModel,
  clock: StepClock,
  x: Float32Array,
  inputShape: number[],
  options: SampleOptions,
  onBlock: (block: SampleBlock) => void,
): Promise<{ forwardCalls: number; outputShape: number[] }> {
  const { samples, seed, maxRowsPerCall, link } = options;
  if (!Number.isInteger(samples) || samples < 1) throw new Error(`samples must be a positive integer, got ${samples}`);
  const rowSize = inputShape.reduce((a, b) => a * b, 1);
  const inputs = x.length / rowSize;
  const step = Math.max(1, Math.floor(maxRowsPerCall));
  const outputShape = (model.outputs[0]!.shape.slice(1) as number[]).map((d) => d ?? 1);

  // The deterministic layers once per input, in calls of at most `step` rows.
  const { prefix, rest } = stochasticPart(model);
  let hidden = x;
  let hiddenShape = inputShape;
  if (rest) {
    hiddenShape = (prefix.at(-1)!.outputShape as (number | null)[]).slice(1).map((d) => d ?? 1);
    const hiddenSize = hiddenShape.reduce((a, b) => a * b, 1);
    hidden = new Float32Array(inputs * hiddenSize);
    for (let begin = 0; begin < inputs; begin += step) {
      const rows = Math.min(step, inputs - begin);
      const output = tf.tidy(() => applyLayers(prefix, tf.tensor(x.subarray(begin * rowSize, (begin + rows) * rowSize), [rows, ...inputShape])));
      hidden.set((await output.data()) as Float32Array, begin * hiddenSize);
      output.dispose();
    }
  }
  const hiddenSize = hiddenShape.reduce((a, b) => a * b, 1);

  const total = inputs * samples;
  let calls = 0;
  for (let firstRow = 0; firstRow < total; firstRow += step, calls++) {
    const rows = Math.min(step, total - firstRow);
    const batch = new Float32Array(rows * hiddenSize);
    for (let r = 0; r < rows; r++) {
      const input = Math.floor((firstRow + r) / samples);
      batch.set(hidden.subarray(input * hiddenSize, (input + 1) * hiddenSize), r * hiddenSize);
    }
    const saved = { step: clock.step, sampleDropout: clock.sampleDropout };
    // Masks derive from (layer seed, clock.step): a step of its own per request seed and call.
    clock.step = deriveSeed(seed, calls);
    clock.sampleDropout = true;
    let output: tf.Tensor;
    try {
      output = tf.tidy(() => {
        const t = tf.tensor(batch, [rows, ...hiddenShape]);
        // One call for the whole batch: predict would split it into batches of 32 that all draw the same masks.
        const raw = rest ? applyLayers(rest, t) : (model.predict(t, { batchSize: rows }) as tf.Tensor);
        return link ? link(raw) : raw;
      });
    } finally {
      clock.step = saved.step;
      clock.sampleDropout = saved.sampleDropout;
    }
    const values = (await output.data()) as Float32Array;
    output.dispose();
    onBlock({ firstRow, rows, values });
  }
  return { forwardCalls: calls, outputShape };
}
