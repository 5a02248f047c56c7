import { runShape, splittableRows, type DatasetShape, type JobSpecFields, type LayerSpec, type ResolvedInit } from './job-spec.js';
import { inferShapes } from './layer-shapes.js';
import { layerNameOf, modelWeights } from './weight-shapes.js';

interface Problem {
  path: (string | number)[];
  message: string;
}

/** The checkpoint a job starts from: ids and the shapes of its weights (`<layer>/<weight>` → shape). */
export interface SourceCheckpoint {
  job: string;
  checkpoint: string;
  weights: Record<string, number[]>;
}

export type TransferPlan = { init: ResolvedInit; layers: LayerSpec[] };

const weightedTypes = new Set<LayerSpec['type']>(['dense', 'conv2d', 'simpleRnn', 'lstm', 'gru', 'embedding']);

/** The index a layer reference (name or index) points at, or undefined. */
export function layerIndexOf(layers: LayerSpec[], ref: string | number): number | undefined {
  if (typeof ref === 'number') return ref < layers.length ? ref : undefined;
  const index = layers.findIndex((layer, i) => layerNameOf(layer, i) === ref);
  return index < 0 ? undefined : index;
}

const outputIndexOf = (layers: LayerSpec[]) => layers.map((layer) => layer.type).lastIndexOf('dense');

/** Checks that need only the spec: the layers `freeze` and `cutAt` name exist, options fit the mode. */
export function initProblems(spec: JobSpecFields): Problem[] {
  const init = spec.init;
  if (!init) return [];
  const problems: Problem[] = [];
  const layers = spec.model.layers;
  const output = outputIndexOf(layers);
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
 * shape), which freeze, where a linear probe cuts; for transfer auto, the choice of TECHNIQUES.md
 * 3's four cases with its reason. Returns the problems instead when the model does not fit.
 */
export function planTransfer(spec: JobSpecFields, info: DatasetShape, source: SourceCheckpoint): TransferPlan | { problems: Problem[] } {
  const init = spec.init!;
  const layers = spec.model.layers;
  const output = outputIndexOf(layers);
  let mode = init.mode;
  let cut = init.cutAt !== undefined ? layerIndexOf(layers, init.cutAt)! : output - 1;
  let why = '';
  if (init.transfer === 'auto') {
    const { trainRows } = runShape(spec, splittableRows(spec.dataset, info), info.fixedTestRows);
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
    const head = layers.slice(output).map((layer, i) => ({ ...layer, name: layerNameOf(layer, output + i) }));
    effective = [...kept, ...flatten, ...head];
  }

  const shapes = inferShapes(inputShape, effective);
  if ('message' in shapes) return { problems: [{ path: ['init'], message: `the cut model does not fit: layer ${shapes.index}: ${shapes.message}` }] };
  const weights = modelWeights(effective, [inputShape, ...shapes.shapes]);
  const problems: Problem[] = [];
  const loaded: string[] = [];
  const loadable = mode === 'linearProbe' ? cut + 1 : effective.length;
  weights.slice(0, loadable).forEach(({ layer, weights: mine }, index) => {
    const theirs = Object.keys(source.weights).filter((name) => name.startsWith(`${layer}/`));
    if (theirs.length === 0 || Object.keys(mine).length === 0) return;
    const differences = [...new Set([...theirs, ...Object.keys(mine)])]
      .filter((name) => JSON.stringify(source.weights[name]) !== JSON.stringify(mine[name]))
      .map((name) => `${name.slice(layer.length + 1)} ${source.weights[name] ? `[${source.weights[name].join(', ')}]` : 'absent'} there, ${mine[name] ? `[${mine[name].join(', ')}]` : 'absent'} here`);
    if (differences.length > 0) {
      problems.push({
        path: ['model', 'layers', index],
        message: `layer ${layer} does not match the source checkpoint's (${differences.join('; ')}): give it another name to train it fresh, or match the shapes`,
      });
    } else {
      loaded.push(layer);
    }
  });
  if (problems.length === 0 && loaded.length === 0) {
    const names = [...new Set(Object.keys(source.weights).map((name) => name.split('/')[0]))];
    problems.push({ path: ['init', 'from'], message: `no layer of this model matches a layer of the source by name (the source has ${names.join(', ')})` });
  }

  const frozenIndices =
    mode === 'linearProbe'
      ? Array.from({ length: cut + 1 }, (_, i) => i)
      : !init.freeze
        ? []
        : 'upTo' in init.freeze
          ? Array.from({ length: layerIndexOf(layers, init.freeze.upTo)! + 1 }, (_, i) => i)
          : init.freeze.layers.map((name) => layerIndexOf(layers, name)!);
  const frozen = frozenIndices.map((i) => weights[i]!.layer);
  frozenIndices.forEach((i) => {
    if (Object.keys(weights[i]!.weights).length > 0 && !loaded.includes(weights[i]!.layer)) {
      problems.push({ path: ['init', 'freeze'], message: `layer ${weights[i]!.layer} would be frozen at random weights: it is not in the source checkpoint` });
    }
  });
  if (problems.length > 0) return { problems };

  const fresh = weights.filter(({ layer, weights: mine }) => Object.keys(mine).length > 0 && !loaded.includes(layer)).map(({ layer }) => layer);
  const reason = [
    why,
    `loaded ${loaded.join(', ')} from job ${source.job} (checkpoint ${source.checkpoint})`,
    frozen.length > 0 ? `frozen ${frozen.join(', ')}` : 'nothing frozen',
    fresh.length > 0 ? `trained from scratch ${fresh.join(', ')}` : '',
  ]
    .filter(Boolean)
    .join('; ');
  return {
    init: { from: { job: source.job, checkpoint: source.checkpoint }, mode, loaded, frozen, ...(mode === 'linearProbe' ? { cutAt: weights[cut]!.layer } : {}), reason },
    layers: effective,
  };
}
