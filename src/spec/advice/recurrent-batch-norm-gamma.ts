import { layerPath, type AdviceRule, type Finding } from './advice.js';

const PAPER_GAMMA = 0.1;
/** More than this factor from 0.1 is far. */
const FACTOR = 3;

/** Recurrent batch norm with γ starting far from the paper's 0.1. */
export const recurrentBatchNormGamma: AdviceRule = {
  code: 'recurrentBatchNormGamma',
  source: 'Cooijmans et al. 2016 (γ initialised to 0.1: at 1 the tanh saturates and gradients vanish); docs/techniques/regularization.md',
  check({ spec }) {
    const findings: Finding[] = [];
    spec.model.layers.forEach((layer, index) => {
      if (layer.type !== 'lstm' || !layer.recurrentBatchNorm) return;
      const gamma = layer.recurrentBatchNorm.gammaInit;
      if (gamma <= PAPER_GAMMA * FACTOR && gamma >= PAPER_GAMMA / FACTOR) return;
      findings.push({
        path: layerPath(index, 'recurrentBatchNorm', 'gammaInit'),
        reason:
          gamma > PAPER_GAMMA
            ? `γ starts at ${gamma}: normalised pre-activations of that scale saturate the LSTM's tanh and sigmoid gates and the gradient through time vanishes; Cooijmans et al. start γ at 0.1`
            : `γ starts at ${gamma}: the normalised terms start ${gamma === 0 ? 'switched off' : 'almost switched off'}, so the cell barely sees its input; Cooijmans et al. start γ at 0.1`,
      });
    });
    return findings;
  },
};
