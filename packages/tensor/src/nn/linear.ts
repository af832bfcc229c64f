import type { FloatDType } from '../dtype.js';
import type { Rng } from '../random.js';
import type { Tensor } from '../tensor.js';
import { truncatedNormal, zeros } from './init.js';
import { Module } from './module.js';

export interface LinearOptions {
  rng: Rng;
  /** Whether to add a bias (default true). */
  bias?: boolean;
  dtype?: FloatDType;
  /** The `scale` of the truncated normal init (default 1; the Switch Transformer uses 0.1). */
  initScale?: number;
}

/**
 * y = x·W + b, for x of shape [..., inFeatures]. W is stored [inFeatures, outFeatures], the
 * transpose of torch.nn.Linear's weight, so that forward is one matmul with no transpose (as in
 * Mesh TensorFlow and flax). W starts from init.truncatedNormal with fanIn = inFeatures, b at 0.
 */
export class Linear extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;

  constructor(readonly inFeatures: number, readonly outFeatures: number, opts: LinearOptions) {
    super();
    const { rng, bias = true, dtype = 'float32', initScale = 1 } = opts;
    const shape = [inFeatures, outFeatures];
    this.weight = this.param('weight', truncatedNormal(shape, { scale: initScale, fanIn: inFeatures, rng, dtype }));
    this.bias = bias ? this.param('bias', zeros([outFeatures], { dtype })) : null;
  }

  forward(x: Tensor): Tensor {
    this.checkFeatures(x, this.inFeatures);
    const y = x.matmul(this.weight);
    return this.bias ? y.add(this.bias) : y;
  }
}
