import { type DatasetShape } from './dataset-spec.js';
import { type JobSpecFields, type ResolvedInit } from './job-spec.js';
import { type LayerSpec } from './layer-spec.js';
import { runShapeOf } from './run-shape.js';
import { inferShapes } from './layer-shapes.js';
import { layerAndAncestors, resolveInputs } from './layer-graph.js';
import { layerIndexOf, layerNameOf, modelWeights, outputLayerIndex } from './weight-shapes.js';

interface Problem {
  path: (string | number)[];
  message: string;
}

/** The checkpoint a job starts from: ids and the shapes of its weights (`<layer>/<weight>` → shape). */
export interface SourceCheckpoint {
  job: string;
  checkpoint: string;
  weights: Record<string, number[]>;
  /** Only these layers from this source (the spec's `layers`). */
  layers?: string[];
}

export type TransferPlan = { init: ResolvedInit; layers: LayerSpec[] };

const weightedTypes = new Set<LayerSpec['type']>(['dense', 'conv2d', 'simpleRnn', 'lstm', 'gru', 'embedding']);


/** Checks that need only the spec: the layers `freeze` and `cutAt` name exist, options fit the mode. */
export function initProblems(spec: JobSpecFields): Problem[] {
  const init = spec.init;
  if (!init) return [];
  const problems: Problem[] = [];
  const layers = spec.model.layers;
  const output = outputLayerIndex(layers);
  const missing = (ref: string | number) => `no layer ${typeof ref === 'number' ? 'at index' : 'named'} ${ref}`;
  if (init.transfer === 'auto') {
    if (!init.similarity) problems.push({ path: ['init', 'similarity'], message: 'transfer auto needs to know whether the new data set is similar to the source job\'s or different' });
    for (const field of ['freeze', 'cutAt'] as const) {
      if (init[field] !== undefined) problems.push({ path: ['init', field], message: 'transfer auto chooses this itself: leave it out, or drop transfer' });
    }
  } else if (init.similarity !== undefined) {
    problems.push({ path: ['init', 'similarity'], message: 'only used with transfer "auto"' });
  }
  if (init.freeze && init.mode === 'linearProbe') problems.push({ path: ['init', 'freeze'], message: 'linearProbe freezes every layer up to cutAt itself' });
  if (init.cutAt !== undefined && init.mode !== 'linearProbe') problems.push({ path: ['init', 'cutAt'], message: 'only used with mode linearProbe' });
  if (init.cutAt !== undefined) {
    const index = layerIndexOf(layers, init.cutAt);
    if (index === undefined) problems.push({ path: ['init', 'cutAt'], message: missing(init.cutAt) });
    else if (index >= output) problems.push({ path: ['init', 'cutAt'], message: `layer ${index} is not a hidden layer: the cut goes before the output layer (${output})` });
  }
  if (init.freeze && 'upTo' in init.freeze && layerIndexOf(layers, init.freeze.upTo) === undefined) {
    problems.push({ path: ['init', 'freeze', 'upTo'], message: missing(init.freeze.upTo) });
  }
  if (init.freeze && 'layers' in init.freeze) {
    init.freeze.layers.forEach((name, i) => {
      if (layerIndexOf(layers, name) === undefined) problems.push({ path: ['init', 'freeze', 'layers', i], message: missing(name) });
    });
  }
  return problems;
}

/**
 * How a job starts from `source`: which layers load (matched by name, every weight the same
 * shape), which freeze, where a linear probe cuts; for transfer auto, the choice among the four
 * cases of docs/techniques/initialization.md, with its reason. Returns the problems instead when the model does not fit.
 */
