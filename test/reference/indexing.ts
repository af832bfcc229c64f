/** Index selection, index accumulation, one-hot, transpose and top-k, from their definitions. */

import { type RefTensor, lanes, mapLanes, normalizeAxis, ravel, size, unravel } from './tensor.js';

function checkIndex(i: number, length: number): void {
  if (!Number.isInteger(i) || i < 0 || i >= length) throw new Error(`index ${i} outside [0, ${length})`);
}

/** index_select: out[..., j, ...] = a[..., indices[j], ...]. */
export function gather(a: RefTensor, indices: number[], axis: number): RefTensor {
  const n = a.shape[normalizeAxis(axis, a.shape.length)]!;
  indices.forEach((i) => checkIndex(i, n));
  return mapLanes(a, axis, indices.length, (line) => indices.map((i) => line[i]!));
}

/** index_add: out = base, then out[..., indices[j], ...] += src[..., j, ...] for j in order, so duplicates accumulate. */
export function scatterAdd(base: RefTensor, indices: number[], src: RefTensor, axis: number): RefTensor {
  const ax = normalizeAxis(axis, base.shape.length);
  const expected = base.shape.map((d, i) => (i === ax ? indices.length : d));
  if (src.shape.join() !== expected.join()) throw new Error(`scatterAdd: src [${src.shape}] should be [${expected}]`);
  indices.forEach((i) => checkIndex(i, base.shape[ax]!));
  const data = base.data.slice();
  const outLanes = lanes(base.shape, ax);
  const srcLanes = lanes(src.shape, ax);
  for (let l = 0; l < outLanes.length; l++) {
    for (let j = 0; j < indices.length; j++) data[outLanes[l]![indices[j]!]!]! += src.data[srcLanes[l]![j]!]!;
  }
  return { shape: base.shape.slice(), data };
}

/** Row r is all zeros except a 1 at column indices[r]. */
export function oneHot(indices: number[], depth: number): RefTensor {
  const data = new Array<number>(indices.length * depth).fill(0);
  indices.forEach((i, r) => {
    checkIndex(i, depth);
    data[r * depth + i] = 1;
  });
  return { shape: [indices.length, depth], data };
}

/** Output dim i is input dim perm[i]; with no perm the dims are reversed, as in NumPy. */
export function transpose(a: RefTensor, perm?: number[]): RefTensor {
  const rank = a.shape.length;
  const p = perm ?? a.shape.map((_, i) => rank - 1 - i);
  if (p.length !== rank || [...p].sort((x, y) => x - y).some((v, i) => v !== i)) throw new Error(`transpose: bad perm [${perm}]`);
  const shape = p.map((d) => a.shape[d]!);
  const data = new Array<number>(a.data.length);
  for (let i = 0; i < size(shape); i++) {
    const outIndex = unravel(i, shape);
    const inIndex = new Array<number>(rank);
    p.forEach((d, j) => (inIndex[d] = outIndex[j]!));
    data[i] = a.data[ravel(inIndex, a.shape)]!;
  }
  return { shape, data };
}

/**
 * The k largest values along `axis`, largest first; a NaN counts as larger than any number (as in
 * PyTorch's topk and argmax), and equal values (NaNs among them, −0 and +0 too) keep the lower
 * index first.
 */
export function topk(a: RefTensor, k: number, axis: number): { values: RefTensor; indices: RefTensor } {
  const n = a.shape[normalizeAxis(axis, a.shape.length)]!;
  if (!Number.isInteger(k) || k < 1 || k > n) throw new Error(`topk: k = ${k} outside [1, ${n}]`);
  const larger = (x: number, y: number): boolean => (Number.isNaN(x) ? !Number.isNaN(y) : x > y);
  const ranked = (line: number[]): number[] =>
    line.map((_, j) => j).sort((x, y) => (larger(line[x]!, line[y]!) ? -1 : larger(line[y]!, line[x]!) ? 1 : x - y)).slice(0, k);
  return {
    values: mapLanes(a, axis, k, (line) => ranked(line).map((j) => line[j]!)),
    indices: mapLanes(a, axis, k, ranked),
  };
}
