import { record } from '../autograd.js';
import { describeValue } from '../describe.js';
import { checkShape, fmt, normalizeAxes, normalizeAxis, sameShape, sizeOf } from '../shape.js';
import { Tensor } from '../tensor.js';
import { requireTensor, runKernel } from './kernel.js';

/** Shape ops. reshape/squeeze/unsqueeze are views (no copy); the rest copy. FLOPs: none. */

/** A view with a new shape; one dimension may be -1 and is inferred. */
export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  requireTensor('reshape', x);
  const target = inferReshape(x, shape);
  const out = new Tensor(null, target, x.dtype, x);
  return record('reshape', out, [x], (g) => [reshape(g, x.shape)]);
}

function inferReshape(x: Tensor, shape: readonly number[]): number[] {
  checkShape('reshape', shape, true);
  const unknown = shape.filter((d) => d === -1).length;
  const known = sizeOf(shape.filter((d) => d !== -1));
  if (unknown > 1) throw new Error(`reshape: ${fmt(x.shape)} to ${fmt(shape)}: only one dimension can be -1`);
  if (unknown === 1) {
    if (known === 0 || x.size % known !== 0) throw new Error(`reshape: cannot reshape ${fmt(x.shape)} (${x.size} elements) to ${fmt(shape)}`);
    return shape.map((d) => (d === -1 ? x.size / known : d));
  }
  if (known !== x.size) throw new Error(`reshape: cannot reshape ${fmt(x.shape)} (${x.size} elements) to ${fmt(shape)} (${known} elements)`);
  return shape.slice();
}

/** Permutes dims; with no `perm`, reverses them (NumPy's default). */
export function transpose(x: Tensor, perm?: readonly number[]): Tensor {
  requireTensor('transpose', x);
  if (perm !== undefined && !Array.isArray(perm)) throw new Error(`transpose: perm must be an array of integers, got ${describeValue(perm)}`);
  const p = perm ?? x.shape.map((_, i) => x.rank - 1 - i);
  const valid = p.length === x.rank && p.every((d) => Number.isInteger(d) && d >= 0 && d < x.rank) && new Set(p).size === p.length;
  if (!valid) throw new Error(`transpose: ${JSON.stringify(p)} is not a permutation of the ${x.rank} dims of ${fmt(x.shape)}`);
  const outShape = p.map((d) => x.shape[d]!);
  const out = runKernel('transpose', 'transpose', { inputs: [x], attrs: { perm: p }, shape: outShape, dtype: x.dtype, flops: 0 });
  const inverse = new Array<number>(p.length);
  p.forEach((d, i) => (inverse[d] = i));
  return record('transpose', out, [x], (g) => [transpose(g, inverse)]);
}

/** Removes size-1 dims: all of them, or the given ones (which must have size 1). */
export function squeeze(x: Tensor, axis?: number | readonly number[]): Tensor {
  requireTensor('squeeze', x);
  const axes = axis === undefined ? x.shape.flatMap((d, i) => (d === 1 ? [i] : [])) : normalizeAxes('squeeze', axis, x.shape);
  for (const a of axes) {
    if (x.shape[a] !== 1) throw new Error(`squeeze: dimension ${a} of ${fmt(x.shape)} has size ${x.shape[a]}, not 1`);
  }
  return reshape(x, x.shape.filter((_, i) => !axes.includes(i)));
}

/** Inserts a size-1 dim at `axis` (negative counts from the end of the result). */
export function unsqueeze(x: Tensor, axis: number): Tensor {
  requireTensor('unsqueeze', x);
  const a = normalizeAxis('unsqueeze', axis, x.rank + 1, x.shape);
  const shape = x.shape.slice();
  shape.splice(a, 0, 1);
  return reshape(x, shape);
}

/**
 * tfjs-style slice: `begin` per dim (a number means the first dim), `size` per dim with -1 meaning
 * "to the end". Missing trailing dims are taken whole.
 */
export function slice(x: Tensor, begin: number | readonly number[], size?: number | readonly number[]): Tensor {
  requireTensor('slice', x);
  const b = typeof begin === 'number' ? [begin] : begin.slice();
  const s = size === undefined ? [] : typeof size === 'number' ? [size] : size.slice();
  if (b.length > x.rank || s.length > x.rank) {
    throw new Error(`slice: begin ${JSON.stringify(b)} / size ${JSON.stringify(s)} have more dims than ${fmt(x.shape)}`);
  }
  const start = x.shape.map((_, d) => b[d] ?? 0);
  const extent = x.shape.map((dim, d) => (s[d] === undefined || s[d] === -1 ? dim - start[d]! : s[d]!));
  x.shape.forEach((dim, d) => {
    if (!Number.isInteger(start[d]) || !Number.isInteger(extent[d]) || start[d]! < 0 || extent[d]! < 0 || start[d]! + extent[d]! > dim) {
      throw new Error(`slice: begin ${JSON.stringify(start)} size ${JSON.stringify(extent)} is out of bounds for ${fmt(x.shape)} at dim ${d}`);
    }
  });
  const out = runKernel('slice', 'slice', { inputs: [x], attrs: { begin: start }, shape: extent, dtype: x.dtype, flops: 0 });
  return record('slice', out, [x], (g) => [pad(g, start, x.shape)]);
}

/** Zeros of `shape` with `x` at `begin`: the adjoint of slice. */
function pad(x: Tensor, begin: readonly number[], shape: readonly number[]): Tensor {
  const out = runKernel('pad', 'pad', { inputs: [x], attrs: { begin }, shape, dtype: x.dtype, flops: 0 });
  return record('pad', out, [x], (g) => [slice(g, begin, x.shape)]);
}

/** Joins tensors along an existing axis; all other dims must match. */
export function concat(xs: readonly Tensor[], axis = 0): Tensor {
  if (!(xs?.length > 0)) throw new Error('concat: needs a non-empty array of tensors');
  xs.forEach((x, i) => requireTensor('concat', x, `tensor ${i}`));
  const first = xs[0]!;
  const a = normalizeAxis('concat', axis, first.rank, first.shape);
  for (const x of xs) {
    const same = x.rank === first.rank && x.shape.every((d, i) => i === a || d === first.shape[i]);
    if (!same || x.dtype !== first.dtype) {
      throw new Error(`concat: along axis ${axis}: ${xs.map((t) => `${fmt(t.shape)} ${t.dtype}`).join(', ')}: other dims and dtypes must match`);
    }
  }
  const outShape = first.shape.slice();
  outShape[a] = xs.reduce((n, x) => n + x.shape[a]!, 0);
  const out = runKernel('concat', 'concat', { inputs: xs, attrs: { axis: a }, shape: outShape, dtype: first.dtype, flops: 0 });
  return record('concat', out, xs, (g) => {
    let at = 0;
    return xs.map((x) => {
      const begin = x.shape.map((_, d) => (d === a ? at : 0));
      at += x.shape[a]!;
      return slice(g, begin, x.shape);
    });
  });
}

/** Joins same-shaped tensors along a new axis. */
export function stack(xs: readonly Tensor[], axis = 0): Tensor {
  if (!(xs?.length > 0)) throw new Error('stack: needs a non-empty array of tensors');
  xs.forEach((x, i) => requireTensor('stack', x, `tensor ${i}`));
  const first = xs[0]!;
  if (xs.some((x) => !sameShape(x.shape, first.shape))) {
    throw new Error(`stack: all shapes must match, got ${xs.map((x) => fmt(x.shape)).join(', ')}`);
  }
  const a = normalizeAxis('stack', axis, first.rank + 1, first.shape);
  return concat(xs.map((x) => unsqueeze(x, a)), a);
}
