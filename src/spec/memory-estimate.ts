import { fieldFromPath } from '../errors/errors.js';
import type { DatasetShape } from './dataset-spec.js';
import type { ResolvedJobSpec } from './job-spec.js';
import type { LayerSpec } from './layer-spec.js';
import { inferShapes, type Shape } from './layer-shapes.js';
import type { OptimizerConfig } from './optimizer-spec.js';
import { layerIndexOf, layerNameOf, modelWeights, outputLayerIndex } from './weight-shapes.js';

/**
 * What a job's training process will hold at its peak, from the spec and the data set's shape
 * alone, so a job that cannot fit is refused at submission instead of taking the machine
 * (docs/limits.md). Everything is float32 (int32 for class indices). The figures are estimates: they
 * count what the engine keeps (weights, gradients, optimizer slots, the snapshots a checkpoint or
 * a rollback copies, one batch's activations forward and backward, the data set and its encoded
 * targets, training threads) with round factors for the intermediates TF.js keeps per op; the
 * training process's RSS watchdog (src/worker/memory-watchdog.ts) is the backstop for the rest.
 */

const FLOAT = 4;
const MIB = 2 ** 20;

/**
 * A training process running a tiny job: Node, TF.js, a backend and its kernels (≈ 190 MiB idle and
 * 300–330 MiB training iris or a small MNIST MLP, measured on native, wasm and cpu).
 */
export const RUNTIME_BYTES = 320 * MIB;
/** A training thread's own V8 isolate and TF.js backend, before its copies of the data and the model (≈ 75 MiB measured). */
export const THREAD_RUNTIME_BYTES = 96 * MIB;
/** The augmentation thread: Node.js and the TypeScript loader, no TF.js (29 MiB measured with MNIST batches). */
export const AUGMENT_THREAD_RUNTIME_BYTES = 32 * MIB;
/** Validation and test rows are scored this many at a time, forward only (src/engine/train-step.ts). */
export const EVALUATION_CHUNK_ROWS = 1024;
/** A streamed split fits its scaling this many training rows at a time (src/engine/streamed-split.ts). */
export const STREAMED_FIT_CHUNK_ROWS = 4096;

export const memoryParts = ['weights', 'gradients', 'optimizerState', 'snapshots', 'activations', 'dataset', 'labels', 'threads', 'runtime'] as const;
export type MemoryPart = (typeof memoryParts)[number];

export interface MemoryItem {
  part: MemoryPart;
  /** The spec field that sets this item's size (the one to lower), as a path. */
  path: (string | number)[];
  bytes: number;
  /** What is counted, for people: "weights of a 65536 × 65536 kernel". */
  what: string;
}

export interface MemoryEstimate {
  bytes: number;
  parts: Record<MemoryPart, number>;
  items: MemoryItem[];
}

export interface EstimateOptions {
  /** Training threads the job starts (distributed), as the worker resolves `workers`; 0 without `distributed`. */
  threads: number;
}

/** Optimizer slots per trainable value: Adam's m and v, momentum's velocity, … The largest over phases (each starts fresh). */
export function optimizerSlots(optimizer: ResolvedJobSpec['optimizer']): { slots: number; name: string } {
  const configs: OptimizerConfig[] = Array.isArray(optimizer) ? optimizer.map((phase) => phase.optimizer) : [optimizer];
  return configs.map((config) => ({ slots: slotsOf(config), name: config.type })).reduce((a, b) => (b.slots > a.slots ? b : a));
}

function slotsOf(config: OptimizerConfig): number {
  switch (config.type) {
    case 'sgd':
      return 0;
    case 'momentum':
    case 'nesterov':
    case 'adagrad':
      return 1;
    case 'rmsprop':
      return 1 + (config.centered ? 1 : 0) + (config.momentum > 0 ? 1 : 0);
    case 'adam':
    case 'adamw':
      return 2 + (config.amsgrad ? 1 : 0);
  }
}

const size = (shape: Shape) => shape.reduce((a, b) => a * b, 1);

/** The field whose value sets a layer's width: what to lower when the layer is too big. */
function sizeField(layer: LayerSpec): string | null {
  switch (layer.type) {
    case 'dense':
    case 'simpleRnn':
    case 'lstm':
    case 'gru':
      return 'units';
    case 'conv2d':
      return 'filters';
    case 'embedding':
      return 'outputDim';
    default:
      return null;
  }
}

/**
 * Values kept per row by a layer's forward pass (its output and the intermediates autograd keeps
 * for the backward pass), in multiples of floats. A recurrent layer keeps its gates and states at
 * every time step.
 */
