import { resolveInitializer } from '../initializer-spec.js';
import { layerPath, type AdviceRule, type Finding } from './advice.js';

/** An identity recurrence (the IRNN's) with an activation other than ReLU. */
export const irnnWithoutRelu: AdviceRule = {
  code: 'irnnWithoutRelu',
  source: 'Le et al. 2015 (IRNN: ReLU, identity recurrent kernel, zero bias); docs/techniques/initialization.md',
  check({ spec }) {
    const findings: Finding[] = [];
    spec.model.layers.forEach((layer, index) => {
      if (layer.type !== 'simpleRnn' || layer.irnn || !layer.recurrentInitializer) return;
      if (resolveInitializer(layer.recurrentInitializer).type !== 'identity') return;
      const activation = layer.activation ?? 'tanh';
      if (activation === 'relu') return;
      findings.push({
        path: layerPath(index, 'activation'),
        reason:
          `an identity recurrent kernel with ${activation}${layer.activation ? '' : ' (the default)'}: the IRNN's identity start carries the state unchanged only through ReLU, ` +
          `which is the identity on positive values; ${activation} squashes the state at every step. Set irnn: true (ReLU, identity, zero bias) or activation "relu"`,
      });
    });
    return findings;
  },
};
