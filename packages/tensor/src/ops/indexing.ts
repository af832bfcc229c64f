import { record } from '../autograd.js';
import { fmt, normalizeAxis, type Shape } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { checkDType, type DType } from '../dtype.js';
import { requireInt, requireTensor, runKernel } from './kernel.js';
import { zeros } from './creation.js';
import { reshape } from './shape.js';

/**
 * Indexing, in two adjoint pairs: gather ↔ indexAdd (whole slices picked by a list of indices)
 * and takeAlongAxis ↔ scatterAdd (one index per element). Adds run in a fixed order, so
 * duplicate indices give the same sum on every run. FLOPs: one per added element.
 */

function checkIndices(op: string, indices: Tensor, bound: number, x: Tensor, axis: number): void {
  requireInt(op, 'indices', indices);
  const v = indices.dataSync();
  for (let i = 0; i < v.length; i++) {
    if (v[i]! < 0 || v[i]! >= bound) {
      throw new Error(`${op}: index ${v[i]} is out of range [0, ${bound}) for axis ${axis} of ${fmt(x.shape)}`);
    }
  }
}

/**
 * Picks slices of `x` along `axis` (tf.gather / torch.index_select): the result's shape is
 * x.shape with dim `axis` replaced by indices.shape.
 */
export function gather(x: Tensor, indices: Tensor, axis = 0): Tensor {
  requireTensor('gather', x);
  requireTensor('gather', indices, 'indices');
  const a = normalizeAxis('gather', axis, x.rank, x.shape);
  checkIndices('gather', indices, x.shape[a]!, x, a);
  const flat = reshape(indices, [indices.size]);
  const flatShape = x.shape.map((d, i) => (i === a ? indices.size : d));
  const out = runKernel('gather', 'gather', { inputs: [x, flat], attrs: { axis: a }, shape: flatShape, dtype: x.dtype, flops: 0 });
  const picked = record('gather', out, [x], (g) => [indexAdd(zeros(x.shape, x.dtype), flat, g, a)], { indices: flat });
  return reshape(picked, [...x.shape.slice(0, a), ...indices.shape, ...x.shape.slice(a + 1)]);
}

/**
 * torch.index_add: a copy of `x` with src[.., j, ..] added at x[.., indices[j], ..] along `axis`,
 * in order of j. `indices` is 1-D; src has x's shape with dim `axis` of length indices.length.
 */
export function indexAdd(x: Tensor, indices: Tensor, src: Tensor, axis = 0): Tensor {
  requireTensor('indexAdd', x);
  requireTensor('indexAdd', indices, 'indices');
  requireTensor('indexAdd', src, 'src');
  const a = normalizeAxis('indexAdd', axis, x.rank, x.shape);
  if (indices.rank !== 1) throw new Error(`indexAdd: indices must be 1-D, got ${fmt(indices.shape)}`);
  const expected = x.shape.map((d, i) => (i === a ? indices.size : d));
  if (src.rank !== x.rank || src.shape.some((d, i) => d !== expected[i]) || src.dtype !== x.dtype) {
    throw new Error(`indexAdd: src ${fmt(src.shape)} ${src.dtype} must have shape ${fmt(expected)} ${x.dtype} (x ${fmt(x.shape)}, indices ${fmt(indices.shape)}, axis ${a})`);
  }
  checkIndices('indexAdd', indices, x.shape[a]!, x, a);
  const out = runKernel('indexAdd', 'indexAdd', { inputs: [x, indices, src], attrs: { axis: a }, shape: x.shape, dtype: x.dtype, flops: src.size });
  return record('indexAdd', out, [x, src], (g) => [g, gather(g, indices, a)], { indices });
}

