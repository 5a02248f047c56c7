import * as tf from '@tensorflow/tfjs';
import { LAYER_NORM_GRAD_KERNEL, LAYER_NORM_KERNEL } from './fused-kernel-names.js';

/**
 * Layer normalization (Ba et al. 2016) over the last axis, as one fused kernel each way where the
 * backend has it (`native`), and TF.js's own computation everywhere else. TF.js's layer normalizes
 * with moments, four tiles and batch normalization: about twenty kernels forward and as many back,
 * each a pass over an activation-sized tensor, in every transformer block twice. The layer
 * serialises as the stock LayerNormalization, so exported models load in stock TF.js.
 */

export function fusedLayerNormAvailable(): boolean {
  return tf.getKernel(LAYER_NORM_KERNEL, tf.getBackend()) !== undefined;
}

/** The fused kernels, with their gradient through tf.customGrad (x, γ and β all get one). */
const fusedLayerNorm = (epsilon: number) =>
  tf.customGrad((x, gamma, beta, save) => {
    const [y, mean, rstd] = tf.engine().runKernel(LAYER_NORM_KERNEL, { x: x as tf.Tensor, gamma: gamma as tf.Tensor, beta: beta as tf.Tensor }, { epsilon }) as tf.Tensor[];
    (save as tf.GradSaveFunc)([x as tf.Tensor, gamma as tf.Tensor, mean!, rstd!]);
    return {
      value: y!,
      gradFunc: (dy, saved) => {
        const [savedX, savedGamma, savedMean, savedRstd] = saved as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
        return tf.engine().runKernel(LAYER_NORM_GRAD_KERNEL, { dy: dy as tf.Tensor, x: savedX, gamma: savedGamma, mean: savedMean, rstd: savedRstd }) as tf.Tensor[];
      },
    };
  });

/** TF.js's LayerNormalization.call for the last axis, op for op (moments, tiles, batchNorm), so that both paths give the stock layer's numbers. */
function stockLayerNorm(x: tf.Tensor, gamma: tf.Tensor | null, beta: tf.Tensor | null, epsilon: number): tf.Tensor {
  const rank = x.rank;
  const cols = x.shape[rank - 1]!;
  const { mean, variance } = tf.moments(x, [rank - 1], true);
  const broadcast = (v: tf.Tensor) => (v.rank !== rank ? tf.reshape(v, [...Array<number>(rank - 1).fill(1), cols]) : v);
  const momentsTiling = [...Array<number>(rank - 1).fill(1), cols];
  const paramTiling = [...x.shape.slice(0, -1), 1];
  return tf.batchNorm(
    x,
    tf.tile(mean, momentsTiling),
    tf.tile(variance, momentsTiling),
    beta ? tf.tile(broadcast(beta), paramTiling) : undefined,
    gamma ? tf.tile(broadcast(gamma), paramTiling) : undefined,
    epsilon,
  );
}

/**
 * x normalized over its last axis, times γ plus β ([C] each; null for none): what TF.js's
 * LayerNormalization layer computes for axis −1, for other layers (transformer blocks) to share.
 */
export function layerNorm(x: tf.Tensor, gamma: tf.Tensor | null, beta: tf.Tensor | null, epsilon: number): tf.Tensor {
  return tf.tidy(() => {
    const input = tf.cast(x, 'float32');
    if (!fusedLayerNormAvailable() || input.rank === 0 || input.size === 0) return stockLayerNorm(input, gamma, beta, epsilon);
    const cols = input.shape.at(-1)!;
    const scale = gamma ? tf.reshape(gamma, [cols]) : tf.ones([cols]);
    const offset = beta ? tf.reshape(beta, [cols]) : tf.zeros([cols]);
    return fusedLayerNorm(epsilon)(input, scale, offset);
  });
}

/** The fields of TF.js's LayerNormalization that the fused call reads (axis is resolved to non-negative axes by build). */
interface LayerNormFields {
  axis: number | number[];
  epsilon: number;
  gamma: tf.LayerVariable | null;
  beta: tf.LayerVariable | null;
}

type LayerNormArgs = NonNullable<Parameters<typeof tf.layers.layerNormalization>[0]>;
type LayerCall = tf.layers.Layer['call'];

// TF.js does not export its LayerNormalization class; the serialization registry has it under its Keras name.
const StockLayerNormalization = tf.serialization.SerializationMap.getMap().classNameMap['LayerNormalization']![0] as unknown as new (args?: LayerNormArgs) => tf.layers.Layer;

/** tf.layers.layerNormalization, with the fused kernels over the last axis; other axes are TF.js's layer unchanged. */
export class LayerNormalization extends StockLayerNormalization {
  override call(inputs: Parameters<LayerCall>[0], kwargs: Parameters<LayerCall>[1]): tf.Tensor | tf.Tensor[] {
    const x = Array.isArray(inputs) ? inputs[0]! : inputs;
    const fields = this as unknown as LayerNormFields;
    const axes = typeof fields.axis === 'number' ? [fields.axis] : fields.axis;
    const lastAxis = axes.length === 1 && (axes[0] === x.rank - 1 || axes[0] === -1);
    if (!lastAxis || !fusedLayerNormAvailable()) return super.call(inputs, kwargs);
    return layerNorm(x, fields.gamma?.read() ?? null, fields.beta?.read() ?? null, fields.epsilon);
  }
}

/** As tf.layers.layerNormalization(args). */
export function layerNormalization(args?: LayerNormArgs): LayerNormalization {
  return new LayerNormalization(args);
}
