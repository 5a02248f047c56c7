import { isRecurrent, layerPath, type AdviceRule, type Finding } from './advice.js';

/** A dropout layer feeding a recurrent layer, with a fresh mask at every time step. */
export const plainDropoutOnSequence: AdviceRule = {
  code: 'plainDropoutOnSequence',
  source: 'Gal 2015, Gal & Ghahramani 2016 (variational RNN dropout: one mask per sequence); Zaremba et al. 2014; docs/techniques/regularization.md',
  check({ spec }) {
    const layers = spec.model.layers;
    const findings: Finding[] = [];
    layers.forEach((layer, index) => {
      const next = layers[index + 1];
      if (layer.type !== 'dropout' || layer.rate === 0 || !next || !isRecurrent(next)) return;
      // noiseShape [1, features] already shares one mask along time.
      if (layer.noiseShape?.[0] === 1) return;
      findings.push({
        path: layerPath(index),
        reason:
          `this dropout layer drops a fresh set of the ${next.type}'s inputs at every time step, which Gal & Ghahramani found to hurt recurrent nets; ` +
          `the recurrent layer places dropout itself: set model.layers[${index + 1}].dropout with dropoutMode "variational" (one mask for the whole sequence, on the inputs and the state), ` +
          'or give this layer noiseShape [1, features]',
      });
    });
    return findings;
  },
};
