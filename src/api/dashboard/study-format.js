// What the study pages write of a study: its algorithm, its compute, its parameters' values, and
// where its algorithm looks at the trials (ASHA's rungs, PBT's intervals).
import { formatNumber } from './format.js';

/** "ASHA η=3, 1…9 epochs", "PBT, 8 trials, every 2 epochs", "grid", "random". */
export function algorithmText(spec) {
  const a = spec.algorithm;
  if (a.type === 'asha') return `ASHA η=${a.reductionFactor}, ${a.minEpochs}…${spec.maxEpochs} epochs${a.brackets > 1 ? `, ${a.brackets} brackets` : ''}`;
  if (a.type === 'pbt') return `PBT, ${a.population} trials, every ${a.perturbationInterval} epoch${a.perturbationInterval === 1 ? '' : 's'}`;
  return a.type;
}

/** "15 of 81 trial-epochs (19 %)": what the trials trained against training every one of them to the end. */
export function computeText(compute) {
  const share = compute.fullTrainingEpochs > 0 ? ` (${Math.round((100 * compute.trialEpochs) / compute.fullTrainingEpochs)} %)` : '';
  return `${compute.trialEpochs} of ${compute.fullTrainingEpochs} trial-epochs${share}`;
}

/** A parameter's value in a cell: numbers at 4 digits, names as they are, configs as JSON. */
export function paramText(value) {
  if (typeof value === 'number') return formatNumber(value);
  if (typeof value === 'string') return value;
  return JSON.stringify(value);
}

/** A search parameter's range: "log-uniform 1e-4 … 0.5", "one of 8, 32". */
export function rangeText(param) {
  if (param.type === 'choice') return `one of ${param.values.map(paramText).join(', ')}`;
  const kind = { uniform: 'uniform', logUniform: 'log-uniform', int: param.log ? 'integer, log-uniform' : 'integer' }[param.type];
  return `${kind} ${formatNumber(param.low)} … ${formatNumber(param.high)}`;
}

/**
 * The epochs where the algorithm judges trials, as chart markers. ASHA: the rungs minEpochs·η^k
 * below maxEpochs (a later bracket's rungs are among the first's, so these are all of them), named
 * as the stop and promotion reasons name them (rung 1 first). PBT: every perturbationInterval epochs.
 */
export function judgementEpochs(spec) {
  const a = spec.algorithm;
  const markers = [];
  if (a.type === 'asha') {
    for (let epoch = a.minEpochs, k = 1; epoch < spec.maxEpochs; epoch *= a.reductionFactor, k += 1) markers.push({ at: epoch, label: `rung ${k}` });
  } else if (a.type === 'pbt') {
    for (let epoch = a.perturbationInterval; epoch < spec.maxEpochs; epoch += a.perturbationInterval) markers.push({ at: epoch, label: '' });
  }
  return markers;
}

/** A trial's latest objective value (at a rung, an interval or the end), or null before its first. */
export const latestResult = (trial) => trial.results.at(-1) ?? null;
