import { record } from '../autograd.js';
import { fmt, normalizeAxis } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { mul, sub, where } from './elementwise.js';
import { requireFloat, requireInt, requireTensor, runKernel } from './kernel.js';
import { max, sum } from './reduce.js';
import { reshape, unsqueeze } from './shape.js';
import { takeAlongAxis } from './indexing.js';

/**
 * softmax, logsumexp and log-softmax. The kernels subtract the max before exponentiating, so
 * logits of any magnitude (|x| ≥ 1000 included) give finite, exact results.
 * FLOPs: 5 per element for softmax (max, subtract, exp, sum, divide), 4 for logsumexp.
 */

export function softmax(x: Tensor, axis = -1): Tensor {
  requireTensor('softmax', x);
  requireFloat('softmax', x);
  const a = normalizeAxis('softmax', axis, x.rank, x.shape);
  const y = runKernel('softmax', 'softmax', { inputs: [x], attrs: { axis: a }, shape: x.shape, dtype: x.dtype, flops: 5 * x.size });
  // dx = y ⊙ (g − Σ_axis g⊙y): the Jacobian-vector product of softmax without forming the Jacobian.
  return record('softmax', y, [x], (g) => [mul(y, sub(g, sum(mul(g, y), a, true)))]);
}

export function logsumexp(x: Tensor, axis = -1, keepDims = false): Tensor {
  requireTensor('logsumexp', x);
  requireFloat('logsumexp', x);
  const a = normalizeAxis('logsumexp', axis, x.rank, x.shape);
  const outShape = x.shape.filter((_, i) => i !== a);
  const y = runKernel('logsumexp', 'logsumexp', { inputs: [x], attrs: { axis: a }, shape: outShape, dtype: x.dtype, flops: 4 * x.size });
  // d/dx logsumexp(x) = softmax(x).
  const out = record('logsumexp', y, [x], (g) => [mul(unsqueeze(g, a), softmax(x, a))]);
  return keepDims ? unsqueeze(out, a) : out;
}

/**
 * log softmax = (x − max) − log Σ exp(x − max): exact where softmax underflows to 0. Shifting by
 * the max first (rather than x − logsumexp(x)) avoids cancelling two numbers the size of the
 * logits. The shift is detached: the result does not depend on it, so neither does the gradient.
 */
export function logSoftmax(x: Tensor, axis = -1): Tensor {
  requireTensor('logSoftmax', x);
  requireFloat('logSoftmax', x);
  const a = normalizeAxis('logSoftmax', axis, x.rank, x.shape);
  const shifted = x.shape[a] === 0 ? x : sub(x, max(x, a, true).detach());
  return sub(shifted, logsumexp(shifted, a, true));
}

/**
 * Mean negative log-likelihood of integer targets under softmax(logits), as PyTorch's
 * F.cross_entropy: logits [N, C], targets int32 [N]. Rows whose target equals `ignoreIndex` or
 * whose `mask` is 0 count in neither the sum nor the mean's denominator.
 */
export function crossEntropy(logits: Tensor, targets: Tensor, opts: { ignoreIndex?: number; mask?: Tensor } = {}): Tensor {
  requireTensor('crossEntropy', logits);
  requireTensor('crossEntropy', targets, 'targets');
  requireFloat('crossEntropy', logits);
  requireInt('crossEntropy', 'targets', targets);
  if (logits.rank !== 2 || targets.rank !== 1 || targets.shape[0] !== logits.shape[0]) {
    throw new Error(`crossEntropy: logits ${fmt(logits.shape)} and targets ${fmt(targets.shape)}: expected [N, C] and [N]`);
  }
  const [n, c] = logits.shape as [number, number];
  const { ignoreIndex, mask } = opts;
  if (mask && (mask.rank !== 1 || mask.shape[0] !== n)) {
    throw new Error(`crossEntropy: mask ${fmt(mask.shape)} does not match targets ${fmt(targets.shape)}`);
  }
  const t = targets.dataSync();
  for (let i = 0; i < n; i++) {
    if (t[i] !== ignoreIndex && (t[i]! < 0 || t[i]! >= c)) {
      throw new Error(`crossEntropy: target ${t[i]} at row ${i} is outside [0, ${c}) for logits ${fmt(logits.shape)}`);
    }
  }
  let weight = ignoreIndex === undefined ? null : targets.ne(ignoreIndex);
  if (mask) weight = weight ? weight.mul(mask.ne(0)) : mask.ne(0);
  const safeTargets = weight ? where(weight, targets, 0) : targets;
  const picked = takeAlongAxis(logSoftmax(logits, 1), reshape(safeTargets, [n, 1]), 1);
  const nll = reshape(picked, [n]).neg();
  if (!weight) return nll.mean();
  const w = weight.cast(logits.dtype);
  return sum(nll.mul(w)).div(sum(w));
}