export function planTransfer(spec: JobSpecFields, info: DatasetShape, source: SourceCheckpoint | SourceCheckpoint[]): TransferPlan | { problems: Problem[] } {
  const init = spec.init!;
  const sources = Array.isArray(source) ? source : [source];
  const layers = spec.model.layers;
  const output = outputLayerIndex(layers);
  let mode = init.mode;
  let cut = init.cutAt !== undefined ? layerIndexOf(layers, init.cutAt)! : output - 1;
  let why = '';
  if (init.transfer === 'auto') {
    const { trainRows } = runShapeOf(spec, info);
    const small = trainRows <= init.smallDatasetRows;
    const size = `${trainRows} training rows ${small ? '≤' : '>'} ${init.smallDatasetRows} (${small ? 'small' : 'large'}), ${init.similarity} data`;
    if (!small) {
      mode = 'finetune';
      why = `transfer auto: ${size}: fine-tune all layers`;
    } else {
      mode = 'linearProbe';
      const weighted = layers.slice(0, output).flatMap((layer, i) => (weightedTypes.has(layer.type) ? [i] : []));
      if (init.similarity === 'different' && weighted.length > 1) {
        // Lower-level features: the first half of the weighted hidden layers, with the pooling or activation after them.
        const last = weighted[Math.ceil(weighted.length / 2) - 1]!;
        const next = weighted.find((i) => i > last) ?? output;
        cut = next - 1;
      } else {
        cut = output - 1;
      }
      why = `transfer auto: ${size}: freeze; linear classifier on ${init.similarity === 'different' ? 'lower' : 'top'}-level features (cut after ${layerNameOf(layers[cut]!, cut)})`;
    }
  }

  // A linear probe keeps layers 0 … cut, then a flatten if needed, then the output layer and what follows it.
  let effective = layers;
  const inputShape = info.inputShape ?? [info.featureSize];
  if (mode === 'linearProbe') {
    const kept = layers.slice(0, cut + 1).map((layer, i) => ({ ...layer, name: layerNameOf(layer, i) }));
    const shapes = inferShapes(inputShape, kept);
    const cutShape = 'shapes' in shapes ? shapes.shapes.at(-1)! : inputShape;
    const expected = info.outputShape ?? [info.classes];
    const flatten: LayerSpec[] = cutShape.length > expected.length ? [{ type: 'flatten', name: 'probe_flatten' }] : [];
    // The head reads the cut (through the flatten), whatever it read in the full model.
    const head = layers.slice(output).map((layer, i) => ({ ...layer, name: layerNameOf(layer, output + i), inputs: undefined }));
    effective = [...kept, ...flatten, ...head];
  }

  const shapes = inferShapes(inputShape, effective);
  if ('message' in shapes) return { problems: [{ path: ['init'], message: `the cut model does not fit: layer ${shapes.index}: ${shapes.message}` }] };
  const weights = modelWeights(effective, shapes.inputShapes);
  const loadable = mode === 'linearProbe' ? cut + 1 : effective.length;
  const matched = matchSources(weights.slice(0, loadable), sources, Array.isArray(init.from));
  if ('problems' in matched) return matched;
  const { loaded, fresh, given } = matched;
  const problems: Problem[] = [];

  const frozenIndices =
    mode === 'linearProbe'
      ? Array.from({ length: cut + 1 }, (_, i) => i)
      : !init.freeze
        ? []
        : 'upTo' in init.freeze
          ? upToAncestors(layers, layerIndexOf(layers, init.freeze.upTo)!)
          : init.freeze.layers.map((name) => layerIndexOf(layers, name)!);
  const frozen = frozenIndices.map((i) => weights[i]!.layer);
  frozenIndices.forEach((i) => {
    if (Object.keys(weights[i]!.weights).length > 0 && !loaded.includes(weights[i]!.layer)) {
      problems.push({ path: ['init', 'freeze'], message: `layer ${weights[i]!.layer} would be frozen at random weights: it is not in the source checkpoint` });
    }
    const partly = fresh.filter((weight) => weight.startsWith(`${weights[i]!.layer}/`));
    if (partly.length > 0) problems.push({ path: ['init', 'freeze'], message: `layer ${weights[i]!.layer} would be frozen with ${partly.join(', ')} at random: its source lacks them` });
  });
  if (problems.length > 0) return { problems };

  const scratch = weights.filter(({ layer, weights: mine }) => Object.keys(mine).length > 0 && !loaded.includes(layer)).map(({ layer }) => layer);
  const reason = [
    why,
    ...given.map(({ source, layers }) => `loaded ${layers.join(', ')} from job ${source.job} (checkpoint ${source.checkpoint})`),
    fresh.length > 0 ? `fresh weights in loaded layers (not in their source) ${fresh.join(', ')}` : '',
    frozen.length > 0 ? `frozen ${frozen.join(', ')}` : 'nothing frozen',
    scratch.length > 0 ? `trained from scratch ${scratch.join(', ')}` : '',
  ]
    .filter(Boolean)
    .join('; ');
  const [first, ...others] = given;
  return {
    init: {
      from: { job: first!.source.job, checkpoint: first!.source.checkpoint },
      ...(others.length > 0 ? { alsoFrom: others.map(({ source, layers }) => ({ job: source.job, checkpoint: source.checkpoint, layers })) } : {}),
      mode,
      loaded,
      ...(fresh.length > 0 ? { fresh } : {}),
      frozen,
      ...(mode === 'linearProbe' ? { cutAt: weights[cut]!.layer } : {}),
      reason,
    },
    layers: effective,
  };
}

