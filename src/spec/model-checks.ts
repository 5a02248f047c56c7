import type { DatasetShape } from './dataset-spec.js';
import type { JobSpecFields } from './job-spec.js';
import { inferShapes, modelInputReaders } from './layer-shapes.js';
import { isGraph, resolveInputs, unreadLayer } from './layer-graph.js';
import { layerIndexOf, modelWeights, outputLayerIndex } from './weight-shapes.js';
import { resolveInitializer } from './initializer-spec.js';
import { definitionOf, initializerFields } from '../layers/registry.js';
import { isCategorical, resolveLoss } from './loss-spec.js';


interface Problem {
  path: (string | number)[];
  message: string;
}

const sameShape = (a: number[], b: number[]) => a.length === b.length && a.every((value, i) => value === b[i]);

/**
 * What the model, the loss and the data set must agree on: layer shapes, the output shape the
 * targets need, the loss for the task, and options that only some layers or losses have.
 */
export function modelProblems(spec: JobSpecFields, info: DatasetShape): Problem[] {
  const problems: Problem[] = [];
  const layers = spec.model.layers;
  const loss = resolveLoss(spec.loss, info.classes);
  const regression = info.classes === 0;
  problems.push(...lossProblems(spec, info));

  layers.forEach((layer, index) => {
    const at = (field: string) => ['model', 'layers', index, field];
    if (layer.type === 'simpleRnn' || layer.type === 'lstm' || layer.type === 'gru') {
      if (layer.dropoutMode === 'cellUpdate' && layer.type === 'simpleRnn') {
        problems.push({ path: at('dropoutMode'), message: 'cellUpdate drops the LSTM/GRU candidate update, which a simpleRnn does not have: use standard or variational' });
      }
      if (layer.recurrentDropout !== undefined && layer.dropoutMode !== 'variational') {
        problems.push({ path: at('recurrentDropout'), message: `only the variational mode drops the recurrent state; ${layer.dropoutMode} leaves it untouched by definition` });
      }
      if (layer.type === 'simpleRnn' && layer.irnn) {
        if (layer.activation !== undefined && layer.activation !== 'relu') {
          problems.push({ path: at('activation'), message: `an IRNN uses relu, not ${layer.activation}: leave activation out, or set irnn false for a ${layer.activation} simpleRnn` });
        }
        if (layer.biasInitializer !== undefined) {
          problems.push({ path: at('biasInitializer'), message: 'irnn sets the bias to 0: leave biasInitializer out, or set irnn false' });
        }
      }
      if (layer.type === 'lstm' && layer.recurrentBatchNorm && layer.layerNorm) {
        problems.push({ path: at('layerNorm'), message: 'choose recurrentBatchNorm or layerNorm, not both' });
      }
    }
    if (layer.type === 'embedding') {
      if (info.vocabulary === undefined) {
        problems.push({ path: ['model', 'layers', index], message: 'an embedding takes token ids, and this data set\'s inputs are values (copy with inputs "tokens" has token ids)' });
      } else if (layer.inputDim < info.vocabulary) {
        problems.push({ path: at('inputDim'), message: `must cover the data set's ${info.vocabulary} token ids (0 … ${info.vocabulary - 1})` });
      }
    }
  });
  const graph = resolveInputs(layers);
  if ('message' in graph) {
    problems.push({ path: ['model', 'layers', graph.index, ...(graph.field ? [graph.field] : [])], message: graph.message });
    return problems;
  }
  if (info.vocabulary !== undefined) {
    const readers = modelInputReaders(layers, graph.inputs);
    const reader = readers.findIndex((reads, index) => reads && layers[index]!.type !== 'embedding' && !definitionOf(layers[index]!).passesTokens);
    if (reader >= 0) {
      problems.push({
        path: ['model', 'layers', reader],
        message: `the inputs are token ids (0 … ${info.vocabulary - 1}): ${isGraph(layers) ? 'only an embedding layer (or a timeSlice before one) can read the model\'s input' : 'start with an embedding layer'}`,
      });
    }
  }
  const heads = new Set((spec.model.auxiliaryHeads ?? []).flatMap((head) => layerIndexOf(layers, head.after) ?? []));
  const unread = unreadLayer(layers, graph.inputs, heads);
  if (unread) problems.push({ path: ['model', 'layers', unread.index], message: unread.message });

  const outputIndex = outputLayerIndex(layers);
  if (outputIndex < 0) {
    problems.push({ path: ['model', 'layers'], message: 'needs at least one dense layer (the output layer)' });
    return problems;
  }
  const finalActivations = loss === 'binaryCrossentropy' ? ['sigmoid', 'linear'] : isCategorical(loss) ? ['softmax', 'linear'] : null;
  if (finalActivations) {
    layers.slice(outputIndex + 1).forEach((layer, offset) => {
      if (layer.type === 'activation' && !finalActivations.includes(layer.activation)) {
        problems.push({
          path: ['model', 'layers', outputIndex + 1 + offset, 'activation'],
          message: `after the output layer only ${finalActivations.join(' or ')} make sense with ${loss}`,
        });
      }
    });
  }

  const shapes = inferShapes(info.inputShape ?? [info.featureSize], layers);
  if ('message' in shapes) {
    problems.push({ path: ['model', 'layers', shapes.index, ...(shapes.field ? [shapes.field] : [])], message: shapes.message });
    return problems;
  }
  const expected = [...(info.outputShape ?? [info.classes])];
  // One sigmoid unit is the usual binary classifier: it outputs P(class 1).
  const alternatives = loss === 'binaryCrossentropy' && info.classes === 2 ? [expected, [...expected.slice(0, -1), 1]] : [expected];
  const output = shapes.shapes.at(-1)!;
  problems.push(...noiseShapeProblems(spec, shapes.inputShapes.map((inputs) => inputs[0]!)));
  problems.push(...headProblems(spec, shapes.shapes, outputIndex));
  problems.push(...initializerProblems(spec, shapes.inputShapes, shapes.shapes));
  if (alternatives.some((shape) => sameShape(shape, output))) return problems;
  const outputLayer = layers[outputIndex]!;
  const what = regression ? 'one per target value' : 'one per class of the data set';
  if (output.length === expected.length && outputLayer.type === 'dense' && shapes.shapes.slice(outputIndex).every((shape) => shape.at(-1) === outputLayer.units)) {
    const units = alternatives.map((shape) => shape.at(-1)).join(' or ');
    problems.push({ path: ['model', 'layers', outputIndex, 'units'], message: `the output layer needs ${units} units, ${what}, not ${outputLayer.units}` });
  } else {
    problems.push({
      path: ['model', 'layers', layers.length - 1],
      message: `the model outputs shape [${output.join(', ')}]; it must be [${expected.join(', ')}], ${what}${expected.length > 1 ? ' at each step (returnSequences on the last recurrent layer)' : ''}`,
    });
  }
  return problems;
}

