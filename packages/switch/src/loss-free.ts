import type { Tensor } from '@switch-ts/tensor';
import { fmt, requireMask, requireTensor } from './checks.js';

/**
 * Auxiliary-loss-free load balancing (Wang et al. 2024, *Auxiliary-Loss-Free Load Balancing
 * Strategy for Mixture-of-Experts*; DeepSeek-V3 §2.1.2). Instead of a loss whose gradient
 * interferes with the language-model gradient, each expert i has a bias b_i that is added to its
 * score for the top-k selection only (eq. 3, in `route`), and after each training step the bias of
 * an overloaded expert goes down and that of an underloaded one goes up by a fixed γ
 * (Algorithm 1): b_i ← b_i + γ · sign(c̄ − c_i), c_i the tokens that chose expert i, c̄ their mean.
 */

/**
 * c_i: how many router choices went to each expert, over the unmasked tokens of every group —
 * the router's choices before capacity, since a full expert is exactly the load the bias must see.
 */
export function expertLoad(expertIndex: Tensor, numExperts: number, opts: { mask?: Tensor } = {}): number[] {
  const op = 'expertLoad';
  requireTensor(op, 'expertIndex', expertIndex);
  if (expertIndex.dtype !== 'int32' || expertIndex.rank < 2) throw new Error(`${op}: expertIndex must be int32 [...groups, S, k], got ${expertIndex.dtype} ${fmt(expertIndex.shape)}`);
  if (opts.mask !== undefined) requireMask(op, opts.mask, expertIndex.shape.slice(0, -1));
  const k = expertIndex.shape[expertIndex.rank - 1]!;
  const choice = expertIndex.dataSync(), m = opts.mask?.dataSync();
  const load = new Array<number>(numExperts).fill(0);
  for (let i = 0; i < choice.length; i++) {
    if (m === undefined || m[Math.floor(i / k)] !== 0) load[choice[i]!]!++;
  }
  return load;
}

/** Algorithm 1's update: b_i + γ · sign(c̄ − c_i); a perfectly balanced load leaves b unchanged. */
export function updatedBias(bias: readonly number[], load: readonly number[], rate: number): number[] {
  if (bias.length !== load.length) throw new Error(`updatedBias: bias has ${bias.length} experts but load has ${load.length}`);
  if (!(rate >= 0 && Number.isFinite(rate))) throw new Error(`updatedBias: rate γ must be a finite number ≥ 0, got ${rate}`);
  const mean = load.reduce((a, b) => a + b, 0) / Math.max(load.length, 1);
  return bias.map((b, i) => b + rate * Math.sign(mean - load[i]!));
}
