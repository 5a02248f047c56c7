import * as tf from '@tensorflow/tfjs';
import type { OptimizerState, TrainingOptimizer } from '../optimizers/training-optimizer.js';

/**
 * The parameter server's shards (Dean et al. 2012): the trainable weights split into contiguous
 * groups of about equal size, each with its own optimizer and version, so a gradient can be
 * applied to the shards it is fresh for and rejected by the others. The state of shard i is kept
 * under slot names `s<i>/<slot>`, with its step count as the one-value slot `s<i>/step`, so a
 * checkpoint holds every shard.
 */
export class ShardedOptimizer {
  private readonly optimizers: TrainingOptimizer[];

  constructor(
    make: () => TrainingOptimizer,
    /** Variable indices of each shard. */
    readonly shards: number[][],
  ) {
    this.optimizers = shards.map(() => make());
  }

  /** Splits `sizes` (one per variable) into `count` contiguous shards of about equal total size. */
  static partition(sizes: number[], count: number): number[][] {
    const total = sizes.reduce((a, b) => a + b, 0);
    const shards: number[][] = [[]];
    let filled = 0;
    sizes.forEach((size, index) => {
      if (shards.length < count && shards.at(-1)!.length > 0 && filled >= (total * shards.length) / count) shards.push([]);
      shards.at(-1)!.push(index);
      filled += size;
    });
    return shards;
  }

  apply(variables: tf.Variable[], gradients: tf.Tensor[], lr: number): void {
    this.shards.forEach((_, shard) => this.applyShard(shard, variables, gradients, lr));
  }

  applyShard(shard: number, variables: tf.Variable[], gradients: tf.Tensor[], lr: number): void {
    const indices = this.shards[shard]!;
    this.optimizers[shard]!.apply(
      indices.map((i) => variables[i]!),
      indices.map((i) => gradients[i]!),
      lr,
    );
  }

  getState(): OptimizerState {
    const slots: Record<string, tf.Tensor[]> = {};
    this.optimizers.forEach((optimizer, shard) => {
      const state = optimizer.getState();
      for (const [name, values] of Object.entries(state.slots)) slots[`s${shard}/${name}`] = values;
      slots[`s${shard}/step`] = [tf.scalar(state.step)];
    });
    return { step: Math.max(...this.optimizers.map((o) => o.step)), slots };
  }

  setState(state: OptimizerState): void {
    this.optimizers.forEach((optimizer, shard) => {
      const prefix = `s${shard}/`;
      const slots: Record<string, tf.Tensor[]> = {};
      let step = 0;
      for (const [name, values] of Object.entries(state.slots)) {
        if (!name.startsWith(prefix)) continue;
        if (name === `${prefix}step`) step = values[0]!.dataSync()[0]!;
        else slots[name.slice(prefix.length)] = values;
      }
      optimizer.setState({ step, slots });
    });
  }

  dispose(): void {
    for (const optimizer of this.optimizers) optimizer.dispose();
  }
}
