import type { Tensor } from '../tensor.js';
import { checkOption, Optimizer, type ParamState } from './optimizer.js';

export interface AdamOptions {
  lr: number;
  /** Decay rates of the first and second moment estimates (default [0.9, 0.999]). */
  betas?: readonly [number, number];
  /** Added to √v̂ so that the step stays finite where v̂ is zero (default 1e-8). */
  eps?: number;
}

export interface AdamWOptions extends AdamOptions {
  weightDecay: number;
}

/**
 * Adam (Kingma & Ba 2015, Algorithm 1), with the paper's and torch's defaults:
 *   m ← β₁m + (1−β₁)g,  v ← β₂v + (1−β₂)g²,  m̂ = m / (1−β₁ᵗ),  v̂ = v / (1−β₂ᵗ),
 *   θ ← θ − lr · m̂ / (√v̂ + ε).
 * The bias corrections undo the pull of the zero-initialized moments towards 0 in early steps.
 */
export class Adam extends Optimizer {
  readonly betas: readonly [number, number];
  readonly eps: number;
  protected readonly bufferCount = 2;

  constructor(params: readonly Tensor[], opts: AdamOptions) {
    super(params, opts.lr);
    const name = new.target.name;
    const { betas = [0.9, 0.999], eps = 1e-8 } = opts;
    if (!Array.isArray(betas) || betas.length !== 2) throw new Error(`${name}: betas must be a pair [beta1, beta2], got ${JSON.stringify(betas)}`);
    checkOption(name, 'betas[0]', betas[0], 'fraction');
    checkOption(name, 'betas[1]', betas[1], 'fraction');
    checkOption(name, 'eps', eps, 'nonNegative');
    this.betas = [betas[0], betas[1]];
    this.eps = eps;
  }

  protected update(p: Tensor, g: Tensor, { step, buffers }: ParamState): void {
    const [beta1, beta2] = this.betas;
    const [m, v] = buffers as [Tensor, Tensor];
    m.assign(m.mul(beta1).add(g.mul(1 - beta1)));
    v.assign(v.mul(beta2).add(g.square().mul(1 - beta2)));
    const mHat = m.div(1 - beta1 ** step);
    const vHat = v.div(1 - beta2 ** step);
    p.assign(p.sub(mHat.div(vHat.sqrt().add(this.eps)).mul(this.lr)));
  }
}

/**
 * AdamW (Loshchilov & Hutter 2019, Algorithm 2): Adam with the weight decay applied to the
 * weights, θ ← θ·(1 − lr·λ), rather than added to the gradient, where Adam's per-coordinate
 * scaling would weaken it for parameters with large gradients. As in torch.optim.AdamW the
 * paper's schedule multiplier ηₜ is the learning rate.
 */
export class AdamW extends Adam {
  readonly weightDecay: number;

  constructor(params: readonly Tensor[], opts: AdamWOptions) {
    super(params, opts);
    checkOption('AdamW', 'weightDecay', opts.weightDecay, 'nonNegative');
    this.weightDecay = opts.weightDecay;
  }

  protected override update(p: Tensor, g: Tensor, state: ParamState): void {
    p.assign(p.mul(1 - this.lr * this.weightDecay));
    super.update(p, g, state);
  }
}
