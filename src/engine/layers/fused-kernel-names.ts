/**
 * The names of the fused kernels layers ask for, apart from their implementations
 * (src/engine/backends/native-*.ts) so the layers load without the native backend: custom-layers.ts
 * must stay TF.js-only. A layer uses a fused kernel where the current backend registers it, and its
 * composed TF.js ops everywhere else.
 */
export const LAYER_NORM_KERNEL = 'TrainyardLayerNorm';
export const LAYER_NORM_GRAD_KERNEL = 'TrainyardLayerNormGrad';
export const BATCH_NORM_KERNEL = 'TrainyardBatchNorm';
export const BATCH_NORM_GRAD_KERNEL = 'TrainyardBatchNormGrad';
export const ATTENTION_KERNEL = 'TrainyardAttention';
export const ATTENTION_GRAD_KERNEL = 'TrainyardAttentionGrad';
export const DENSE_GRAD_KERNEL = 'TrainyardDenseGrad';
/** The activations a fused matrix product (`_FusedMatMul` on native) applies in its epilogue and differentiates in DENSE_GRAD_KERNEL, in the addon's DenseActivation order. */
export const FUSED_DENSE_ACTIVATIONS = ['linear', 'relu', 'sigmoid'] as const;
