import * as tf from '@tensorflow/tfjs';

/**
 * Where the training threads meet the parameters. The strategies (sync, async, hogwild) use only
 * this interface, so a network transport for several machines can replace shared memory without
 * touching them.
 */
export interface ParameterTransport {
  /** The server writes every weight (in layout order) and bumps every shard's version. */
  publish(weights: tf.Tensor[]): Promise<void>;
  /** The server writes one shard's weights (`weights` holds them all, in layout order) and bumps its version. */
  publishShard(shard: number, weights: tf.Tensor[]): Promise<void>;
  /** A thread copies every weight into its variables; returns the version of each shard it read. */
  readInto(variables: tf.Variable[]): number[];
  /** Hogwild: w ← w − rate · g on the shared trainable weights, without locks. */
  applyInPlace(gradient: Float32Array, rate: number): void;
  /** The current version of each shard. */
  readonly versions: number[];
}

/** Offsets of every weight in the shared buffer, and of the trainable ones in a gradient. */
export interface WeightLayout {
  shapes: number[][];
  offsets: number[];
  total: number;
  /** Indices (into shapes) of the trainable weights, in gradient order. */
  trainable: number[];
  gradientOffsets: number[];
  gradientTotal: number;
  /** The parameter server's shards: positions in `trainable` (one shard unless asked). */
  shards: number[][];
}

export function weightLayout(shapes: number[][], trainable: number[], shards: number[][] = [trainable.map((_, k) => k)]): WeightLayout {
  const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);
  const offsets: number[] = [];
  let total = 0;
  for (const shape of shapes) {
    offsets.push(total);
    total += size(shape);
  }
  const gradientOffsets: number[] = [];
  let gradientTotal = 0;
  for (const index of trainable) {
    gradientOffsets.push(gradientTotal);
    gradientTotal += size(shapes[index]!);
  }
  return { shapes, offsets, total, trainable, gradientOffsets, gradientTotal, shards };
}

export interface SharedBuffers {
  weights: SharedArrayBuffer;
  version: SharedArrayBuffer;
}

export function allocateSharedBuffers(layout: WeightLayout): SharedBuffers {
  return { weights: new SharedArrayBuffer(layout.total * 4), version: new SharedArrayBuffer(4 * layout.shards.length) };
}

/**
 * Parameters in a SharedArrayBuffer, the version in an Atomics-updated counter. Gradients travel
 * back in the threads' messages (transferred, not copied): a shared slot could be overwritten by
 * the thread's next task before the server had read it.
 */
export class SharedMemoryTransport implements ParameterTransport {
  private readonly weights: Float32Array;
  private readonly versionCell: Int32Array;

  constructor(
    private readonly layout: WeightLayout,
    buffers: SharedBuffers,
  ) {
    this.weights = new Float32Array(buffers.weights);
    this.versionCell = new Int32Array(buffers.version);
  }

  get versions(): number[] {
    return this.layout.shards.map((_, shard) => Atomics.load(this.versionCell, shard));
  }

  async publish(weights: tf.Tensor[]): Promise<void> {
    const values = await Promise.all(weights.map((w) => w.data() as Promise<Float32Array>));
    values.forEach((value, i) => this.weights.set(value, this.layout.offsets[i]));
    this.layout.shards.forEach((_, shard) => Atomics.add(this.versionCell, shard, 1));
  }

  async publishShard(shard: number, weights: tf.Tensor[]): Promise<void> {
    const indices = this.layout.shards[shard]!.map((k) => this.layout.trainable[k]!);
    const values = await Promise.all(indices.map((i) => weights[i]!.data() as Promise<Float32Array>));
    values.forEach((value, j) => this.weights.set(value, this.layout.offsets[indices[j]!]));
    Atomics.add(this.versionCell, shard, 1);
  }

  readInto(variables: tf.Variable[]): number[] {
    const version = this.versions;
    variables.forEach((variable, i) => {
      const start = this.layout.offsets[i]!;
      const value = tf.tensor(this.weights.slice(start, start + variable.size), variable.shape);
      variable.assign(value);
      value.dispose();
    });
    return version;
  }

  applyInPlace(gradient: Float32Array, rate: number): void {
    this.layout.trainable.forEach((index, k) => {
      const start = this.layout.offsets[index]!;
      const from = this.layout.gradientOffsets[k]!;
      const size = this.layout.shapes[index]!.reduce((a, b) => a * b, 1);
      // Races with the other threads by design (Hogwild!): sparse-enough updates rarely collide.
      for (let i = 0; i < size; i++) this.weights[start + i]! -= rate * gradient[from + i]!;
    });
    this.layout.shards.forEach((_, shard) => Atomics.add(this.versionCell, shard, 1));
  }
}
