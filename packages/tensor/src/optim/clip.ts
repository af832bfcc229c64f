import { noGrad, tidy } from '../engine.js';
import { Tensor } from '../tensor.js';

/**
 * Scales all gradients by one factor so that their global L2 norm (over every element of every
 * gradient) is at most maxNorm, as torch.nn.utils.clip_grad_norm_, and returns the norm before
 * clipping. Parameters without a gradient are skipped. The 1e-6 is torch's: it keeps the
 * clipped norm just under maxNorm.
 */
export function clipGradNorm(params: readonly Tensor[], maxNorm: number): number {
  if (!(maxNorm > 0)) throw new Error(`clipGradNorm: maxNorm must be > 0, got ${maxNorm}`);
  const grads = params.flatMap((p) => (p.grad ? [p.grad] : []));
  // Sums of squares are added in float64 whatever the grads' dtype; in host memory in one pass
  // per gradient (and one more to scale), elsewhere as ops.
  const onHost = Tensor.hostValues('clipGradNorm', grads);
  return noGrad(() => tidy(() => {
    const total = Math.sqrt(onHost
      ? onHost.reduce((sum, g) => { for (let i = 0; i < g.length; i++) sum += g[i]! * g[i]!; return sum; }, 0)
      : grads.reduce((sum, g) => sum + g.square().sum().item(), 0));
    const scale = maxNorm / (total + 1e-6);
    if (scale >= 1) return total;
    const scaled = Tensor.updateOnHost('clipGradNorm', grads, (values) => {
      for (const g of values) for (let i = 0; i < g.length; i++) g[i] = g[i]! * scale;
    });
    if (!scaled) grads.forEach((g) => g.assign(g.mul(scale)));
    return total;
  }));
}
