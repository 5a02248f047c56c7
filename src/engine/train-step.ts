import * as tf from '@tensorflow/tfjs';
import { objectiveLoss, scoreSum, taskLoss, type Objective } from './objective.js';
import { EVALUATION_CHUNK_ROWS } from '../spec/memory-estimate.js';
import { variableGradients } from './layers/gradient-reach.js';

export interface StepGradients {
  loss: tf.Scalar;
  /** Correct rows, or the summed per-row mean absolute error of a regression. */
  correct: tf.Scalar;
  /** Mean output entropy H(p) of the batch. */
  entropy: tf.Scalar;
  /** Each auxiliary head's plain loss (unweighted), in head order. */
  headLosses: tf.Scalar[];
  /** In the order of the variables passed in. */
  gradients: tf.Tensor[];
}

/**
 * Forward pass in training mode and the gradients of the mean loss w.r.t. `variables`. With
 * auxiliary heads the model outputs [main, ...heads] and L = L_main + Σ αₖ L_headₖ, α from
 * `headWeights`, each head's loss the task loss on the same (label-smoothed) targets.
 */
export function computeGradients(
  model: tf.LayersModel,
  variables: tf.Variable[],
  x: tf.Tensor,
  y: tf.Tensor,
  objective: Objective,
  headWeights: number[] = [],
): StepGradients {
  let correct: tf.Scalar | undefined;
  let entropy: tf.Scalar | undefined;
  const headLosses: tf.Scalar[] = [];
  const { value, grads } = variableGradients(() => {
    const outputs = model.apply(x, { training: true }) as tf.Tensor | tf.Tensor[];
    const [output, ...heads] = Array.isArray(outputs) ? outputs : [outputs];
    correct = tf.keep(scoreSum(output!, y, objective));
    const result = objectiveLoss(output!, y, objective);
    entropy = tf.keep(result.entropy);
    let loss: tf.Scalar = result.loss;
    heads.forEach((head, k) => {
      // The same loss as the main output, label smoothing included (penalties on the main output only).
      const headLoss = taskLoss(head, y, objective, objective.labelSmoothing);
      headLosses.push(tf.keep(headLoss));
      // Added even at α = 0 so every head variable stays on the tape and gets a (zero) gradient.
      loss = tf.add(loss, tf.mul(headWeights[k] ?? 0, headLoss));
    });
    return loss;
  }, variables);
  return { loss: value, correct: correct!, entropy: entropy!, headLosses, gradients: variables.map((variable) => grads[variable.name]!) };
}

/**
 * The plain loss and the score (accuracy, or mean absolute error) over a whole split, in chunks so
 * no activation tensor gets huge.
 */
export async function evaluate(
  model: tf.LayersModel,
  x: tf.Tensor,
  y: tf.Tensor,
  objective: Pick<Objective, 'loss' | 'probabilities' | 'regression'>,
  chunk = EVALUATION_CHUNK_ROWS,
): Promise<{ loss: number; score: number }> {
  // Slicing along the first axis only: rows may be vectors, images or sequences.
  return evaluateChunks(model, x.shape[0], (begin, size) => ({ x: x.slice([begin], [size]), y: y.slice([begin], [size]) }), objective, chunk);
}

/** evaluate over rows that `chunkAt` hands over a chunk at a time (read from disk for a streamed split); it may prefetch the next. */
export async function evaluateChunks(
  model: tf.LayersModel,
  rows: number,
  chunkAt: (begin: number, size: number) => { x: tf.Tensor; y: tf.Tensor } | Promise<{ x: tf.Tensor; y: tf.Tensor }>,
  objective: Pick<Objective, 'loss' | 'probabilities' | 'regression'>,
  chunk = EVALUATION_CHUNK_ROWS,
): Promise<{ loss: number; score: number }> {
  let lossSum = 0;
  let correctSum = 0;
  for (let begin = 0; begin < rows; begin += chunk) {
    const size = Math.min(chunk, rows - begin);
    const { x, y } = await chunkAt(begin, size);
    const [loss, correct] = tf.tidy(() => {
      const output = model.apply(x, { training: false }) as tf.Tensor;
      return [tf.mul(taskLoss(output, y, objective), size), scoreSum(output, y, objective)];
    });
    tf.dispose([x, y]);
    const [lossValue, correctValue] = await readScalars(loss!, correct!);
    tf.dispose([loss!, correct!]);
    lossSum += lossValue!;
    correctSum += correctValue!;
  }
  return { loss: lossSum / rows, score: correctSum / rows };
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