/** The loss must fit the task, and the options that act on a softmax distribution need a categorical loss. */
export function lossProblems(spec: JobSpecFields, info: Pick<DatasetShape, 'classes'>): Problem[] {
  const problems: Problem[] = [];
  const loss = resolveLoss(spec.loss, info.classes);
  const regression = info.classes === 0;
  if (regression && loss !== 'meanSquaredError') {
    problems.push({ path: ['loss'], message: `the data set is a regression (real-valued targets): use meanSquaredError, not ${loss}` });
  }
  if (!isCategorical(loss)) {
    const { labelSmoothing, confidencePenalty, entropyThreshold } = spec.regularization;
    for (const [key, on] of [['labelSmoothing', labelSmoothing > 0], ['confidencePenalty', confidencePenalty > 0], ['entropyThreshold', entropyThreshold !== undefined]] as const) {
      if (on) problems.push({ path: ['regularization', key], message: `acts on a softmax distribution: it needs categoricalCrossentropy or sparseCategoricalCrossentropy, not ${loss}` });
    }
  }
  const monitors: [(string | number)[], string | undefined][] = [[['earlyStopping', 'monitor'], spec.earlyStopping?.monitor]];
  const rates = Array.isArray(spec.optimizer)
    ? spec.optimizer.map((phase, index): [(string | number)[], unknown] => [['optimizer', index, 'learningRate'], phase.learningRate])
    : [];
  for (const [path, rate] of [[['learningRate'], spec.learningRate] as [(string | number)[], unknown], ...rates]) {
    if (rate && typeof rate === 'object' && 'type' in rate && rate.type === 'reduceOnPlateau' && 'monitor' in rate) monitors.push([[...path, 'monitor'], rate.monitor as string | undefined]);
  }
  for (const [path, monitor] of monitors) {
    if (monitor?.endsWith('accuracy') && regression) {
      problems.push({ path, message: `a regression reports no accuracy: monitor ${monitor.replace('accuracy', 'mae')} or a loss` });
    }
    if (monitor?.endsWith('mae') && !regression) {
      problems.push({ path, message: `mae is reported for regressions: monitor ${monitor.replace('mae', 'accuracy')} or a loss` });
    }
  }
  return problems;
}

