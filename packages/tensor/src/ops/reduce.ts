import { record } from '../autograd.js';
import type { ReduceOp } from '../backend/backend.js';
import { fmt, normalizeAxes, normalizeAxis, sameShape, sizeOf, type Shape } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { broadcastTo, eq } from './elementwise.js';
import { requireFloat, requireTensor, runKernel } from './kernel.js';
import { reshape } from './shape.js';

/** Reductions. FLOPs: one per input element. Axes may be negative; no axis means all axes. */

function resolveAxes(op: string, x: Tensor, axis: number | readonly number[] | undefined): number[] {
  const axes = axis === undefined ? x.shape.map((_, i) => i) : normalizeAxes(op, axis, x.shape);
  return axes.sort((a, b) => b - a);
}

function keptShape(shape: Shape, axes: readonly number[]): number[] {
  return shape.map((d, i) => (axes.includes(i) ? 1 : d));
}

/** Runs the one-axis kernel once per axis (highest first, so lower axis numbers stay valid). */
function reduceKernel(op: ReduceOp, x: Tensor, axes: readonly number[], keepDims: boolean): Tensor {
  let cur = x;
  for (const axis of axes) {
    const outShape = cur.shape.filter((_, i) => i !== axis);
    const input = cur;
    cur = runKernel(op, 'reduce', { inputs: [input], attrs: { op, axis }, shape: outShape, dtype: x.dtype, flops: input.size });
    if (input !== x) input.dispose();
  }
  // Reducing over no axes (or a 0-d tensor) still returns a fresh tensor, never a view of x.
  if (cur === x) cur = runKernel(op, 'expand', { inputs: [x], attrs: {}, shape: x.shape, dtype: x.dtype, flops: 0 });
  return keepDims ? reshape(cur, keptShape(x.shape, axes)) : cur;
}

/** Spreads a reduced gradient back over the reduced axes. */
function expandGrad(g: Tensor, x: Tensor, axes: readonly number[]): Tensor {
  return broadcastTo(reshape(g, keptShape(x.shape, axes)), x.shape);
}

export function sum(x: Tensor, axis?: number | readonly number[], keepDims = false): Tensor {
  requireTensor('sum', x);
  const axes = resolveAxes('sum', x, axis);
  const y = reduceKernel('sum', x, axes, keepDims);
  return record('sum', y, [x], (g) => [expandGrad(g, x, axes)]);
}

export function mean(x: Tensor, axis?: number | readonly number[], keepDims = false): Tensor {
  requireTensor('mean', x);
  requireFloat('mean', x);
  const axes = resolveAxes('mean', x, axis);
  const count = axes.reduce((n, a) => n * x.shape[a]!, 1);
  return sum(x, axes, keepDims).div(count);
}

/**
 * max/min: the gradient is shared equally among tied extremes (like torch.amax), so that it is
 * the average of the one-sided derivatives and finite differences agree with it.
 */
function extreme(op: 'max' | 'min') {
  return (x: Tensor, axis?: number | readonly number[], keepDims = false): Tensor => {
    requireTensor(op, x);
    const axes = resolveAxes(op, x, axis);
    if (axes.some((a) => x.shape[a] === 0)) throw new Error(`${op}: cannot reduce an empty dimension of ${fmt(x.shape)}`);
    const y = reduceKernel(op, x, axes, keepDims);
    return record(op, y, [x], (g) => {
      const isExtreme = eq(x, expandGrad(y, x, axes));
      const ties = sum(isExtreme, axes, true);
      return [expandGrad(g, x, axes).mul(isExtreme).div(broadcastTo(ties, x.shape))];
    });
  };
}
export const max = extreme('max');
export const min = extreme('min');

function argReduce(op: 'argmax' | 'argmin') {
  return (x: Tensor, axis: number): Tensor => {
    requireTensor(op, x);
    const a = normalizeAxis(op, axis, x.rank, x.shape);
    if (x.shape[a] === 0) throw new Error(`${op}: cannot reduce an empty dimension of ${fmt(x.shape)}`);
    const outShape = x.shape.filter((_, i) => i !== a);
    return runKernel(op, 'argReduce', { inputs: [x], attrs: { op, axis: a }, shape: outShape, dtype: 'int32', flops: x.size });
  };
}
/** Index of the first maximum along `axis` (int32, no gradient). */
export const argmax = argReduce('argmax');
export const argmin = argReduce('argmin');

/**
 * Sums `g` down to `shape`, undoing NumPy broadcasting: leading extra dims and dims that were 1
 * are summed away. Every broadcasting op's backward goes through here.
 */
export function sumTo(g: Tensor, shape: Shape): Tensor {
  if (sameShape(g.shape, shape)) return g;
  const lead = g.rank - shape.length;
  const axes: number[] = [];
  g.shape.forEach((d, i) => {
    if (i < lead || (shape[i - lead] === 1 && d !== 1)) axes.push(i);
  });
  const summed = axes.length > 0 ? sum(g, axes, true) : g;
  if (sizeOf(summed.shape) !== sizeOf(shape)) {
    throw new Error(`sumTo: gradient of shape ${fmt(g.shape)} cannot be reduced to ${fmt(shape)}`);
  }
  return reshape(summed, shape);
}
