import * as tf from '@tensorflow/tfjs';
import { crossEntropy, objectiveLoss, type Objective } from './objective.js';

function correctCount(output: tf.Tensor, labels: tf.Tensor): tf.Scalar {
  return tf.sum(tf.cast(tf.equal(tf.argMax(output, -1), tf.argMax(labels, -1)), 'float32'));
}

export interface StepGradients {
  loss: tf.Scalar;
  correct: tf.Scalar;
  /** Mean output entropy H(p) of the batch. */
  entropy: tf.Scalar;
  /** In the order of the variables passed in. */
  gradients: tf.Tensor[];
}

/** Forward pass in training mode and the gradients of the mean loss w.r.t. `variables`. */
export function computeGradients(
  model: tf.LayersModel,
  variables: tf.Variable[],
  x: tf.Tensor,
  y: tf.Tensor,
  objective: Objective,
): StepGradients {
  let correct: tf.Scalar | undefined;
  let entropy: tf.Scalar | undefined;
  const { value, grads } = tf.variableGrads(() => {
    const output = model.apply(x, { training: true }) as tf.Tensor;
    correct = tf.keep(correctCount(output, y));
    const result = objectiveLoss(output, y, objective);
    entropy = tf.keep(result.entropy);
    return result.loss;
  }, variables);
  return { loss: value, correct: correct!, entropy: entropy!, gradients: variables.map((variable) => grads[variable.name]!) };
}

/** Loss and accuracy over a whole split, in chunks so no activation tensor gets huge. */
export async function evaluate(
  model: tf.LayersModel,
  x: tf.Tensor,
  y: tf.Tensor2D,
  outputsProbabilities: boolean,
  chunk = 1024,
): Promise<{ loss: number; accuracy: number }> {
  const rows = x.shape[0];
  let lossSum = 0;
  let correctSum = 0;
  for (let begin = 0; begin < rows; begin += chunk) {
    const size = Math.min(chunk, rows - begin);
    const [loss, correct] = tf.tidy(() => {
      // Slicing along the first axis only: rows may be vectors or images.
      const xb = x.slice([begin], [size]);
      const yb = y.slice([begin, 0], [size, -1]);
      const output = model.apply(xb, { training: false }) as tf.Tensor;
      return [tf.mul(crossEntropy(output, yb, outputsProbabilities), size), correctCount(output, yb)];
    });
    const [lossValue, correctValue] = await readScalars(loss!, correct!);
    tf.dispose([loss!, correct!]);
    lossSum += lossValue!;
    correctSum += correctValue!;
  }
  return { loss: lossSum / rows, accuracy: correctSum / rows };
}

export async function readScalars(...tensors: tf.Tensor[]): Promise<number[]> {
  const values = await Promise.all(tensors.map((t) => t.data()));
  return values.map((v) => v[0]!);
}

/** A scalar accumulated on the backend, so metrics cost no device-to-host read per batch. */
export class RunningSum {
  private total: tf.Scalar = tf.scalar(0);

  add(value: tf.Tensor): void {
    const next = tf.add(this.total, value) as tf.Scalar;
    this.total.dispose();
    this.total = next;
  }

  /** Reads the sum and starts again from zero. */
  async take(): Promise<number> {
    const [value] = await readScalars(this.total);
    this.total.dispose();
    this.total = tf.scalar(0);
    return value!;
  }

  dispose(): void {
    this.total.dispose();
  }
}