/** freeze.upTo's layers: the named layer and all it reads, directly or not (resolveInputs passed in modelProblems before any plan). */
function upToAncestors(layers: LayerSpec[], index: number): number[] {
  const graph = resolveInputs(layers);
  return 'message' in graph ? Array.from({ length: index + 1 }, (_, i) => i) : layerAndAncestors(graph.inputs, index);
}

const describeWeightShape = (shape: number[] | undefined) => (shape ? `[${shape.join(', ')}]` : 'absent');

/**
 * Which source each layer loads from: the one that lists it in `layers`, else the one without a
 * list whose checkpoint has weights under the layer's name. Every weight the source has for the layer
 * must be one of the layer's, of the same shape; the layer's weights the source lacks start fresh.
 * Sources that give nothing, layers two sources could give, and listed layers that are not there are problems.
 */
function matchSources(
  weights: { layer: string; weights: Record<string, number[]> }[],
  sources: SourceCheckpoint[],
  listed: boolean,
): { loaded: string[]; fresh: string[]; given: { source: SourceCheckpoint; layers: string[] }[] } | { problems: Problem[] } {
  const problems: Problem[] = [];
  const at = (i: number, ...rest: (string | number)[]) => ['init', 'from', ...(listed ? [i] : []), ...rest];
  const layersOf = (source: SourceCheckpoint) => new Set(Object.keys(source.weights).map((name) => name.slice(0, name.indexOf('/'))));
  const names = weights.map(({ layer }) => layer);
  // Each checkpoint's layer names, once: every model layer below asks every source.
  const layersBySource = sources.map(layersOf);
  sources.forEach((source, i) => {
    const theirs = layersBySource[i]!;
    source.layers?.forEach((layer, j) => {
      if (!names.includes(layer)) problems.push({ path: at(i, 'layers', j), message: `this model has no layer ${layer} to load` });
      else if (!theirs.has(layer)) problems.push({ path: at(i, 'layers', j), message: `job ${source.job}'s checkpoint has no layer ${layer} (it has ${[...theirs].join(', ')})` });
    });
  });
  const loaded: string[] = [];
  const fresh: string[] = [];
  const given = sources.map((source, i) => ({ source, theirs: layersBySource[i]!, layers: [] as string[] }));
  weights.forEach(({ layer, weights: mine }, index) => {
    if (Object.keys(mine).length === 0) return;
    // A source that lists the layer is where it comes from; otherwise any source without a list that has it.
    const listing = given.filter(({ source }) => source.layers?.includes(layer));
    const offering = listing.length > 0 ? listing : given.filter(({ source, theirs }) => !source.layers && theirs.has(layer));
    if (offering.length === 0) return;
    if (offering.length > 1) {
      problems.push({
        path: ['init', 'from'],
        message: `layer ${layer} is in the checkpoints of jobs ${offering.map(({ source }) => source.job).join(' and ')}: list it in \`layers\` of the source to load it from`,
      });
      return;
    }
    const { source, layers } = offering[0]!;
    const theirs = Object.keys(source.weights).filter((name) => name.startsWith(`${layer}/`));
    const differences = theirs
      .filter((name) => JSON.stringify(source.weights[name]) !== JSON.stringify(mine[name]))
      .map((name) => `${name.slice(layer.length + 1)} ${describeWeightShape(source.weights[name])} there, ${describeWeightShape(mine[name])} here`);
    if (differences.length > 0) {
      problems.push({
        path: ['model', 'layers', index],
        message: `layer ${layer} does not match the source checkpoint's (${differences.join('; ')}): give it another name to train it fresh, or match the shapes`,
      });
      return;
    }
    loaded.push(layer);
    layers.push(layer);
    fresh.push(...Object.keys(mine).filter((name) => !theirs.includes(name)));
  });
  given.forEach(({ source, theirs, layers }, i) => {
    if (layers.length > 0 || problems.length > 0) return;
    problems.push({ path: at(i), message: `no layer of this model matches a layer of job ${source.job}'s checkpoint by name (it has ${[...theirs].join(', ')})` });
  });
  return problems.length > 0 ? { problems } : { loaded, fresh, given };
}

