import * as tf from '@tensorflow/tfjs';
import type { AttentionWeights } from './multi-head-attention.js';
import { TransformerBlock, type FeedForward, type Norm, type TransformerBlockArgs } from './transformer-encoder-block.js';

export type TransformerDecoderBlockArgs = TransformerBlockArgs;

/**
 * Causal self-attention over the target, cross-attention from the target to the encoder's output
 * (memory), and a feed-forward network, each in a residual branch with layer norm: equal to
 * torch.nn.TransformerDecoderLayer(d, numHeads, ffDim, dropout, activation, layer_norm_eps,
 * batch_first=True, norm_first) called with a causal tgt_mask and no memory mask, given the same
 * weights. apply([target [B, T, d], memory [B, S, dm]]) → [B, T, d].
 */
export class TransformerDecoderBlock extends TransformerBlock {
  static readonly className = 'TrainyardTransformerDecoderBlock';
  private parts: {
    selfAttention: AttentionWeights;
    selfAttentionNorm: Norm;
    crossAttention: AttentionWeights;
    crossAttentionNorm: Norm;
    feedForward: FeedForward;
    feedForwardNorm: Norm;
  } | null = null;
  // PyTorch's dropout sites, in its order: self_attn's probabilities, dropout1, multihead_attn's
  // probabilities, dropout2, the feed-forward's, dropout3.
  private readonly sites;

  constructor(args: TransformerDecoderBlockArgs) {
    super(args);
    this.sites = {
      selfProbabilities: this.dropoutSite(),
      selfAttention: this.dropoutSite(),
      crossProbabilities: this.dropoutSite(),
      crossAttention: this.dropoutSite(),
      hidden: this.dropoutSite(),
      feedForward: this.dropoutSite(),
    };
  }

  override build(inputShape: tf.Shape | tf.Shape[]): void {
    if (!Array.isArray(inputShape[0]) || inputShape.length !== 2) throw new Error(`${this.name} is called on [target, memory]`);
    const [target, memory] = inputShape as [tf.Shape, tf.Shape];
    const d = this.modelDim(target, `${this.name}'s target`);
    const memoryDim = this.modelDim(memory, `${this.name}'s memory`);
    this.parts = {
      selfAttention: this.addAttention('self_attention', d, d),
      selfAttentionNorm: this.addNorm('self_attention_norm', d),
      crossAttention: this.addAttention('cross_attention', d, memoryDim),
      crossAttentionNorm: this.addNorm('cross_attention_norm', d),
      feedForward: this.addFeedForward(d),
      feedForwardNorm: this.addNorm('feedforward_norm', d),
    };
    this.built = true;
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: { training?: boolean }): tf.Tensor {
    return tf.tidy(() => {
      if (!Array.isArray(inputs) || inputs.length !== 2) throw new Error(`${this.name} is called on [target, memory]`);
      const [target, memory] = inputs as [tf.Tensor, tf.Tensor];
      const training = kwargs.training === true;
      const w = this.parts!;
      const s = this.sites;
      let x = this.residual(target, w.selfAttentionNorm, s.selfAttention, training, (h) => this.attend(h, h, w.selfAttention, true, s.selfProbabilities, training));
      x = this.residual(x, w.crossAttentionNorm, s.crossAttention, training, (h) => this.attend(h, memory, w.crossAttention, false, s.crossProbabilities, training));
      return this.residual(x, w.feedForwardNorm, s.feedForward, training, (h) => this.feedForward(h, w.feedForward, s.hidden, training));
    });
  }
}
tf.serialization.registerClass(TransformerDecoderBlock);
