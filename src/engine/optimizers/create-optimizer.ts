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
      return new Sgd(config.weightDecay ?? 0);
    case 'momentum':
      return new Momentum(config.momentum, false, config.dampening ?? 0, config.weightDecay ?? 0);
    case 'nesterov':
      return new Momentum(config.momentum, true, 0, config.weightDecay ?? 0);
    case 'adagrad':
      return new Adagrad(config.epsilon, config.initialAccumulator, config.weightDecay ?? 0);
    case 'rmsprop':
      return new Rmsprop(config.rho, config.epsilon, config.momentum, config.centered ?? false, config.weightDecay ?? 0);
    case 'adam':
      return new Adam({ beta1: config.beta1, beta2: config.beta2, epsilon: config.epsilon, amsgrad: config.amsgrad ?? false, weightDecay: config.weightDecay ?? 0 });
    case 'adamw':
      return new Adam({ beta1: config.beta1, beta2: config.beta2, epsilon: config.epsilon, amsgrad: config.amsgrad ?? false, decoupledWeightDecay: config.weightDecay });
  }
}
