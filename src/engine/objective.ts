import * as tf from '@tensorflow/tfjs';
import { isCategorical, type LossName } from '../spec/loss-spec.js';

/**
 * What training minimises (docs/techniques/regularization.md): the loss of the task (cross-entropy on optionally
 * smoothed labels, binary cross-entropy or mean squared error), minus a confidence penalty, plus an
 * entropy-threshold penalty, plus L1/L2 on kernels. Validation and test losses are the plain loss,
 * so runs with different penalties stay comparable.
 */
export interface Objective {
  loss: LossName;
  /**
   * The model's last layer applies the loss's link (softmax for the categorical losses, sigmoid for
   * binary cross-entropy), so its outputs are probabilities; otherwise they are logits.
   */
  probabilities: boolean;
  /** Real-valued targets: the score is mean absolute error rather than accuracy. */
  regression: boolean;
  /** ε: y′ = (1 − ε) y + ε / K. */
  labelSmoothing: number;
  /** β: L = CE − β H(p). */
  confidencePenalty: number;
  /** L = CE + β · max(0, τ − H(p)), per sample. */
  entropyThreshold: { beta: number; tau: number } | null;
  /** L += λ₁ Σ|w| + λ₂ Σ w² for each listed kernel. */
  weightPenalties: { variable: tf.Variable; l1: number; l2: number }[];
}

/** The loss of a task without any penalty: what held-out rows are scored with. */
export const plainObjective = (loss: LossName, probabilities: boolean, regression = false): Objective => ({
  loss,
  probabilities,
  regression,
  labelSmoothing: 0,
  confidencePenalty: 0,
  entropyThreshold: null,
  weightPenalties: [],
});

/** Whether mean output entropy is a reported metric (any confidence option is on). */
export function reportsEntropy(objective: Objective): boolean {
  return objective.labelSmoothing > 0 || objective.confidencePenalty > 0 || objective.entropyThreshold !== null;
}

/** The name of the per-row score: accuracy, or mean absolute error for a regression. */
export const scoreName = (objective: Pick<Objective, 'regression'>) => (objective.regression ? 'mae' : 'accuracy');

function logProbabilities(output: tf.Tensor, probabilities: boolean): tf.Tensor {
  return probabilities ? tf.log(tf.clipByValue(output, 1e-7, 1)) : tf.logSoftmax(output);
}

/** H(p) = −Σ p log p for each sample (and step). */
export function entropyPerSample(output: tf.Tensor, probabilities: boolean): tf.Tensor {
  const logP = logProbabilities(output, probabilities);
  return tf.neg(tf.sum(tf.mul(tf.exp(logP), logP), -1));
}

/** Class indices (sparse labels, int32) become one-hot rows; one-hot labels pass through. */
export function oneHotLabels(labels: tf.Tensor, classes: number): tf.Tensor {
  return labels.dtype === 'int32' ? tf.oneHot(labels, classes).toFloat() : labels;
}

/** Mean cross-entropy over samples (and steps) of one-hot or smoothed targets. */
export function crossEntropy(output: tf.Tensor, targets: tf.Tensor, probabilities: boolean): tf.Scalar {
  return tf.neg(tf.mean(tf.sum(tf.mul(targets, logProbabilities(output, probabilities)), -1))) as tf.Scalar;
}

/** Mean over every output of −y log p − (1 − y) log(1 − p); on logits in the overflow-free form. */
export function binaryCrossEntropy(output: tf.Tensor, targets: tf.Tensor, probabilities: boolean): tf.Scalar {
  if (probabilities) {
    const p = tf.clipByValue(output, 1e-7, 1 - 1e-7);
    return tf.neg(tf.mean(tf.add(tf.mul(targets, tf.log(p)), tf.mul(tf.sub(1, targets), tf.log(tf.sub(1, p)))))) as tf.Scalar;
  }
  // max(z, 0) − z·y + log(1 + e^−|z|)
  return tf.mean(tf.add(tf.sub(tf.relu(output), tf.mul(output, targets)), tf.log1p(tf.exp(tf.neg(tf.abs(output)))))) as tf.Scalar;
}

