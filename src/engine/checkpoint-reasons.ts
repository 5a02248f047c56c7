/** Why a checkpoint was written. Apart from checkpoint-data so the API's schemas need no TF.js. */
export const checkpointReasons = ['epoch', 'final', 'pause', 'shutdown', 'timeout'] as const;
export type CheckpointReason = (typeof checkpointReasons)[number];
