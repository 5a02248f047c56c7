/** The optimizer defaults of ../shared/TECHNIQUES.md 1.2, written out by hand: what the schema must produce. */
export const catalogueOptimizerDefaults = {
  sgd: { type: 'sgd' },
  momentum: { type: 'momentum', momentum: 0.9 },
  nesterov: { type: 'nesterov', momentum: 0.9 },
  adagrad: { type: 'adagrad', epsilon: 1e-10, initialAccumulator: 0 },
  rmsprop: { type: 'rmsprop', rho: 0.9, epsilon: 1e-8, momentum: 0 },
  adam: { type: 'adam', beta1: 0.9, beta2: 0.999, epsilon: 1e-8 },
  adamw: { type: 'adamw', beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0.01 },
} as const;
