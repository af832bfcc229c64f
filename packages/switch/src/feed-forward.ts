import { dropout, matmul, type Rng, type Tensor } from '@switch-ts/tensor';

export type Activation = 'relu' | 'gelu';
export const activations: readonly Activation[] = ['relu', 'gelu'];

export interface FeedForwardOptions {
  activation?: Activation;
  /** Dropout on the hidden activations (Switch §2.4, "expert dropout"); needs `rng` when > 0. */
  dropout?: number;
  rng?: Rng;
}

/**
 * The T5 feed-forward block without biases: FFN(x) = act(x·W_i)·W_o. Batch dims broadcast, so the
 * same function is one dense FFN ([T, dModel] with W_i [dModel, dFF]) or every expert at once
 * ([E, n, dModel] with W_i [E, dModel, dFF]: one batched matmul per weight).
 */
export function feedForward(x: Tensor, wi: Tensor, wo: Tensor, opts: FeedForwardOptions = {}): Tensor {
  const { activation = 'relu', dropout: rate = 0, rng } = opts;
  const pre = matmul(x, wi);
  let hidden = activation === 'gelu' ? pre.gelu() : pre.relu();
  if (rate > 0) {
    if (!rng) throw new Error('feedForward: dropout > 0 needs an Rng (opts.rng)');
    hidden = dropout(hidden, rate, rng);
  }
  return matmul(hidden, wo);
}
