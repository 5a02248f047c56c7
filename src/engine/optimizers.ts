import * as tf from '@tensorflow/tfjs';
import type { OptimizerConfig } from '../spec/job-spec.js';

/** Builds the TF.js optimizer for a resolved config; every hyper-parameter is passed explicitly. */
export function createOptimizer(config: OptimizerConfig, learningRate: number): tf.Optimizer {
  switch (config.type) {
    case 'sgd':
      return tf.train.sgd(learningRate);
    case 'adam':
      return tf.train.adam(learningRate, config.beta1, config.beta2, config.epsilon);
  }
}