function forwardValuesPerRow(layer: LayerSpec, input: Shape, output: Shape): number {
  const out = size(output);
  switch (layer.type) {
    case 'dense':
    case 'conv2d':
      // matMul/conv, bias add, activation
      return out * (layer.activation === 'linear' ? 2 : 3);
    case 'activation':
      return out * (layer.activation === 'softmax' ? 3 : 1);
    case 'dropout':
      return out * 2;
    case 'batchNormalization':
    case 'layerNormalization':
      return out * 4;
    case 'simpleRnn':
    case 'lstm':
    case 'gru': {
      const steps = input[0]!;
      // Per step: x·W and h·U per gate, their sum, the gate activations, the cell and state updates.
      const perStep = { simpleRnn: 5, gru: 16, lstm: 21 }[layer.type] * layer.units;
      const normalized = layer.layerNorm || (layer.type === 'lstm' && layer.recurrentBatchNorm) ? 1.5 : 1;
      const masks = layer.dropout > 0 ? input[1]! + layer.units : 0;
      return steps * (perStep * normalized + masks) + (layer.returnSequences ? out : 0);
    }
    case 'depthwiseConv2d':
      return out * (layer.activation === 'linear' ? 2 : 3);
    case 'separableConv2d':
      // The depthwise result, then the pointwise convolution, bias add and activation.
      return size(input.slice(0, -1)) * input.at(-1)! * layer.depthMultiplier + out * (layer.activation === 'linear' ? 2 : 3);
    case 'multiHeadAttention': {
      // Estimated as self-attention: a cross-attention's keys are taken to be as long as its queries.
      const queries = input[0]!;
      const heads = layer.numHeads;
      return attentionValues(queries, queries, heads, heads * layer.keyDim, heads * (layer.valueDim ?? layer.keyDim), layer.dropout > 0) + out;
    }
    case 'transformerEncoder':
    case 'transformerDecoder': {
      const [steps, width] = [input[0]!, input[1]!];
      const attentions = layer.type === 'transformerDecoder' ? 2 : 1;
      const attention = attentionValues(steps, steps, layer.numHeads, width, width, layer.dropout > 0) + steps * width;
      // Each sublayer: its layer norm (4 per value) and the residual sum; the feed-forward's two products and activation.
      const sublayers = (attentions + 1) * steps * width * 5;
      return attentions * attention + sublayers + steps * layer.ffDim * 3 + steps * width * 2;
    }
    default:
      return out;
  }
}

/** Projections, the scores and their softmax (and its dropout mask), and the heads' weighted values of one attention. */
function attentionValues(queries: number, keys: number, heads: number, keyWidth: number, valueWidth: number, dropout: boolean): number {
  return queries * keyWidth + keys * (keyWidth + valueWidth) + heads * queries * keys * (dropout ? 4 : 3) + queries * valueWidth * 2;
}

/**
 * Values one row's forward pass keeps, over a whole layer stack (its input included): what an
 * inference call that must bound its memory divides its budget by (src/engine/mc-dropout.ts). A
 * stack whose shapes do not work out counts its input only.
 */
export function forwardValuesPerRowOf(layers: LayerSpec[], inputShape: Shape): number {
  const shapes = inferShapes(inputShape, layers);
  if ('message' in shapes) return size(inputShape);
  return layers.reduce((sum, layer, index) => sum + forwardValuesPerRow(layer, shapes.inputShapes[index]![0]!, shapes.shapes[index]!), size(inputShape));
}

const joined = (shape: number[]) => shape.join(' × ');

export function formatBytes(bytes: number): string {
  if (bytes >= 2 ** 30) return `${(bytes / 2 ** 30).toFixed(1)} GiB`;
  if (bytes >= MIB) return `${(bytes / MIB).toFixed(bytes >= 100 * MIB ? 0 : 1)} MiB`;
  return `${Math.ceil(bytes / 1024)} KiB`;
}

/**
 * The estimate for a resolved spec (optimizer spelt out, a transfer's layers cut, progressive
 * columns filled in) on a data set of shape `info`. The spec must have passed specProblems: its
 * layer shapes must infer.
 */
