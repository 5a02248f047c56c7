import * as tf from '@tensorflow/tfjs';

/**
 * What training minimises (TECHNIQUES.md 2): cross-entropy on optionally smoothed labels, minus a
 * confidence penalty, plus an entropy-threshold penalty, plus L1/L2 on kernels. Validation and
 * test losses are the plain cross-entropy, so runs with different penalties stay comparable.
 */
export interface Objective {
  /** The model's last layer applies softmax (else its outputs are logits). */
  probabilities: boolean;
  /** ε: y′ = (1 − ε) y + ε / K. */
  labelSmoothing: number;
  /** β: L = CE − β H(p). */
  confidencePenalty: number;
  /** L = CE + β · max(0, τ − H(p)), per sample. */
  entropyThreshold: { beta: number; tau: number } | null;
  /** L += λ₁ Σ|w| + λ₂ Σ w² for each listed kernel. */
  weightPenalties: { variable: tf.Variable; l1: number; l2: number }[];
}

export const plainObjective = (probabilities: boolean): Objective => ({
  probabilities,
  labelSmoothing: 0,
  confidencePenalty: 0,
  entropyThreshold: null,
  weightPenalties: [],
});

/** Whether mean output entropy is a reported metric (any confidence option is on). */
export function reportsEntropy(objective: Objective): boolean {
  return objective.labelSmoothing > 0 || objective.confidencePenalty > 0 || objective.entropyThreshold !== null;
}

function logProbabilities(output: tf.Tensor, probabilities: boolean): tf.Tensor {
  return probabilities ? tf.log(tf.clipByValue(output, 1e-7, 1)) : tf.logSoftmax(output);
}

/** H(p) = −Σ p log p for each sample. */
export function entropyPerSample(output: tf.Tensor, probabilities: boolean): tf.Tensor {
  const logP = logProbabilities(output, probabilities);
  return tf.neg(tf.sum(tf.mul(tf.exp(logP), logP), -1));
}

/** Mean cross-entropy of the (unsmoothed) labels: the reported loss of held-out rows. */
export function crossEntropy(output: tf.Tensor, labels: tf.Tensor, probabilities: boolean): tf.Scalar {
  return tf.neg(tf.mean(tf.sum(tf.mul(labels, logProbabilities(output, probabilities)), -1))) as tf.Scalar;
}

/** The training objective and the batch's mean output entropy. */
export function objectiveLoss(output: tf.Tensor, labels: tf.Tensor, objective: Objective): { loss: tf.Scalar; entropy: tf.Scalar } {
  const classes = labels.shape[labels.shape.length - 1]!;
  const targets = objective.labelSmoothing > 0 ? tf.add(tf.mul(labels, 1 - objective.labelSmoothing), objective.labelSmoothing / classes) : labels;
  let loss: tf.Tensor = crossEntropy(output, targets, objective.probabilities);
  const entropy = entropyPerSample(output, objective.probabilities);
  const meanEntropy = tf.mean(entropy) as tf.Scalar;
  if (objective.confidencePenalty > 0) loss = tf.sub(loss, tf.mul(objective.confidencePenalty, meanEntropy));
  if (objective.entropyThreshold) {
    const { beta, tau } = objective.entropyThreshold;
    loss = tf.add(loss, tf.mul(beta, tf.mean(tf.relu(tf.sub(tau, entropy)))));
  }
  for (const { variable, l1, l2 } of objective.weightPenalties) {
    if (l1 > 0) loss = tf.add(loss, tf.mul(l1, tf.sum(tf.abs(variable))));
    if (l2 > 0) loss = tf.add(loss, tf.mul(l2, tf.sum(tf.square(variable))));
  }
  return { loss: loss as tf.Scalar, entropy: meanEntropy };
}
