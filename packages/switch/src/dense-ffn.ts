import { Module, Rng, init, type Tensor } from '@switch-ts/tensor';
import { fmt, requireFloatDType, requireInteger, requireTensor, type FloatDType } from './checks.js';
import { activations, feedForward, type Activation } from './feed-forward.js';

export interface DenseFFNOptions {
  dModel: number;
  dFF: number;
  activation?: Activation;
  dropout?: number;
  initScale?: number;
  dtype?: FloatDType;
  seed?: number;
}

/**
 * The dense baseline: one T5 FFN act(x·W_i)·W_o with no biases — the same per-token FLOPs as one
 * expert, so that a Switch layer with any number of experts can be compared against it.
 */
export class DenseFFN extends Module {
  readonly wi: Tensor;
  readonly wo: Tensor;
  readonly activation: Activation;
  readonly dropout: number;
  private readonly rng: Rng;

  constructor(opts: DenseFFNOptions) {
    super();
    const { dModel, dFF, activation = 'relu', dropout = 0, initScale = 0.1, dtype = 'float32', seed = 0 } = opts;
    requireInteger('DenseFFN', 'dModel', dModel, 1);
    requireInteger('DenseFFN', 'dFF', dFF, 1);
    if (!activations.includes(activation)) throw new Error(`DenseFFN: activation must be one of ${activations.join(', ')}, got '${activation}'`);
    if (!(dropout >= 0 && dropout < 1)) throw new Error(`DenseFFN: dropout must be in [0, 1), got ${dropout}`);
    if (!(initScale > 0)) throw new Error(`DenseFFN: initScale must be > 0, got ${initScale}`);
    requireFloatDType('DenseFFN', 'dtype', dtype);
    this.activation = activation;
    this.dropout = dropout;
    this.rng = new Rng(seed);
    this.wi = this.param('wi', init.truncatedNormal([dModel, dFF], { rng: this.rng, scale: initScale, dtype }));
    this.wo = this.param('wo', init.truncatedNormal([dFF, dModel], { rng: this.rng, scale: initScale, dtype }));
  }

  forward(x: Tensor): Tensor {
    requireTensor('DenseFFN.forward', 'x', x);
    const dModel = this.wi.shape[0]!;
    if (x.rank < 1 || x.shape[x.rank - 1] !== dModel) {
      throw new Error(`DenseFFN.forward: input ${fmt(x.shape)} must be [..., dModel] with dModel = ${dModel}; its last dimension is ${x.shape[x.rank - 1]}`);
    }
    return feedForward(x, this.wi, this.wo, { activation: this.activation, dropout: this.training ? this.dropout : 0, rng: this.rng });
  }
}
