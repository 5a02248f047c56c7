import * as tf from '@tensorflow/tfjs';
import { DENSE_GRAD_KERNEL } from '../backends/native-dense.js';
import { DENSE_ACTIVATIONS } from '../backends/native-matmul-conv.js';

/**
 * The dense layer, trained fused on the native backend. TF.js's layer calls tf.fused.matMul, which
 * fuses a relu only outside gradient mode (and a sigmoid never): in training a hidden layer was
 * BatchMatMul, Add and Relu forward, and back the relu's gradient, two products, a Sum and
 * reshapes, each kernel an extra pass over an activation-sized tensor and an output to allocate.
 * Here the layer runs `_FusedMatMul` itself (the native kernel adds the bias and applies the
 * activation in C++) with the gradient registered below, which on native is one kernel
 * (TrainyardDenseGrad: the activation's gradient, dx, dw and db) doing the unfused gradient's float
 * operations with the same sgemm calls, so the weights come out the same to the bit (tested).
 * Elsewhere, and for activations the kernels do not cover, it is TF.js's layer unchanged. It
 * serialises as the stock Dense.
 */

tf.registerGradient({
  kernelName: tf._FusedMatMul,
  inputsToSave: ['a', 'b'],
  outputsToSave: [true],
  gradFunc: (dy, saved, attrs) => {
    const [x, w, y] = saved as [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D];
    const { transposeA, transposeB, activation } = attrs as unknown as { transposeA: boolean; transposeB: boolean; activation: string };
    // tf.fused.matMul differentiates itself (customGrad); only a direct call, as Dense's below, comes here.
    if (transposeA || transposeB || x.rank !== 2 || w.rank !== 2 || !DENSE_ACTIVATIONS.has(activation)) {
      throw new Error(`_FusedMatMul's gradient covers a dense layer's product (rank 2, no transposes, ${[...DENSE_ACTIVATIONS.keys()].join(', ')}), not this one`);
    }
    const upstream = dy as tf.Tensor2D;
    if (tf.getKernel(DENSE_GRAD_KERNEL, tf.getBackend()) !== undefined) {
      // One pass gives all three; the engine disposes whichever it does not use (a frozen layer's).
      const [dx, dw, db] = tf.engine().runKernel(DENSE_GRAD_KERNEL, { dy: upstream, x, w, y }, { activation }) as tf.Tensor[];
      return { a: () => dx!, b: () => dw!, bias: () => db! };
    }
    // The unfused gradient as TF.js computes it: the activation's (from its output), then the products' and Add's.
    const g = activation === 'relu' ? tf.mul(upstream, tf.cast(tf.step(y), 'float32')) : activation === 'sigmoid' ? tf.mul(upstream, tf.mul(y, tf.sub(1, y))) : upstream;
    return { a: () => tf.matMul(g, w, false, true), b: () => tf.matMul(x, g, true, false), bias: () => tf.sum(g, 0) };
  },
});

/** Whether a dense layer with this activation runs fused on the current backend. */
export function fusedDenseAvailable(activation: string): boolean {
  return DENSE_ACTIVATIONS.has(activation) && tf.getKernel(DENSE_GRAD_KERNEL, tf.getBackend()) !== undefined;
}

/** The fields of TF.js's Dense layer that the fused call reads. */
interface DenseLayerFields {
  kernel: tf.LayerVariable;
  bias: tf.LayerVariable | null;
  activation: { getClassName(): string };
}

type DenseArgs = Parameters<typeof tf.layers.dense>[0];
type LayerCall = tf.layers.Layer['call'];

// TF.js does not export its Dense class; the serialization registry has it under its Keras name.
const StockDense = tf.serialization.SerializationMap.getMap().classNameMap['Dense']![0] as unknown as new (args: DenseArgs) => tf.layers.Layer;

export class Dense extends StockDense {
  override call(inputs: Parameters<LayerCall>[0], kwargs: Parameters<LayerCall>[1]): tf.Tensor | tf.Tensor[] {
    const x = Array.isArray(inputs) ? inputs[0]! : inputs;
    const fields = this as unknown as DenseLayerFields;
    const activation = fields.activation.getClassName();
    if (x.rank !== 2 || x.dtype !== 'float32' || !fusedDenseAvailable(activation)) return super.call(inputs, kwargs);
    return tf.tidy(() => {
      this.invokeCallHook(inputs, kwargs);
      const bias = fields.bias?.read();
      const attrs = { transposeA: false, transposeB: false, activation, leakyreluAlpha: 0.2 };
      return tf.engine().runKernel(tf._FusedMatMul, { a: x, b: fields.kernel.read(), ...(bias ? { bias } : {}) }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor;
    });
  }
}
