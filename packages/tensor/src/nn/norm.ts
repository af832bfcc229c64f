import type { FloatDType } from '../dtype.js';
import type { Tensor } from '../tensor.js';
import { ones, zeros } from './init.js';
import { Module } from './module.js';

export interface NormOptions {
  eps?: number;
  dtype?: FloatDType;
}

/**
 * Layer normalization (Ba et al. 2016) over the last dim, as torch.nn.LayerNorm:
 * (x − mean) / sqrt(var + eps) · weight + bias, with the biased (1/n) variance.
 */
export class LayerNorm extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor;
  readonly eps: number;

  constructor(readonly dim: number, opts: NormOptions = {}) {
    super();
    const { eps = 1e-5, dtype = 'float32' } = opts;
    this.eps = eps;
    this.weight = this.param('weight', ones([dim], { dtype }));
    this.bias = this.param('bias', zeros([dim], { dtype }));
  }

  forward(x: Tensor): Tensor {
    this.checkFeatures(x, this.dim);
    const centered = x.sub(x.mean(-1, true));
    const variance = centered.square().mean(-1, true);
    return centered.div(variance.add(this.eps).sqrt()).mul(this.weight).add(this.bias);
  }
}

/**
 * T5's layer norm (Zhang & Sennrich 2019, "RMSNorm"), which the Switch Transformer inherits:
 * x / sqrt(mean(x²) + eps) · weight over the last dim. It only rescales: no mean is subtracted and
 * there is no bias. eps defaults to T5's 1e-6.
 */
export class RMSNorm extends Module {
  readonly weight: Tensor;
  readonly eps: number;

  constructor(readonly dim: number, opts: NormOptions = {}) {
    super();
    const { eps = 1e-6, dtype = 'float32' } = opts;
    this.eps = eps;
    this.weight = this.param('weight', ones([dim], { dtype }));
  }

  forward(x: Tensor): Tensor {
    this.checkFeatures(x, this.dim);
    const meanSquare = x.square().mean(-1, true);
    return x.div(meanSquare.add(this.eps).sqrt()).mul(this.weight);
  }
}
