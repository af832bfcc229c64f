import { noGrad, tidy } from '../engine.js';
import type { Tensor } from '../tensor.js';

/**
 * Scales all gradients by one factor so that their global L2 norm (over every element of every
 * gradient) is at most maxNorm, as torch.nn.utils.clip_grad_norm_, and returns the norm before
 * clipping. Parameters without a gradient are skipped. The 1e-6 is torch's: it keeps the
 * clipped norm just under maxNorm.
 */
export function clipGradNorm(params: readonly Tensor[], maxNorm: number): number {
  if (!(maxNorm > 0)) throw new Error(`clipGradNorm: maxNorm must be > 0, got ${maxNorm}`);
  const grads = params.flatMap((p) => (p.grad ? [p.grad] : []));
  return noGrad(() => tidy(() => {
    // Sums of squares are added in float64 whatever the grads' dtype.
    const total = Math.sqrt(grads.reduce((sum, g) => sum + g.square().sum().item(), 0));
    const scale = maxNorm / (total + 1e-6);
    if (scale < 1) grads.forEach((g) => g.assign(g.mul(scale)));
    return total;
  }));
}
