import type { SampleBlock } from '../engine/mc-dropout.js';

/**
 * What T stochastic passes per input say about the model's uncertainty (Gal & Ghahramani 2016;
 * Gal 2016, §3.3), in float64 whatever the backend computed in:
 *
 * - classification, p_t the class probabilities of pass t and p̄ = (1/T) Σ p_t:
 *   predictive entropy H[p̄] = −Σ_k p̄_k ln p̄_k, expected entropy E[H] = (1/T) Σ_t H[p_t], and their
 *   difference, the mutual information between the prediction and the weights (≥ 0 by Jensen),
 *   which is high only where the passes disagree (model, not data, uncertainty). In nats.
 * - regression: the mean ȳ and the predictive variance (1/T) Σ_t (y_t − ȳ)² per output value
 *   (the model-uncertainty part; Gal's τ⁻¹ observation noise is not known to the service).
 *
 * Outputs of rank above one per row (a class per time step) get one value per position.
 */

export interface ClassUncertainty {
  /** p̄, with one sigmoid unit expanded to [1 − p, p]; per position for sequence outputs. */
  probabilities: number[] | number[][];
  predictiveEntropy: number | number[];
  expectedEntropy: number | number[];
  mutualInformation: number | number[];
}

export interface ValueUncertainty {
  values: number[] | number[][];
  variance: number[] | number[][];
}

const entropyOf = (p: Float64Array | Float32Array | number[], offset: number, k: number): number => {
  let h = 0;
  for (let c = 0; c < k; c++) {
    const v = p[offset + c]!;
    if (v > 0) h -= v * Math.log(v);
  }
  return h;
};

/** The per-row output shape as [positions, classes]: [K] is one position, [S, K] is S. */
function split(outputShape: number[]): { positions: number; width: number } {
  const width = outputShape.at(-1) ?? 1;
  const positions = outputShape.slice(0, -1).reduce((a, b) => a * b, 1);
  return { positions, width };
}

/** Accumulates the class probabilities of T passes per input, block by block. */
export class ClassificationUncertainty {
  private readonly positions: number;
  /** Output units per position: 1 for one sigmoid unit. */
  private readonly width: number;
  /** Classes per position (a sigmoid unit is two). */
  private readonly classes: number;
  private readonly sumP: Float64Array;
  private readonly sumH: Float64Array;
  /** One pass's probabilities at one position (scratch). */
  private readonly probabilities: Float64Array;

  constructor(
    inputs: number,
    private readonly samples: number,
    outputShape: number[],
  ) {
    ({ positions: this.positions, width: this.width } = split(outputShape));
    this.classes = this.width === 1 ? 2 : this.width;
    this.sumP = new Float64Array(inputs * this.positions * this.classes);
    this.sumH = new Float64Array(inputs * this.positions);
    this.probabilities = new Float64Array(this.classes);
  }

  /** A block of probabilities (after the link), rows in input-major order. */
  add(block: SampleBlock): void {
    const { positions, width, classes, probabilities: p } = this;
    const rowSize = positions * width;
    for (let r = 0; r < block.rows; r++) {
      const input = Math.floor((block.firstRow + r) / this.samples);
      for (let pos = 0; pos < positions; pos++) {
        const at = r * rowSize + pos * width;
        if (width === 1) {
          const s = block.values[at]!;
          p[0] = 1 - s;
          p[1] = s;
        } else {
          for (let c = 0; c < width; c++) p[c] = block.values[at + c]!;
        }
        const cell = input * positions + pos;
        for (let c = 0; c < classes; c++) this.sumP[cell * classes + c]! += p[c]!;
        this.sumH[cell]! += entropyOf(p, 0, classes);
      }
    }
  }

  result(input: number): ClassUncertainty {
    const { positions, classes, samples } = this;
    const mean: number[][] = [];
    const predictive: number[] = [];
    const expected: number[] = [];
    const mutual: number[] = [];
    for (let pos = 0; pos < positions; pos++) {
      const cell = input * positions + pos;
      const pBar = Array.from(this.sumP.subarray(cell * classes, (cell + 1) * classes), (v) => v / samples);
      const h = entropyOf(pBar, 0, classes);
      const eh = this.sumH[cell]! / samples;
      mean.push(pBar);
      predictive.push(h);
      expected.push(eh);
      // Rounding can put E[H] a hair above H[p̄] when every pass agrees.
      mutual.push(Math.max(0, h - eh));
    }
    return positions === 1
      ? { probabilities: mean[0]!, predictiveEntropy: predictive[0]!, expectedEntropy: expected[0]!, mutualInformation: mutual[0]! }
      : { probabilities: mean, predictiveEntropy: predictive, expectedEntropy: expected, mutualInformation: mutual };
  }
}

/** Accumulates the mean and variance of T passes per input (Welford's update: no cancellation). */
export class RegressionUncertainty {
  private readonly size: number;
  private readonly count: Int32Array;
  private readonly mean: Float64Array;
  private readonly m2: Float64Array;

  constructor(
    inputs: number,
    private readonly samples: number,
    private readonly outputShape: number[],
  ) {
    this.size = outputShape.reduce((a, b) => a * b, 1);
    this.count = new Int32Array(inputs);
    this.mean = new Float64Array(inputs * this.size);
    this.m2 = new Float64Array(inputs * this.size);
  }

  add(block: SampleBlock): void {
    const size = this.size;
    for (let r = 0; r < block.rows; r++) {
      const input = Math.floor((block.firstRow + r) / this.samples);
      const n = ++this.count[input]!;
      for (let j = 0; j < size; j++) {
        const at = input * size + j;
        const y = block.values[r * size + j]!;
        const delta = y - this.mean[at]!;
        this.mean[at]! += delta / n;
        this.m2[at]! += delta * (y - this.mean[at]!);
      }
    }
  }

  result(input: number): ValueUncertainty {
    const n = Math.max(1, this.count[input]!);
    const from = input * this.size;
    const mean = Array.from(this.mean.subarray(from, from + this.size));
    const variance = Array.from(this.m2.subarray(from, from + this.size), (v) => v / n);
    return { values: nest(mean, this.outputShape), variance: nest(variance, this.outputShape) };
  }
}

/** A flat row as the output's shape: [P] stays flat, [S, P] becomes S rows of P. */
function nest(flat: number[], shape: number[]): number[] | number[][] {
  if (shape.length <= 1) return flat;
  const width = shape.at(-1)!;
  return Array.from({ length: flat.length / width }, (_, i) => flat.slice(i * width, (i + 1) * width));
}
