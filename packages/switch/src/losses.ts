import { oneHot, ones, sum, type Tensor } from '@switch-ts/tensor';
import { fmt, requireMask, requireTensor } from './checks.js';

/**
 * The auxiliary losses. Both are computed per group (the leading dims, a batch row by default)
 * over its unmasked tokens, then averaged over the groups that have any, as Mesh TensorFlow and
 * t5x do. The coefficients (α for balance, the z-loss weight) are applied by the layer.
 */

/** [..., S, E] → the per-group view [G, S, E] and 0/1 token weights [G, S] (0 = padding). */
function groupsOf(op: string, x: Tensor, mask: Tensor | undefined): { grouped: Tensor; weights: Tensor; groups: number; groupSize: number } {
  requireTensor(op, 'input', x);
  if (x.rank < 2 || x.dtype === 'int32') throw new Error(`${op}: expected a float tensor [...groups, S, E], got ${x.dtype} ${fmt(x.shape)}`);
  const tokenShape = x.shape.slice(0, -1);
  const groupSize = tokenShape[tokenShape.length - 1]!, numExperts = x.shape[x.rank - 1]!;
  const groups = tokenShape.slice(0, -1).reduce((n, d) => n * d, 1);
  if (mask !== undefined) requireMask(op, mask, tokenShape);
  const weights = mask === undefined ? ones([groups, groupSize], x.dtype) : mask.ne(0).cast(x.dtype).reshape([groups, groupSize]);
  return { grouped: x.reshape([groups, groupSize, numExperts]), weights, groups, groupSize };
}

/** Mean over each group's unmasked tokens: values [G, S, ...rest] → [G, ...rest]; also the token counts [G]. */
function tokenMean(values: Tensor, weights: Tensor): { mean: Tensor; counts: Tensor } {
  const counts = sum(weights, 1);
  const w = values.rank === 3 ? weights.unsqueeze(2) : weights;
  const countsBroadcast = values.rank === 3 ? counts.unsqueeze(1) : counts;
  return { mean: sum(values.mul(w), 1).div(countsBroadcast.maximum(1)), counts };
}

/** Mean of per-group values [G] over the groups with at least one unmasked token. */
function groupMean(perGroup: Tensor, counts: Tensor): Tensor {
  const present = counts.gt(0).cast(perGroup.dtype);
  return sum(perGroup.mul(present)).div(sum(present).maximum(1));
}

/** Where f_i of the balance loss is counted: each group's own tokens, or every group of the batch. */
export type BalanceScope = 'group' | 'batch';
export const balanceScopes: readonly BalanceScope[] = ['group', 'batch'];

/**
 * Load-balancing loss (Switch eqs. 4–6), per group: E · Σ_i f_i · P_i, where
 * f_i = fraction of the group's router choices that went to expert i (eq. 5), counted from the
 * router's choices before capacity and divided by k for top-k so that perfect balance gives 1;
 * P_i = mean router probability of expert i (eq. 6), taken as given (not renormalized). Only
 * P_i is differentiable. Averaged over groups; padding tokens count in neither f nor P.
 *
 * `scope: 'batch'` is the global-batch balance loss (Qiu et al. 2025, eq. 4): f_i is counted over
 * the unmasked tokens of every group of the call, P_i stays each group's own, so that a group may
 * specialise as long as the batch as a whole is balanced: E · Σ_i f_i^batch · P_i^group, averaged
 * over groups.
 */
export function loadBalancingLoss(routerProbs: Tensor, expertIndex: Tensor, opts: { mask?: Tensor; scope?: BalanceScope } = {}): Tensor {
  const op = 'loadBalancingLoss';
  const { scope = 'group' } = opts;
  if (!balanceScopes.includes(scope)) throw new Error(`${op}: scope must be one of ${balanceScopes.join(', ')}, got '${scope}'`);
  const { grouped, weights, groups, groupSize } = groupsOf(op, routerProbs, opts.mask);
  requireTensor(op, 'expertIndex', expertIndex);
  const tokenShape = routerProbs.shape.slice(0, -1);
  const sameTokens = tokenShape.every((d, i) => d === expertIndex.shape[i]);
  const rankOk = expertIndex.rank === tokenShape.length || expertIndex.rank === tokenShape.length + 1;
  if (!sameTokens || !rankOk || expertIndex.dtype !== 'int32') {
    throw new Error(`${op}: expertIndex ${expertIndex.dtype} ${fmt(expertIndex.shape)} must be int32 ${fmt(tokenShape)} or [${[...tokenShape, 'k'].join(',')}] for routerProbs ${fmt(routerProbs.shape)}`);
  }
  const numExperts = routerProbs.shape[routerProbs.rank - 1]!;
  const k = expertIndex.rank === tokenShape.length ? 1 : expertIndex.shape[expertIndex.rank - 1]!;
  const choices = sum(oneHot(expertIndex.reshape([groups, groupSize, k]), numExperts, routerProbs.dtype), 2);
  const { mean: choiceShare, counts } = tokenMean(choices, weights);
  const f = scope === 'group' ? choiceShare.div(k) : batchShare(choices, weights).div(k);
  const { mean: P } = tokenMean(grouped, weights);
  return groupMean(sum(f.mul(P), 1).mul(numExperts), counts);
}

/** Mean over every unmasked token of every group: values [G, S, E] → [1, E]. */
function batchShare(values: Tensor, weights: Tensor): Tensor {
  return sum(sum(values.mul(weights.unsqueeze(2)), 1), 0, true).div(sum(weights).maximum(1));
}

/**
 * Router z-loss (ST-MoE, Zoph et al. 2022, eq. 5): the mean over tokens of (log Σ_j e^{h_j})²,
 * which keeps the router logits small so that the softmax stays in float32's exact range.
 * Per group over unmasked tokens, averaged over groups.
 */
export function routerZLoss(routerLogits: Tensor, opts: { mask?: Tensor } = {}): Tensor {
  const { grouped, weights } = groupsOf('routerZLoss', routerLogits, opts.mask);
  const { mean, counts } = tokenMean(grouped.logsumexp(-1).square(), weights);
  return groupMean(mean, counts);
}
