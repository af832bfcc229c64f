import { wasmOptimizer } from '../backend/cpu/wasm/optimizer.js';
import { Tensor } from '../tensor.js';
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

  protected update(p: Tensor, g: Tensor, state: ParamState): void {
    this.adamStep(p, g, state, 0);
  }

  /**
   * One Adam step, after the decoupled decay θ ← θ·(1 − lr·λ) when `weightDecay` > 0 (AdamW).
   * In host memory it is one pass over the coordinates, with no temporaries: a tensor op per
   * term costs ~14 passes and as many arrays per parameter and step, most of a small model's
   * optimizer time. Elsewhere (a device) it runs as ops. Both compute the formula above, equal
   * within rounding; the pass rounds to the parameter's dtype only when it stores θ, m and v.
   */
  protected adamStep(p: Tensor, g: Tensor, { step, buffers }: ParamState, weightDecay: number): void {
    const [beta1, beta2] = this.betas;
    const { lr, eps } = this;
    const [m, v] = buffers as [Tensor, Tensor];
    const correction1 = 1 - beta1 ** step, correction2 = 1 - beta2 ** step, decay = 1 - lr * weightDecay;
    // torch's arrangement of the same formula, lr/(1−β₁ᵗ)·m / (√v/√(1−β₂ᵗ) + ε): one division
    // per coordinate instead of three (a third faster), equal to the formula within rounding.
    const stepSize = lr / correction1, inverseRoot2 = 1 / Math.sqrt(correction2), k1 = 1 - beta1, k2 = 1 - beta2;
    const fused = Tensor.updateOnHost(this.constructor.name, [p, g, m, v], ([theta, grad, m1, m2]) => {
      // The same operations in wasm's float64 lanes, two coordinates at a time, give the same bits.
      if (wasmOptimizer()?.adam(theta!, grad!, m1!, m2!, { beta1, beta2, k1, k2, decay, stepSize, inverseRoot2, eps })) return;
      for (let i = 0; i < theta!.length; i++) {
        const gi = grad![i]!;
        const mi = (m1![i] = beta1 * m1![i]! + k1 * gi);
        const vi = (m2![i] = beta2 * m2![i]! + k2 * gi * gi);
        theta![i] = theta![i]! * decay - (stepSize * mi) / (Math.sqrt(vi) * inverseRoot2 + eps);
      }
    });
    if (fused) return;
    if (weightDecay > 0) p.assign(p.mul(decay));
    m.assign(m.mul(beta1).add(g.mul(1 - beta1)));
    v.assign(v.mul(beta2).add(g.square().mul(1 - beta2)));
    const mHat = m.div(correction1);
    const vHat = v.div(correction2);
    p.assign(p.sub(mHat.div(vHat.sqrt().add(eps)).mul(lr)));
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
    this.adamStep(p, g, state, this.weightDecay);
  }
}
