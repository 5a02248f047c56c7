import type { InitializerRef } from '../spec/initializer-spec.js';
import type { Activation } from './fields.js';
import type { BuildContext } from './layer-definition.js';

interface KernelLayerFields {
  activation: Activation;
  useBias: boolean;
  kernelInitializer?: InitializerRef | undefined;
  biasInitializer?: InitializerRef | undefined;
}

/**
 * The TF.js arguments a layer with a kernel and a bias shares: seeded Glorot kernels and zero
 * biases by default. A spec initializer's values are drawn again by src/engine/initializers.ts;
 * naming it here makes the exported config say which it was.
 */
export function kernelLayerArgs(layer: KernelLayerFields, { tf, kit, seeds, activation }: BuildContext) {
  return {
    activation: activation ?? layer.activation,
    useBias: layer.useBias,
    kernelInitializer: layer.kernelInitializer ? kit.namedInitializer(layer.kernelInitializer) : tf.initializers.glorotUniform({ seed: seeds.weight }),
    biasInitializer: layer.biasInitializer ? kit.namedInitializer(layer.biasInitializer) : tf.initializers.zeros(),
  };
}