/** A dropout noiseShape has the rank of the layer's input and, on every axis, 1 or the input's size. */
function noiseShapeProblems(spec: JobSpecFields, inputs: number[][]): Problem[] {
  const problems: Problem[] = [];
  spec.model.layers.forEach((layer, index) => {
    if (layer.type !== 'dropout' || !layer.noiseShape) return;
    const input = inputs[index]!;
    const noise = layer.noiseShape;
    const fits = noise.length === input.length && noise.every((size, axis) => size === 1 || size === input[axis]);
    if (!fits) {
      problems.push({
        path: ['model', 'layers', index, 'noiseShape'],
        message: `the layer's input is [${input.join(', ')}]: give one entry per axis, each 1 (shared) or the axis's size, e.g. [${input.map((size, axis) => (axis === input.length - 1 ? size : 1)).join(', ')}]`,
      });
    }
  });
  return problems;
}

/** Heads read hidden layers (before the output layer) whose output they can classify from. */
function headProblems(spec: JobSpecFields, shapes: number[][], outputIndex: number): Problem[] {
  const problems: Problem[] = [];
  const layers = spec.model.layers;
  const output = shapes.at(-1)!;
  const seen = new Set<number>();
  (spec.model.auxiliaryHeads ?? []).forEach((head, h) => {
    const path = ['model', 'auxiliaryHeads', h];
    const index = layerIndexOf(layers, head.after);
    if (index === undefined) {
      problems.push({ path: [...path, 'after'], message: `no layer ${typeof head.after === 'number' ? 'at index' : 'named'} ${head.after}` });
      return;
    }
    if (index >= outputIndex) {
      problems.push({ path: [...path, 'after'], message: `layer ${index} is not a hidden layer: heads go before the output layer (${outputIndex})` });
    } else if (output.length > 1 && !(shapes[index]!.length === output.length && shapes[index]![0] === output[0])) {
      problems.push({ path: [...path, 'after'], message: `the model outputs a class per step, so a head needs a layer with ${output[0]} steps (returnSequences), not shape [${shapes[index]!.join(', ')}]` });
    }
    if (seen.has(index)) problems.push({ path: [...path, 'after'], message: `another head already reads layer ${index}` });
    seen.add(index);
    if (head.decayToZeroByEpoch !== undefined && head.decayToZeroByEpoch > spec.epochs) {
      problems.push({ path: [...path, 'decayToZeroByEpoch'], message: `is beyond the run's ${spec.epochs} epochs` });
    }
  });
  return problems;
}

/** identity needs a square matrix and orthogonal a 2-D one; an IRNN fixes its recurrent kernel itself. */
function initializerProblems(spec: JobSpecFields, inputShapes: number[][][], outputShapes: number[][]): Problem[] {
  const problems: Problem[] = [];
  const layerWeights = modelWeights(spec.model.layers, inputShapes);
  spec.model.layers.forEach((layer, index) => {
    const { layer: name, weights } = layerWeights[index]!;
    for (const { field, weight, ref } of initializerFields(layer)) {
      // With useBias false a layer has no bias weight; the initializer is judged on the bias it would have.
      const shape = weights[`${name}/${weight}`] ?? (weight === 'bias' ? [outputShapes[index]!.at(-1)!] : undefined);
      if (ref === undefined || !shape) continue;
      const path = ['model', 'layers', index, field];
      const { type } = resolveInitializer(ref);
      if (type === 'identity' && (shape.length !== 2 || shape[0] !== shape[1])) {
        problems.push({ path, message: `identity needs a square matrix; this weight is [${shape.join(', ')}]` });
      } else if (type === 'orthogonal' && shape.length !== 2) {
        problems.push({ path, message: `orthogonal needs a 2-D weight; this one is [${shape.join(', ')}]` });
      }
      if (field === 'recurrentInitializer' && layer.type === 'simpleRnn' && layer.irnn) {
        problems.push({ path, message: 'irnn sets the recurrent kernel to the identity: leave recurrentInitializer out' });
      }
    }
  });
  return problems;
}
