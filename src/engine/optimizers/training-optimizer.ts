import * as tf from '@tensorflow/tfjs';

/**
 * The optimizer state a checkpoint needs to continue bit-for-bit: the step count (for bias
 * correction) and every per-variable slot (moments, accumulators), in variable order.
 */
export interface OptimizerState {
  step: number;
  slots: Record<string, tf.Tensor[]>;
}

/**
 * Base of the product's optimizers. Each subclass is the catalogue's update rule written in TF.js
 * ops (docs/techniques/optimization.md, in torch.optim's form), so the state is ours to save and restore; the
 * TF.js optimizers neither match every formula nor expose their state uniformly.
 */
export abstract class TrainingOptimizer {
  private stepCount = 0;
  private readonly slotVariables = new Map<string, tf.Variable[]>();

  /** λ of torch.optim's coupled weight_decay: every rule sees g + λ θ instead of g. */
  constructor(private readonly weightDecay = 0) {}

  /** One update of `variables` with `gradients` (same order) at learning rate `lr`. */
  apply(variables: tf.Variable[], gradients: tf.Tensor[], lr: number): void {
    if (variables.length !== gradients.length) {
      throw new Error(`optimizer got ${gradients.length} gradients for ${variables.length} variables`);
    }
    this.stepCount += 1;
    tf.tidy(() => {
      const decayed = this.weightDecay > 0 ? gradients.map((g, i) => tf.add(g, tf.mul(this.weightDecay, variables[i]!))) : gradients;
      this.update(variables, decayed, lr, this.stepCount);
    });
  }

  /** The 1-based step of the last update (0 before the first). */
  get step(): number {
    return this.stepCount;
  }

  protected abstract update(variables: tf.Variable[], gradients: tf.Tensor[], lr: number, t: number): void;

  /** Per-variable state named `name`, created on first use filled with `initial`. */
  protected slot(name: string, variables: tf.Variable[], initial = 0): tf.Variable[] {
    let slot = this.slotVariables.get(name);
    if (!slot) {
      slot = variables.map((variable) => tf.variable(tf.fill(variable.shape, initial), false));
      this.slotVariables.set(name, slot);
    }
    return slot;
  }

  /** Copies, so the caller owns them and later updates do not change them. */
  getState(): OptimizerState {
    const slots: Record<string, tf.Tensor[]> = {};
    for (const [name, values] of this.slotVariables) slots[name] = values.map((value) => value.clone());
    return { step: this.stepCount, slots };
  }

  setState(state: OptimizerState): void {
    this.disposeSlots();
    this.stepCount = state.step;
    for (const [name, values] of Object.entries(state.slots)) {
      // tidy frees the copies' handles; the variables keep their data.
      this.slotVariables.set(
        name,
        tf.tidy(() => values.map((value) => tf.variable(value.clone(), false))),
      );
    }
  }

  dispose(): void {
    this.disposeSlots();
  }

  private disposeSlots(): void {
    for (const values of this.slotVariables.values()) tf.dispose(values);
    this.slotVariables.clear();
  }
}
