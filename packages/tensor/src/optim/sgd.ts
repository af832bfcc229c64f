import { Tensor } from '../tensor.js';
import { checkOption, Optimizer, type ParamState } from './optimizer.js';

export interface SGDOptions {
  lr: number;
  momentum?: number;
  weightDecay?: number;
}

/**
 * Stochastic gradient descent with torch.optim.SGD's momentum and (L2, coupled) weight decay:
 * g ← g + λθ;  b ← μb + g;  θ ← θ − lr·b. The buffer b starts at zero, so b = g on the first step.
 */
export class SGD extends Optimizer {
  readonly momentum: number;
  readonly weightDecay: number;
  protected readonly bufferCount: number;

  constructor(params: readonly Tensor[], opts: SGDOptions) {
    super(params, opts.lr);
    const { momentum = 0, weightDecay = 0 } = opts;
    checkOption('SGD', 'momentum', momentum, 'fraction');
    checkOption('SGD', 'weightDecay', weightDecay, 'nonNegative');
    this.momentum = momentum;
    this.weightDecay = weightDecay;
    this.bufferCount = momentum > 0 ? 1 : 0;
  }

  /** One pass over the coordinates in host memory (see Adam's `adamStep`), ops elsewhere. */
  protected update(p: Tensor, grad: Tensor, { buffers }: ParamState): void {
    const { lr, momentum: mu, weightDecay: wd } = this;
    const fused = Tensor.updateOnHost('SGD', [p, grad, ...buffers], ([theta, g, b]) => {
      for (let i = 0; i < theta!.length; i++) {
        const gi = g![i]! + wd * theta![i]!;
        theta![i] = theta![i]! - lr * (b ? (b[i] = mu * b[i]! + gi) : gi);
      }
    });
    if (fused) return;
    const g = this.weightDecay > 0 ? grad.add(p.mul(this.weightDecay)) : grad;
    const direction = this.momentum > 0 ? buffers[0]!.assign(buffers[0]!.mul(this.momentum).add(g)) : g;
    p.assign(p.sub(direction.mul(this.lr)));
  }
}
