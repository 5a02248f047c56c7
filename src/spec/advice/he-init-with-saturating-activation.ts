import { resolveInitializer } from '../initializer-spec.js';
import { effectiveActivation, layerPath, type AdviceRule, type Finding } from './advice.js';

const saturating = new Set(['tanh', 'sigmoid', 'softsign']);

/** He initialization, derived for ReLU, on a layer whose outputs go through tanh or sigmoid. */
export const heInitWithSaturatingActivation: AdviceRule = {
  code: 'heInitWithSaturatingActivation',
  source: 'He et al. 2015 (Var = 2/fan_in, for ReLU) against Glorot & Bengio 2010 (tanh, sigmoid), the lecture\'s initialization tips; docs/techniques/initialization.md',
  check({ spec }) {
    const layers = spec.model.layers;
    const findings: Finding[] = [];
    layers.forEach((layer, index) => {
      if (!('kernelInitializer' in layer) || layer.kernelInitializer === undefined) return;
      const init = resolveInitializer(layer.kernelInitializer).type;
      if (init !== 'heNormal' && init !== 'heUniform') return;
      const activation = effectiveActivation(layers, index);
      if (!saturating.has(activation)) return;
      findings.push({
        path: layerPath(index, 'kernelInitializer'),
        reason:
          `${init} draws Var[w] = 2/fan_in, twice Glorot's, to make up for ReLU zeroing half its inputs; this layer's outputs go through ${activation}, which zeroes nothing, ` +
          `so the pre-activations grow and ${activation} saturates (its gradient vanishes): use glorotUniform or glorotNormal here`,
      });
    });
    return findings;
  },
};