export function meanSquaredError(output: tf.Tensor, targets: tf.Tensor): tf.Scalar {
  return tf.mean(tf.square(tf.sub(output, targets))) as tf.Scalar;
}

/** The task's loss on (possibly smoothed) targets, before penalties. */
export function taskLoss(output: tf.Tensor, labels: tf.Tensor, objective: Pick<Objective, 'loss' | 'probabilities'>, labelSmoothing = 0): tf.Scalar {
  const classes = output.shape[output.shape.length - 1]!;
  switch (objective.loss) {
    case 'meanSquaredError':
      return meanSquaredError(output, oneHotLabels(labels, classes));
    case 'binaryCrossentropy':
      return binaryCrossEntropy(output, oneHotLabels(labels, classes), objective.probabilities);
    default: {
      const oneHot = oneHotLabels(labels, classes);
      const targets = labelSmoothing > 0 ? tf.add(tf.mul(oneHot, 1 - labelSmoothing), labelSmoothing / classes) : oneHot;
      return crossEntropy(output, targets, objective.probabilities);
    }
  }
}

/**
 * Summed over the batch: correct predictions (per row; a sequence row counts the fraction of its
 * steps right), or each row's mean absolute error for a regression.
 */
export function scoreSum(output: tf.Tensor, labels: tf.Tensor, objective: Pick<Objective, 'regression' | 'probabilities'>): tf.Scalar {
  let perPosition: tf.Tensor;
  if (objective.regression) {
    perPosition = tf.abs(tf.sub(output, labels));
  } else {
    const classes = output.shape[output.shape.length - 1]!;
    if (classes === 1) {
      // One sigmoid unit: class 1 when p > 0.5 (logit > 0).
      perPosition = tf.cast(tf.equal(tf.greater(output, objective.probabilities ? 0.5 : 0), tf.greater(labels, 0.5)), 'float32');
    } else {
      const truth = labels.dtype === 'int32' ? labels : tf.argMax(labels, -1);
      perPosition = tf.cast(tf.equal(tf.argMax(output, -1), truth), 'float32');
    }
  }
  const perRow = perPosition.rank > 1 ? tf.mean(perPosition, Array.from({ length: perPosition.rank - 1 }, (_, i) => i + 1)) : perPosition;
  return tf.sum(perRow) as tf.Scalar;
}

/** The training objective and the batch's mean output entropy (0 when the loss has no softmax). */
export function objectiveLoss(output: tf.Tensor, labels: tf.Tensor, objective: Objective): { loss: tf.Scalar; entropy: tf.Scalar } {
  let loss: tf.Tensor = taskLoss(output, labels, objective, objective.labelSmoothing);
  let meanEntropy: tf.Scalar = tf.scalar(0);
  if (isCategorical(objective.loss)) {
    const entropy = entropyPerSample(output, objective.probabilities);
    meanEntropy = tf.mean(entropy) as tf.Scalar;
    if (objective.confidencePenalty > 0) loss = tf.sub(loss, tf.mul(objective.confidencePenalty, meanEntropy));
    if (objective.entropyThreshold) {
      const { beta, tau } = objective.entropyThreshold;
      loss = tf.add(loss, tf.mul(beta, tf.mean(tf.relu(tf.sub(tau, entropy)))));
    }
  }
  for (const { variable, l1, l2 } of objective.weightPenalties) {
    if (l1 > 0) loss = tf.add(loss, tf.mul(l1, tf.sum(tf.abs(variable))));
    if (l2 > 0) loss = tf.add(loss, tf.mul(l2, tf.sum(tf.square(variable))));
  }
  return { loss: loss as tf.Scalar, entropy: meanEntropy };
}
