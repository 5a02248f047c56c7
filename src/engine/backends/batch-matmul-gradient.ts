import * as tf from '@tensorflow/tfjs';

/**
 * BatchMatMul's gradient where the batch axes broadcast. tfjs-core 4.22's gradient returns the
 * product's batch shape for both inputs, and the engine then rejects it ("The gradient of input 'b'
 * has shape '2,4,5', which does not match the shape of the input '4,5'"): a projection written as
 * tf.matMul([B, T, d], [d, e]) could not be trained. Here the broadcast input's gradient is summed
 * over the axes it was broadcast along, as Add's gradient does. Where b is one matrix for the whole
 * batch and a is not transposed, its gradient is one product over all B·T rows instead of B products
 * and a sum. Shapes that do not broadcast get tfjs-core's gradient unchanged, on every backend.
 */

function reduceTo(gradient: tf.Tensor, shape: number[]): tf.Tensor {
  if (tf.util.arraysEqual(gradient.shape, shape)) return gradient;
  const axes = tf.backend_util.getReductionAxes(shape, gradient.shape);
  return tf.reshape(axes.length > 0 ? tf.sum(gradient, axes) : gradient, shape);
}

tf.registerGradient({
  kernelName: tf.BatchMatMul,
  inputsToSave: ['a', 'b'],
  gradFunc: (dy, saved, attrs) => {
    const [a, b] = saved as [tf.Tensor, tf.Tensor];
    const g = dy as tf.Tensor;
    const { transposeA, transposeB } = attrs as unknown as { transposeA: boolean; transposeB: boolean };
    // tfjs-core's formulas.
    const [da, db] =
      !transposeA && !transposeB
        ? [() => tf.matMul(g, b, false, true), () => tf.matMul(a, g, true, false)]
        : !transposeA && transposeB
          ? [() => tf.matMul(g, b, false, false), () => tf.matMul(g, a, true, false)]
          : transposeA && !transposeB
            ? [() => tf.matMul(b, g, false, true), () => tf.matMul(a, g, false, false)]
            : [() => tf.matMul(b, g, true, true), () => tf.matMul(g, a, true, true)];
    const bShared = b.rank > 2 ? b.shape.slice(0, -2).every((d) => d === 1) : true;
    const folds = bShared && !transposeA && g.rank > 2;
    const dbFolded = () => {
      // b's gradient summed over the batch is one product over every row of a and dy.
      const [rows, k, n] = [a.size / a.shape.at(-1)!, a.shape.at(-1)!, g.shape.at(-1)!];
      const [a2, g2] = [tf.reshape(a, [rows, k]), tf.reshape(g, [rows, n])];
      return tf.reshape(transposeB ? tf.matMul(g2, a2, true, false) : tf.matMul(a2, g2, true, false), b.shape);
    };
    return { a: () => reduceTo(da(), a.shape), b: folds ? dbFolded : () => reduceTo(db(), b.shape) };
  },
});
