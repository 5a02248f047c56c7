import type { OptimizerConfig } from '../../spec/optimizer-spec.js';
import { Adagrad } from './adagrad.js';
import { Adam } from './adam.js';
import { Momentum } from './momentum.js';
import { Rmsprop } from './rmsprop.js';
import { Sgd } from './sgd.js';
import type { TrainingOptimizer } from './training-optimizer.js';

/** The registry: a resolved optimizer config in, a fresh optimizer (no state) out. */
export function createOptimizer(config: OptimizerConfig): TrainingOptimizer {
  switch (config.type) {
    case 'sgd':
      return new Sgd();
    case 'momentum':
      return new Momentum(config.momentum, false);
    case 'nesterov':
      return new Momentum(config.momentum, true);
    case 'adagrad':
      return new Adagrad(config.epsilon, config.initialAccumulator);
    case 'rmsprop':
      return new Rmsprop(config.rho, config.epsilon, config.momentum);
    case 'adam':
      return new Adam(config.beta1, config.beta2, config.epsilon);
    case 'adamw':
      return new Adam(config.beta1, config.beta2, config.epsilon, config.weightDecay);
  }
}
