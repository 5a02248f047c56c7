import * as tf from '@tensorflow/tfjs';
import { FUSED_DENSE_ACTIVATIONS } from './fused-kernel-names.js';
import { fusedDense, fusedDenseAvailable } from './fused-matmul-gradient.js';

export { fusedDenseAvailable };

/**
 * The dense layer, trained fused on the native backend. TF.js's layer calls tf.fused.matMul, which
 * fuses a relu only outside gradient mode (and a sigmoid never): in training a hidden layer was
 * BatchMatMul, Add and Relu forward, and back the relu's gradient, two products, a Sum and
 * reshapes, each kernel an extra pass over an activation-sized tensor and an output to allocate.
 * Here the layer runs `_FusedMatMul` itself (the native kernel adds the bias and applies the
 * activation in C++) with the gradient of fused-matmul-gradient.ts, which on native is one kernel
 * (TrainyardDenseGrad: the activation's gradient, dx, dw and db) doing the unfused gradient's float
 * operations with the same sgemm calls, so the weights come out the same to the bit (tested).
 * Elsewhere, and for activations the kernels do not cover, it is TF.js's layer unchanged. It
 * serialises as the stock Dense.
 */

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
      return fusedDense(x, fields.kernel.read(), fields.bias?.read() ?? null, activation as (typeof FUSED_DENSE_ACTIVATIONS)[number]);
    });
  }
}
