import * as tf from '@tensorflow/tfjs';
import { initSources, type ResolvedInit, type ResolvedJobSpec } from '../spec/job-spec.js';
import { TrainingSpecError } from './events.js';
import { columnLayerName, columnLayers } from './progressive.js';

/**
 * Copies the planned layers' weights from their source checkpoints into `model`, by name: each
 * layer from the source the plan chose, but the weights the plan found missing there (`fresh`).
 * The plan was checked against the checkpoints' shapes at submission; a mismatch here means a
 * checkpoint changed since, which is an error rather than a silent partial load.
 */
export function loadTransferredWeights(model: tf.LayersModel, init: ResolvedInit, sources: tf.NamedTensorMap[]): void {
  const fresh = new Set(init.fresh ?? []);
  initSources(init).forEach(({ job, layers }, i) => {
    const source = sources[i];
    if (!source) throw new Error(`the weights of job ${job} (init.from) were not provided to the trainer`);
    for (const name of layers) {
      for (const weight of model.getLayer(name).weights) {
        if (fresh.has(weight.originalName)) continue;
        const value = source[weight.originalName];
        if (!value || value.shape.join() !== weight.shape.join()) {
          throw new Error(`job ${job}'s checkpoint has no weight ${weight.originalName} of shape [${weight.shape.join(', ')}]`);
        }
        weight.write(value);
      }
    }
  });
}

/**
 * Frozen layers keep their weights: they leave the trainable set, and they run in inference mode
 * even in a training step (as Keras does for a frozen BatchNormalization), so no running
 * statistics move and no dropout applies inside them.
 */
export function freezeLayers(model: tf.LayersModel, names: string[]): void {
  for (const name of names) {
    const layer = model.getLayer(name);
    layer.trainable = false;
    const call = layer.call.bind(layer);
    layer.call = (inputs, kwargs) => call(inputs, { ...kwargs, training: false });
  }
}

/** Column j of a progressive net gets job j's weights: layer `c<j>_<name>` from the checkpoint's `<name>`. */
export function loadColumnWeights(model: tf.LayersModel, columns: tf.NamedTensorMap[]): void {
  columns.forEach((source, j) => {
    for (const layer of columnLayers(model, j)) {
      for (const weight of layer.weights) {
        const name = weight.originalName.slice(columnLayerName(j, '').length);
        const value = source[name];
        if (!value || value.shape.join() !== weight.shape.join()) throw new Error(`column ${j}'s checkpoint has no weight ${name} of shape [${weight.shape.join(', ')}]`);
        weight.write(value);
      }
    }
  });
}

/** Freezes what the spec says stays fixed: init's frozen layers and a progressive net's earlier columns. */
export function freezeForSpec(spec: ResolvedJobSpec, model: tf.LayersModel): void {
  const columns = spec.model.progressive?.columns ?? [];
  freezeLayers(model, [...(spec.init?.frozen ?? []), ...columns.flatMap((_, j) => columnLayers(model, j).map((layer) => layer.name))]);
}

/**
 * A fresh start takes `init`'s and a progressive net's earlier columns' weights (a resumed run
 * has its own). The source tensors are disposed either way.
 */
export function loadStartingWeights(
  spec: ResolvedJobSpec,
  model: tf.LayersModel,
  options: { resumeFrom?: unknown; initialWeights?: tf.NamedTensorMap[]; columnWeights?: tf.NamedTensorMap[] },
): void {
  try {
    if (options.resumeFrom) return;
    if (spec.init) {
      if (!options.initialWeights) throw new TrainingSpecError(`the weights of job ${spec.init.from.job} (init.from) were not provided to the trainer`);
      loadTransferredWeights(model, spec.init, options.initialWeights);
    }
    const columns = spec.model.progressive?.columns ?? [];
    if (columns.length > 0) {
      if (options.columnWeights?.length !== columns.length) throw new TrainingSpecError('the weights of the progressive columns were not provided to the trainer');
      loadColumnWeights(model, options.columnWeights);
    }
  } finally {
    for (const weights of options.initialWeights ?? []) tf.dispose(Object.values(weights));
    for (const weights of options.columnWeights ?? []) tf.dispose(Object.values(weights));
  }
}