// Dense models: laterals join dense layers, so a column holds dense layers and what works on their vectors.
const columnTypes = new Set<LayerSpec['type']>(['dense', 'activation', 'dropout', 'add', 'multiply', 'average', 'concatenate']);
const columnPrefix = /^c\d+_/;

/** What a progressive net needs from the spec alone: a dense stack, no other way of starting. */
export function progressiveProblems(spec: JobSpecFields): Problem[] {
  const progressive = spec.model.progressive;
  if (!progressive) return [];
  const problems: Problem[] = [];
  spec.model.layers.forEach((layer, index) => {
    if (!columnTypes.has(layer.type)) {
      problems.push({ path: ['model', 'layers', index, 'type'], message: 'a progressive net\'s columns are dense models: dense, activation, dropout and merge layers only' });
    }
    if (layer.name && columnPrefix.test(layer.name)) problems.push({ path: ['model', 'layers', index, 'name'], message: 'names starting c<digit>_ are the earlier columns\'' });
  });
  if (spec.model.auxiliaryHeads) problems.push({ path: ['model', 'auxiliaryHeads'], message: 'not available in a progressive net' });
  if (spec.init) problems.push({ path: ['init'], message: 'a progressive net starts from its columns: use init or progressive, not both' });
  progressive.columns.forEach((column, i) => {
    if (column.layers) problems.push({ path: ['model', 'progressive', 'columns', i, 'layers'], message: 'filled in from the column\'s job at submission: leave it out' });
    if (progressive.columns.findIndex((other) => other.job === column.job) !== i) problems.push({ path: ['model', 'progressive', 'columns', i, 'job'], message: 'this job is already a column' });
  });
  return problems;
}

export interface ColumnSource {
  checkpoint: SourceCheckpoint;
  /** The column job's own model. */
  model: JobSpecFields['model'];
}

/** The columns as the worker builds them, or why a prior job cannot be one. */
export function planColumns(info: DatasetShape, sources: ColumnSource[]): { columns: { job: string; checkpoint: string; layers: LayerSpec[] }[] } | { problems: Problem[] } {
  const problems: Problem[] = [];
  const inputSize = (info.inputShape ?? [info.featureSize]).reduce((a, b) => a * b, 1);
  sources.forEach(({ checkpoint, model }, i) => {
    const path = ['model', 'progressive', 'columns', i, 'job'];
    if (model.progressive) {
      problems.push({ path, message: `job ${checkpoint.job} is itself a progressive net; list its columns' jobs instead (nested columns are not supported)` });
      return;
    }
    const other = model.layers.find((layer) => !columnTypes.has(layer.type));
    if (other) {
      problems.push({ path, message: `job ${checkpoint.job} has a ${other.type} layer; columns are dense models (dense, activation, dropout and merge layers)` });
      return;
    }
    const first = model.layers.findIndex((layer) => layer.type === 'dense');
    const kernel = checkpoint.weights[`${layerNameOf(model.layers[first]!, first)}/kernel`];
    if (!kernel || kernel[0] !== inputSize || (info.inputShape && info.inputShape.length > 1)) {
      problems.push({ path, message: `job ${checkpoint.job} takes ${kernel?.[0] ?? '?'} input features; this data set has ${inputSize}${info.inputShape && info.inputShape.length > 1 ? ' and is not flat' : ''}` });
    }
  });
  if (problems.length > 0) return { problems };
  return { columns: sources.map(({ checkpoint, model }) => ({ job: checkpoint.job, checkpoint: checkpoint.checkpoint, layers: model.layers })) };
}
