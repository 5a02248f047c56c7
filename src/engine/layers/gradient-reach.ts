import * as tf from '@tensorflow/tfjs';

/**
 * Whether backpropagation will ask for the gradient of `x`, for gradients that compute all their
 * inputs' in one kernel: the first dense layer's input is the data batch, whose gradient training
 * never asks for, and computing it anyway was about a sixth of an MLP step. Called from a gradient
 * function while the engine backpropagates through its tape. Inside variableGradients (a training
 * step) only variables are differentiated, so `x` needs a gradient exactly where the tape connects it
 * to a variable, as TF.js's own pruning decides (getFilteredNodesXToY, here from every variable rather
 * than only the ones differentiated: never false where it is needed). Anywhere else (tf.grad of an
 * input, higher-order gradients, a tape this cannot read) the answer is yes.
 */

interface TapeNode {
  inputs: Record<string, tf.Tensor>;
  outputs: tf.Tensor[];
}

interface EngineState {
  activeTape?: unknown;
  gradientDepth?: number;
}

// Per tape (one per gradients() call, never changed during its backward pass): the data of the tensors
// a variable reaches. Data, not tensor ids: a gradient function gets clones of its inputs.
const reachedByTape = new WeakMap<object, ReadonlySet<object>>();

function reached(tape: readonly TapeNode[]): ReadonlySet<object> {
  const data = new Set<object>();
  for (const node of tape) {
    let fromVariable = false;
    for (const input of Object.values(node.inputs)) {
      if (input instanceof tf.Variable) data.add(input.dataId);
      fromVariable ||= data.has(input.dataId);
    }
    if (fromVariable) for (const output of node.outputs) data.add(output.dataId);
  }
  return data;
}

// How many variableGradients calls are under way (a training step's loss may itself run one).
let variableGradientCalls = 0;

/** tf.variableGrads, letting the gradients inside skip what only a tensor no variable reaches would need. */
export function variableGradients(f: () => tf.Scalar, variables: tf.Variable[]): ReturnType<typeof tf.variableGrads> {
  variableGradientCalls += 1;
  try {
    return tf.variableGrads(f, variables);
  } finally {
    variableGradientCalls -= 1;
  }
}

export function gradientNeeded(x: tf.Tensor): boolean {
  const state = tf.engine().state as unknown as EngineState;
  const tape = state.activeTape;
  if (variableGradientCalls === 0 || state.gradientDepth !== 0 || !Array.isArray(tape)) return true;
  let data = reachedByTape.get(tape);
  if (data === undefined) {
    data = reached(tape as TapeNode[]);
    reachedByTape.set(tape, data);
  }
  return data.has(x.dataId);
}
