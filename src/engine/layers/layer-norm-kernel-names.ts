/**
 * The fused layer-norm kernels' names, apart from their implementation (src/engine/backends/native-layer-norm.ts)
 * so the layer that asks for them loads without the native backend: custom-layers.ts must stay TF.js-only.
 */
export const LAYER_NORM_KERNEL = 'TrainyardLayerNorm';
export const LAYER_NORM_GRAD_KERNEL = 'TrainyardLayerNormGrad';