export function estimateMemory(spec: ResolvedJobSpec, info: DatasetShape, options: EstimateOptions): MemoryEstimate {
  const items: MemoryItem[] = [];
  const add = (part: MemoryPart, path: (string | number)[], bytes: number, what: string) => {
    if (bytes > 0) items.push({ part, path, bytes, what });
  };
  const layers = spec.model.layers;
  const inputShape = info.inputShape ?? [info.featureSize];
  const inferred = inferShapes(inputShape, layers);
  if ('message' in inferred) throw new Error(`estimateMemory needs a spec whose shapes infer: layer ${inferred.index}: ${inferred.message}`);
  const outputs = inferred.shapes;
  const inputs = inferred.inputShapes.map((shapes) => shapes[0]!);

  // Rows of each split, as src/engine/dataset-split.ts cuts them.
  const limit = 'limit' in spec.dataset ? spec.dataset.limit : undefined;
  const fixedTestRows = info.fixedTestRows ?? 0;
  const splittable = Math.min(limit ?? info.rows - fixedTestRows, info.rows - fixedTestRows);
  const rows = splittable + fixedTestRows;
  const testRows = fixedTestRows > 0 ? fixedTestRows : Math.floor(splittable * spec.testSplit);
  const validationRows = Math.floor(splittable * spec.validationSplit);
  const trainRows = Math.max(rows - validationRows - testRows, 0);
  const batchRows = Math.min(spec.batchSize, Math.max(trainRows, 1));
  const evaluationRows = Math.min(EVALUATION_CHUNK_ROWS, Math.max(validationRows, testRows));

  // Parameters: every weight once; trainable ones with a gradient and a temporary of its size (the
  // backward pass's transposes), the optimizer's slots, and the copies a checkpoint reads out and
  // packs (weights and slots, twice), early stopping's best weights, a divergence rollback.
  // Two 4096-unit ReLU layers on MNIST with Adam: 1.2 GiB measured at the peak, 1.2 GiB estimated (docs/limits.md).
  const { slots, name: optimizer } = optimizerSlots(spec.optimizer);
  const keepsBest = spec.earlyStopping?.restoreBest === true;
  const rollback = spec.divergence !== undefined || spec.task === 'lrRangeTest';
  const frozen = new Set(spec.init?.frozen ?? []);
  const weights = modelWeights(layers, inferred.inputShapes);
  let trainableValues = 0;
  let allValues = 0;
  const parameters = (path: (string | number)[], values: number, trainable: boolean, what: string) => {
    allValues += values;
    if (trainable) trainableValues += values;
    const state = 1 + (trainable ? slots : 0);
    const copies = 2 * state + (keepsBest ? 1 : 0) + (rollback ? state : 0);
    add('weights', path, values * FLOAT, `weights of ${what}`);
    if (trainable) {
      add('gradients', path, 2 * values * FLOAT, `gradients of ${what}, and a temporary of their size`);
      add('optimizerState', path, values * slots * FLOAT, `${optimizer}'s ${slots} slot${slots === 1 ? '' : 's'} per weight of ${what}`);
    }
    add('snapshots', path, values * copies * FLOAT, `${copies} cop${copies === 1 ? 'y' : 'ies'} of ${what} for checkpoints${keepsBest ? ', the best epoch' : ''}${rollback ? ', rollbacks' : ''}`);
  };
  layers.forEach((layer, index) => {
    const field = layer.type === 'embedding' ? 'inputDim' : sizeField(layer);
    const path = field ? ['model', 'layers', index, field] : ['model', 'layers', index];
    const name = layerNameOf(layer, index);
    const trainable = !frozen.has(name);
    let fixed = 0;
    let learned = 0;
    for (const [weight, shape] of Object.entries(weights[index]!.weights)) {
      if (weight.includes('moving_')) fixed += size(shape);
      else learned += size(shape);
    }
    const kernel = weights[index]!.weights[`${name}/${layer.type === 'embedding' ? 'embeddings' : 'kernel'}`];
    const what = `layer ${index} (${layer.type}${kernel ? `, a ${joined(kernel)} ${layer.type === 'embedding' ? 'table' : 'kernel'}` : ''}; ${learned + fixed} values)`;
    if (learned > 0) parameters(path, learned, trainable, what);
    if (fixed > 0) parameters(path, fixed, false, `the running statistics of layer ${index}`);
  });

  // Auxiliary heads: a dense layer with the output's units on a hidden layer's (flattened, or per-step) output.
  const outputIndex = outputLayerIndex(layers);
  const outputUnits = outputs.at(-1)!.at(-1)!;
  (spec.model.auxiliaryHeads ?? []).forEach((head, h) => {
    const index = layerIndexOf(layers, head.after);
    if (index === undefined || index >= outputIndex) return;
    const hidden = outputs[index]!;
    const width = outputs.at(-1)!.length > 1 ? hidden.at(-1)! : size(hidden);
    parameters(['model', 'auxiliaryHeads', h, 'after'], (width + 1) * outputUnits, true, `auxiliary head ${h} (${width} × ${outputUnits})`);
  });

  // Progressive columns: frozen dense stacks, plus a trainable lateral adapter per column into each new dense layer k ≥ 1.
  const columnActivations: { path: (string | number)[]; perRow: number }[] = [];
  (spec.model.progressive?.columns ?? []).forEach((column, j) => {
    const all = column.layers ?? [];
    const out = outputLayerIndex(all);
    const shapes = inferShapes(inputShape, all.slice(0, out + 1));
    if (out < 0 || 'message' in shapes) return;
    const inputsOf = [inputShape, ...shapes.shapes];
    const hidden = all.slice(0, out);
    const values = modelWeights(hidden, shapes.inputShapes).reduce((sum, layer) => sum + Object.values(layer.weights).reduce((s, shape) => s + size(shape), 0), 0);
    const path = ['model', 'progressive', 'columns', j];
    parameters(path, values, false, `column ${j} (${hidden.length} layers, ${values} values)`);
    columnActivations.push({ path, perRow: hidden.reduce((sum, layer, k) => sum + forwardValuesPerRow(layer, inputsOf[k]!, inputsOf[k + 1]!), 0) });
    // feeds[d]: what the column gives its dense layer d, which the new column's dense layer d ≥ 1 also reads.
    const feeds = all.slice(0, out + 1).flatMap((layer, k) => (layer.type === 'dense' ? [inputsOf[k]!] : []));
    let dense = 0;
    layers.forEach((layer, index) => {
      if (layer.type !== 'dense') return;
      const feed = dense === 0 ? undefined : feeds[dense];
      dense += 1;
      if (feed) parameters(['model', 'layers', index, 'units'], size(feed) * layer.units, true, `the lateral adapter from column ${j} into layer ${index} (${size(feed)} × ${layer.units})`);
    });
  });

  // Activations: one training batch, whose forward values autograd keeps for the backward pass (and
  // the backward pass's gradients of them), or one evaluation chunk forward only, which frees each
  // layer's input once the layer has run: its peak is the largest layer, with its input.
  const perRow = layers.map((layer, index) => forwardValuesPerRow(layer, inputs[index]!, outputs[index]!));
  // The loss: softmax or sigmoid, log, the product with the targets, and its gradient, over the output.
  perRow[outputIndex] = (perRow[outputIndex] ?? 0) + 4 * size(outputs.at(-1)!);
  const trainingRows = 2 * batchRows;
  const trainingBytes = (perRow.reduce((a, b) => a + b, 0) + size(inputShape) + columnActivations.reduce((sum, column) => sum + column.perRow, 0)) * trainingRows * FLOAT;
  const widest = perRow.reduce((best, values, index) => (values + size(inputs[index]!) > perRow[best]! + size(inputs[best]!) ? index : best), 0);
  const evaluationBytes = (perRow[widest]! + size(inputs[widest]!)) * evaluationRows * FLOAT;
  // A layer without a width of its own (dropout, pooling, flatten, normalization) has the width of the last one that has.
  const widthPaths: (string | number)[][] = [];
  layers.forEach((layer, index) => {
    const field = sizeField(layer);
    widthPaths.push(field ? ['model', 'layers', index, field] : (widthPaths.at(-1) ?? ['batchSize']));
  });
  const describe = (index: number) => `layer ${index} (${layers[index]!.type}, output ${joined(outputs[index]!)} per row)`;
  if (trainingBytes >= evaluationBytes) {
    const during = `a batch of ${batchRows} rows, forward and backward`;
    layers.forEach((_, index) => add('activations', widthPaths[index]!, perRow[index]! * trainingRows * FLOAT, `activations of ${describe(index)} for ${during}`));
    add('activations', ['batchSize'], size(inputShape) * trainingRows * FLOAT, `the input rows of ${during}`);
    for (const column of columnActivations) add('activations', column.path, column.perRow * trainingRows * FLOAT, `the column's activations for ${during}`);
  } else {
    add('activations', widthPaths[widest]!, evaluationBytes, `activations of ${describe(widest)} and its input, for an evaluation chunk of ${evaluationRows} rows`);
  }

  // The data set: its arrays, the split's copies, and the tensors made of them.
  const dataset = spec.dataset;
  const rowsPath = 'rows' in dataset ? ['dataset', 'rows'] : 'limit' in dataset && dataset.limit !== undefined ? ['dataset', 'limit'] : ['dataset'];
  const streamed = info.streamed !== undefined;
  if (streamed) {
    // The split order, and the rows read at once: a batch and the next, or a chunk of the scaling fit or an evaluation.
    const readRows = Math.max(2 * batchRows, STREAMED_FIT_CHUNK_ROWS, EVALUATION_CHUNK_ROWS);
    add('dataset', rowsPath, rows * FLOAT, `${rows} rows' split order (the features are streamed from disk)`);
    add('dataset', ['batchSize'], 3 * readRows * info.featureSize * FLOAT, `${readRows} rows × ${info.featureSize} features read from disk at once, and their tensors`);
  } else {
    add('dataset', rowsPath, 3 * rows * info.featureSize * FLOAT, `${rows} rows × ${info.featureSize} features: the data set, its split and their tensors`);
  }
  const outputShape = info.outputShape ?? [info.classes];
  const steps = outputShape.length > 1 ? outputShape[0]! : 1;
  if (info.classes === 0) {
    add('labels', rowsPath, 3 * rows * size(outputShape) * FLOAT, `${rows} rows × ${size(outputShape)} targets`);
  } else {
    add('labels', rowsPath, 2 * rows * steps * FLOAT, `${rows} rows × ${steps} class indices`);
    const output = layers[outputIndex];
    const binary = spec.loss === 'binaryCrossentropy' && info.classes === 2 && output?.type === 'dense' && output.units === 1;
    // A streamed split encodes each batch's targets as it reads it.
    if (spec.loss !== 'sparseCategoricalCrossentropy' && !binary && !streamed) {
      // tf.oneHot makes an int32 tensor, then its float copy.
      const categorical = spec.loss === 'categoricalCrossentropy';
      add(
        'labels',
        categorical ? ['loss'] : rowsPath,
        2 * rows * steps * info.classes * FLOAT,
        `one-hot targets: ${rows} rows × ${steps > 1 ? `${steps} steps × ` : ''}${info.classes} classes as float32 (twice while encoding)` +
          (categorical ? '; sparseCategoricalCrossentropy trains on the class indices instead' : ''),
      );
    }
  }

  // Training threads: each its own runtime, model, gradients and copy of the training rows and targets;
  // the rows, targets and weights are also shared once in SharedArrayBuffers.
  if (options.threads > 0) {
    const targetsPerRow = info.classes === 0 ? size(outputShape) : spec.loss === 'sparseCategoricalCrossentropy' ? steps : steps * info.classes;
    const trainData = trainRows * (info.featureSize + targetsPerRow) * FLOAT;
    const model = (allValues + 3 * trainableValues) * FLOAT;
    const batch = perRow.reduce((a, b) => a + b, size(inputShape)) * batchRows * 2 * FLOAT;
    const perThread = THREAD_RUNTIME_BYTES + trainData + model + batch;
    add('threads', ['distributed', 'workers'], options.threads * perThread + trainData + allValues * FLOAT, `${options.threads} training threads, each ${formatBytes(perThread)} (its runtime, model, gradients, a batch and a copy of the ${trainRows} training rows)`);
  }
  // Without threads of its own a run augments on one more thread, from a shared copy of the training rows.
  if (spec.augmentation && options.threads === 0 && spec.task === 'train') {
    const copy = trainRows * info.featureSize * FLOAT;
    add('threads', ['augmentation'], AUGMENT_THREAD_RUNTIME_BYTES + copy + 2 * batchRows * size(inputShape) * FLOAT, `the augmentation thread, its shared copy of the ${trainRows} training rows and two batches`);
  }
  add('runtime', [], RUNTIME_BYTES, 'the training process itself (Node.js, TF.js and its backend)');

  const parts = Object.fromEntries(memoryParts.map((part) => [part, 0])) as Record<MemoryPart, number>;
  for (const item of items) parts[item.part] += item.bytes;
  return { bytes: items.reduce((sum, item) => sum + item.bytes, 0), parts, items };
}

export interface FieldShare {
  field: string;
  bytes: number;
  items: MemoryItem[];
}

/** The estimate grouped by the field that sets each item's size, largest first (the runtime, set by no field, left out). */
export function sharesByField(estimate: MemoryEstimate): FieldShare[] {
  const byField = new Map<string, FieldShare>();
  for (const item of estimate.items) {
    if (item.path.length === 0) continue;
    const field = fieldFromPath(item.path);
    const share = byField.get(field) ?? { field, bytes: 0, items: [] };
    share.bytes += item.bytes;
    share.items.push(item);
    byField.set(field, share);
  }
  return [...byField.values()].sort((a, b) => b.bytes - a.bytes);
}