function checkAlongAxis(op: string, x: Tensor, indices: Tensor, a: number, other?: Tensor): void {
  const fits = indices.rank === x.rank && indices.shape.every((d, i) => i === a || d <= x.shape[i]!);
  if (!fits) throw new Error(`${op}: indices ${fmt(indices.shape)} must have the rank of ${fmt(x.shape)} and no larger dims except axis ${a}`);
  if (other && (other.rank !== indices.rank || other.shape.some((d, i) => d !== indices.shape[i]) || other.dtype !== x.dtype)) {
    throw new Error(`${op}: src ${fmt(other.shape)} ${other.dtype} must match indices ${fmt(indices.shape)} and dtype ${x.dtype}`);
  }
  checkIndices(op, indices, x.shape[a]!, x, a);
}

/** NumPy take_along_axis / torch.gather: out[.., j, ..] = x[.., indices[.., j, ..], ..]. */
export function takeAlongAxis(x: Tensor, indices: Tensor, axis: number): Tensor {
  requireTensor('takeAlongAxis', x);
  requireTensor('takeAlongAxis', indices, 'indices');
  const a = normalizeAxis('takeAlongAxis', axis, x.rank, x.shape);
  checkAlongAxis('takeAlongAxis', x, indices, a);
  const out = runKernel('takeAlongAxis', 'takeAlongAxis', { inputs: [x, indices], attrs: { axis: a }, shape: indices.shape, dtype: x.dtype, flops: 0 });
  return record('takeAlongAxis', out, [x], (g) => [scatterAdd(zeros(x.shape, x.dtype), indices, g, a)], { indices });
}

/** torch.scatter_add: a copy of `x` with src[p] added at x[p with dim `axis` set to indices[p]]. */
export function scatterAdd(x: Tensor, indices: Tensor, src: Tensor, axis: number): Tensor {
  requireTensor('scatterAdd', x);
  requireTensor('scatterAdd', indices, 'indices');
  requireTensor('scatterAdd', src, 'src');
  const a = normalizeAxis('scatterAdd', axis, x.rank, x.shape);
  checkAlongAxis('scatterAdd', x, indices, a, src);
  const out = runKernel('scatterAdd', 'scatterAdd', { inputs: [x, indices, src], attrs: { axis: a }, shape: x.shape, dtype: x.dtype, flops: src.size });
  return record('scatterAdd', out, [x, src], (g) => [g, takeAlongAxis(g, indices, a)], { indices });
}

/** One-hot rows: shape [...indices.shape, depth]; every index must be in [0, depth). */
export function oneHot(indices: Tensor, depth: number, dtype: DType = 'float32'): Tensor {
  requireTensor('oneHot', indices, 'indices');
  checkDType('oneHot', dtype);
  if (!Number.isInteger(depth) || depth < 1) throw new Error(`oneHot: depth must be a positive integer, got ${depth}`);
  requireInt('oneHot', 'indices', indices);
  const v = indices.dataSync();
  for (let i = 0; i < v.length; i++) {
    if (v[i]! < 0 || v[i]! >= depth) throw new Error(`oneHot: index ${v[i]} is out of range [0, ${depth}) (indices ${fmt(indices.shape)})`);
  }
  const shape: Shape = [...indices.shape, depth];
  return runKernel('oneHot', 'oneHot', { inputs: [indices], attrs: { depth }, shape, dtype, flops: 0 });
}

/**
 * The k largest entries along `axis` (default last), sorted descending; ties keep the lower
 * index first. `values` carries gradient to the picked entries; `indices` is int32.
 */
export function topk(x: Tensor, k: number, axis = -1): { values: Tensor; indices: Tensor } {
  requireTensor('topk', x);
  const a = normalizeAxis('topk', axis, x.rank, x.shape);
  if (!Number.isInteger(k) || k < 1 || k > x.shape[a]!) {
    throw new Error(`topk: k = ${k} must be an integer in [1, ${x.shape[a]}] for axis ${a} of ${fmt(x.shape)}`);
  }
  const shape = x.shape.map((d, i) => (i === a ? k : d));
  const indices = runKernel('topk', 'topk', { inputs: [x], attrs: { k, axis: a }, shape, dtype: 'int32', flops: x.size });
  return { values: takeAlongAxis(x, indices, a), indices };
}
