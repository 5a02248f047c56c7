import * as tf from '@tensorflow/tfjs';

export interface LayerVariance {
  index: number;
  name: string;
  variance: number;
  /** variance / the input's: about 1 through a well-initialised deep net, → 0 or ∞ otherwise. */
  ratio: number;
}

/**
 * The variance of every layer's output on `x` (inference mode: no dropout), over all its values,
 * next to the input's. Run at step 0 it shows whether a deep net's signal explodes or vanishes
 * with the chosen initialization (He et al. 2015).
 */
export async function activationVariances(model: tf.LayersModel, x: tf.Tensor): Promise<{ input: number; layers: LayerVariance[] }> {
  // A functional model lists its input as a layer too.
  const layers = model.layers.filter((layer) => layer.getClassName() !== 'InputLayer');
  const probe = tf.model({ inputs: model.inputs, outputs: layers.map((layer) => layer.output as tf.SymbolicTensor) });
  const variances = tf.tidy(() => {
    const outputs = probe.predict(x) as tf.Tensor | tf.Tensor[];
    return [x, ...(Array.isArray(outputs) ? outputs : [outputs])].map((t) => tf.moments(t).variance);
  });
  const values = await Promise.all(variances.map(async (v) => (await v.data())[0]!));
  tf.dispose(variances);
  const [input, ...outputs] = values;
  return {
    input: input!,
    layers: outputs.map((variance, index) => ({ index, name: layers[index]!.name, variance, ratio: input! > 0 ? variance / input! : Number.NaN })),
  };
}
