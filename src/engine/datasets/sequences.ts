import { Mulberry32 } from '../random.js';
import type { Dataset } from './dataset.js';
import { gaussian } from './synthetic.js';

/**
 * Seeded sequence tasks, each a classic check of recurrent models: the adding problem and the copy
 * task need memory over many steps (IRNN, LSTM, recurrent dropout); sine forecasting is smooth
 * regression over time. The same parameters always give the same rows.
 */

/**
 * Adding problem (Hochreiter & Schmidhuber 1997; Le et al. 2015): each step is [value, marker]
 * with value ~ U(0, 1); exactly two markers are 1, one in each half; the target is the sum of the
 * two marked values. Predicting 1 always gives MSE ≈ 0.167, the baseline to beat.
 */
export function addingProblem(rows: number, length: number, seed: number): Dataset {
  const rng = new Mulberry32(seed);
  const features = new Float32Array(rows * length * 2);
  const values = new Float32Array(rows);
  const half = Math.floor(length / 2);
  for (let r = 0; r < rows; r++) {
    const first = Math.floor(rng.next() * half);
    const second = half + Math.floor(rng.next() * (length - half));
    let sum = 0;
    for (let t = 0; t < length; t++) {
      const value = rng.next();
      const offset = (r * length + t) * 2;
      features[offset] = value;
      if (t === first || t === second) {
        features[offset + 1] = 1;
        sum += value;
      }
    }
    values[r] = sum;
  }
  return { name: 'adding', features, featureSize: length * 2, inputShape: [length, 2], rows, target: { kind: 'values', values, shape: [1] } };
}

/**
 * Copy task (Hochreiter & Schmidhuber 1997; Arjovsky et al. 2016): `length` symbols from 1..symbols,
 * then `delay` − 1 blanks (0), a delimiter (symbols + 1), then `length` blanks; the target is blank
 * for `length` + `delay` steps, then the symbols in order. Tokens are one-hot vectors, or integer
 * ids for an embedding layer. Always answering blank scores length / (2·length + delay) wrong.
 */
export function copyTask(rows: number, symbols: number, length: number, delay: number, inputs: 'oneHot' | 'tokens', seed: number): Dataset {
  const rng = new Mulberry32(seed);
  const steps = 2 * length + delay;
  const vocabulary = symbols + 2;
  const width = inputs === 'oneHot' ? vocabulary : 1;
  const features = new Float32Array(rows * steps * width);
  const labels = new Int32Array(rows * steps);
  for (let r = 0; r < rows; r++) {
    const tokens = new Int32Array(steps);
    for (let i = 0; i < length; i++) {
      const symbol = 1 + Math.floor(rng.next() * symbols);
      tokens[i] = symbol;
      labels[r * steps + length + delay + i] = symbol;
    }
    tokens[length + delay - 1] = symbols + 1;
    for (let t = 0; t < steps; t++) {
      if (inputs === 'oneHot') features[(r * steps + t) * width + tokens[t]!] = 1;
      else features[r * steps + t] = tokens[t]!;
    }
  }
  return {
    name: 'copy',
    features,
    featureSize: steps * width,
    inputShape: inputs === 'oneHot' ? [steps, vocabulary] : [steps],
    rows,
    target: { kind: 'classes', labels, classes: symbols + 1, steps },
  };
}

/**
 * Sine forecasting: each row is A·sin(ω t + φ) for t < length, plus N(0, noise²), with A ~ U(0.5, 1.5),
 * ω ~ U(0.1, 0.5) rad per step and φ ~ U(0, 2π) drawn per row; the target is the next `horizon`
 * clean values.
 */
export function sineForecast(rows: number, length: number, horizon: number, noise: number, seed: number): Dataset {
  const rng = new Mulberry32(seed);
  const normal = gaussian(rng);
  const features = new Float32Array(rows * length);
  const values = new Float32Array(rows * horizon);
  for (let r = 0; r < rows; r++) {
    const amplitude = 0.5 + rng.next();
    const omega = 0.1 + 0.4 * rng.next();
    const phase = 2 * Math.PI * rng.next();
    for (let t = 0; t < length; t++) features[r * length + t] = amplitude * Math.sin(omega * t + phase) + noise * normal();
    for (let h = 0; h < horizon; h++) values[r * horizon + h] = amplitude * Math.sin(omega * (length + h) + phase);
  }
  return { name: 'sine', features, featureSize: length, inputShape: [length, 1], rows, target: { kind: 'values', values, shape: [horizon] } };
}

/**
 * Linear regression with known coefficients: x ~ N(0, 1) per feature, y = x·w + b + N(0, noise²).
 * A linear model trained to convergence must recover w and b (optimizer checks).
 */
export function linearRegression(rows: number, coefficients: number[], intercept: number, noise: number, seed: number): Dataset {
  const rng = new Mulberry32(seed);
  const normal = gaussian(rng);
  const size = coefficients.length;
  const features = new Float32Array(rows * size);
  const values = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    let y = intercept;
    for (let f = 0; f < size; f++) {
      const x = normal();
      features[r * size + f] = x;
      y += x * coefficients[f]!;
    }
    values[r] = y + noise * normal();
  }
  return { name: 'regression', features, featureSize: size, rows, target: { kind: 'values', values, shape: [1] } };
}

export type Seq2seqTask = 'copy' | 'reverse' | 'sort';
export type Seq2seqView = 'pairs' | 'source' | 'target';

/** The token that starts a decoder's input: after the symbols 1 … symbols (0 is padding). */
export const startToken = (symbols: number) => symbols + 1;

/** The target sequence a seq2seq task asks for, given its source. */
export function seq2seqTarget(task: Seq2seqTask, source: ArrayLike<number>): number[] {
  const tokens = Array.from(source);
  if (task === 'reverse') return tokens.reverse();
  if (task === 'sort') return tokens.sort((a, b) => a - b);
  return tokens;
}

/**
 * Sequence-to-sequence tasks (Sutskever et al. 2014): a source of `length` symbols from 1 … symbols
 * and its copy, reversal or sorted order as the target. The `pairs` view trains an encoder–decoder
 * with teacher forcing: each row is the source followed by the decoder's input (the start token, then
 * the target shifted right by one), and the labels are the target. The `source` and `target` views
 * are language-model sets over one side (input: start token then the sequence shifted right; labels:
 * the sequence), for pretraining an encoder and a decoder (Ramachandran et al. 2017). The rows of
 * every view come from the same draws, so one seed gives the same sources in all three.
 */
export function seq2seqTask(rows: number, task: Seq2seqTask, symbols: number, length: number, view: Seq2seqView, seed: number): Dataset {
  const rng = new Mulberry32(seed);
  const steps = view === 'pairs' ? 2 * length : length;
  const features = new Float32Array(rows * steps);
  const labels = new Int32Array(rows * length);
  const source = new Int32Array(length);
  for (let r = 0; r < rows; r++) {
    for (let i = 0; i < length; i++) source[i] = 1 + Math.floor(rng.next() * symbols);
    const target = seq2seqTarget(task, source);
    const predicted = view === 'source' ? Array.from(source) : target;
    const row = features.subarray(r * steps, (r + 1) * steps);
    if (view === 'pairs') row.set(source);
    const shifted = view === 'pairs' ? row.subarray(length) : row;
    shifted[0] = startToken(symbols);
    shifted.set(predicted.slice(0, length - 1), 1);
    labels.set(predicted, r * length);
  }
  return {
    name: `seq2seq-${task}-${view}`,
    features,
    featureSize: steps,
    inputShape: [steps],
    rows,
    target: { kind: 'classes', labels, classes: symbols + 1, steps: length },
  };
}
