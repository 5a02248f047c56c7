/**
 * The fused batch-norm kernels' names, apart from their implementation (src/engine/backends/native-batch-norm.ts)
 * so the layer that asks for them loads without the native backend.
 */
export const BATCH_NORM_KERNEL = 'TrainyardBatchNorm';
export const BATCH_NORM_GRAD_KERNEL = 'TrainyardBatchNormGrad';
