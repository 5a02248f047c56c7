import { resolveInitializer, type InitializerConfig } from '../initializer-spec.js';
import { inferShapes } from '../layer-shapes.js';
import type { LayerSpec } from '../layer-spec.js';
import { effectiveActivation, layerPath, num, type AdviceRule } from './advice.js';

/** This many ReLU layers or more make a deep stack. */
export const DEEP_RELU_LAYERS = 5;
/** The expected variance at the last layer, as a multiple of the first's, outside [1/4, 4] has drifted. */
const DRIFT = 4;

type KernelLayer = Extract<LayerSpec, { type: 'dense' | 'conv2d' }>;

/** E[w²] of an initializer for a kernel with these fans (Keras's fan_in and fan_out). */
export function secondMoment(init: InitializerConfig, fanIn: number, fanOut: number): number {
  switch (init.type) {
    case 'uniform':
      return (init.limit * init.limit) / 3;
    case 'normal':
      return init.stddev * init.stddev + init.mean * init.mean;
    case 'zeros':
      return 0;
    case 'constant':
      return init.value * init.value;
    case 'glorotUniform':
    case 'glorotNormal':
      return 2 / (fanIn + fanOut);
    case 'heNormal':
    case 'heUniform':
      return 2 / fanIn;
    case 'orthogonal':
      return (init.gain * init.gain) / Math.max(fanIn, fanOut);
    case 'identity':
      return (init.gain * init.gain) / fanIn;
  }
}

/**
 * Var[y_L] / Var[y_1] through a stack of ReLU layers (He et al. 2015, eq. 9): each layer after the
 * first multiplies it by ½ · fan_in · E[w²]. The first ReLU layer's input, the last ReLU layer's
 * successor (the output layer) included. Pooling, flatten and dropout are taken as variance-preserving.
 */
export function reluStackVariance(layers: LayerSpec[], inputShape: number[]): { reluLayers: number[]; ratio: number; factors: { index: number; factor: number }[] } | null {
  if (layers.some((layer) => layer.type === 'batchNormalization' || layer.type === 'layerNormalization')) return null;
  const shapes = inferShapes(inputShape, layers);
  if ('message' in shapes) return null;
  const inputs = [inputShape, ...shapes.shapes];
  const reluLayers: number[] = [];
  const factors: { index: number; factor: number }[] = [];
  let afterRelu = false;
  layers.forEach((layer, index) => {
    if (layer.type !== 'dense' && layer.type !== 'conv2d') {
      // Anything else with weights breaks the chain.
      if (layer.type !== 'activation' && layer.type !== 'dropout' && layer.type !== 'flatten' && layer.type !== 'maxPool2d' && layer.type !== 'avgPool2d' && layer.type !== 'reshape') afterRelu = false;
      return;
    }
    const { fanIn, fanOut } = fans(layer, inputs[index]!);
    if (afterRelu) factors.push({ index, factor: 0.5 * fanIn * secondMoment(resolveInitializer(layer.kernelInitializer ?? 'glorotUniform'), fanIn, fanOut) });
    afterRelu = effectiveActivation(layers, index) === 'relu';
    if (afterRelu) reluLayers.push(index);
  });
  return { reluLayers, ratio: factors.reduce((product, { factor }) => product * factor, 1), factors };
}

function fans(layer: KernelLayer, input: number[]): { fanIn: number; fanOut: number } {
  const channels = input.at(-1)!;
  if (layer.type === 'dense') return { fanIn: channels, fanOut: layer.units };
  const [kh, kw] = typeof layer.kernelSize === 'number' ? [layer.kernelSize, layer.kernelSize] : layer.kernelSize;
  return { fanIn: kh * kw * channels, fanOut: kh * kw * layer.filters };
}

/** Glorot or a small uniform on a deep ReLU stack: the signal's variance shrinks (or grows) layer by layer. */
export const deepReluVariance: AdviceRule = {
  code: 'deepReluVariance',
  source: 'He et al. 2015 (Var[y_L] = Var[y_1] · Π ½ fan_in Var[w]; heNormal keeps it at 1), the lecture\'s initialization tips; docs/techniques/initialization.md',
  check({ spec, info }) {
    const layers = spec.model.layers;
    const stack = reluStackVariance(layers, info.inputShape ?? [info.featureSize]);
    if (!stack || stack.reluLayers.length < DEEP_RELU_LAYERS || (stack.ratio >= 1 / DRIFT && stack.ratio <= DRIFT)) return [];
    const culprit = stack.reluLayers.find((index) => {
      const ref = (layers[index] as KernelLayer).kernelInitializer ?? 'glorotUniform';
      const type = resolveInitializer(ref).type;
      return type === 'glorotUniform' || type === 'glorotNormal' || type === 'uniform' || type === 'normal';
    });
    if (culprit === undefined) return [];
    const ref = (layers[culprit] as KernelLayer).kernelInitializer;
    const config = ref === undefined ? null : resolveInitializer(ref);
    const name = !config ? 'glorotUniform (the default)' : config.type === 'uniform' ? `uniform ±${config.limit}` : config.type === 'normal' ? `normal (σ = ${config.stddev})` : config.type;
    const perLayer = stack.factors.map(({ factor }) => num(factor)).join(', ');
    return [
      {
        path: layerPath(culprit, 'kernelInitializer'),
        reason:
          `${stack.reluLayers.length} ReLU layers initialised with ${name}: the expected variance at the last layer is ${stack.ratio.toPrecision(2)}× the first's ` +
          `(each layer multiplies it by ½ · fan_in · Var[w]: ${perLayer}), so the signal and its gradients ${stack.ratio < 1 ? 'vanish' : 'explode'} with depth; ` +
          'heNormal (Var = 2/fan_in) keeps the ratio at 1 (diagnostics.activationVariance measures it at step 0)',
      },
    ];
  },
};
