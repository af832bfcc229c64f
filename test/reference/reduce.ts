/** Reductions over any set of axes, and argmax, as plain accumulation loops. */

import { type RefTensor, mapLanes, normalizeAxis, ravel, size, squeezeAxis, unravel } from './tensor.js';

export type ReduceOp = 'sum' | 'mean' | 'max' | 'min';

export function reduce(a: RefTensor, axes: number[] | undefined, keepDims: boolean, op: ReduceOp): RefTensor {
  const rank = a.shape.length;
  const reduced = (axes ?? a.shape.map((_, i) => i)).map((ax) => normalizeAxis(ax, rank));
  if (new Set(reduced).size !== reduced.length) throw new Error(`reduce: repeated axis in [${axes}]`);

  // Accumulate in the keepDims shape (reduced dims of length 1); dropping them later keeps the data.
  const keptShape = a.shape.map((d, i) => (reduced.includes(i) ? 1 : d));
  const start = op === 'max' ? -Infinity : op === 'min' ? Infinity : 0;
  const acc = new Array<number>(size(keptShape)).fill(start);
  for (let i = 0; i < a.data.length; i++) {
    const index = unravel(i, a.shape).map((v, d) => (reduced.includes(d) ? 0 : v));
    const o = ravel(index, keptShape);
    const x = a.data[i]!;
    // Math.max/min return NaN if either side is NaN, which is how NumPy and PyTorch propagate it,
    // and order −0 below +0 (IEEE 754-2019 maximum/minimum), whichever comes first.
    acc[o] = op === 'max' ? Math.max(acc[o]!, x) : op === 'min' ? Math.min(acc[o]!, x) : acc[o]! + x;
  }

  const count = size(reduced.map((d) => a.shape[d]!));
  const data = op === 'mean' ? acc.map((s) => s / count) : acc;
  const shape = keepDims ? keptShape : a.shape.filter((_, i) => !reduced.includes(i));
  return { shape, data };
}

/**
 * Index of the largest (argmax) or smallest (argmin) value along `axis`; ties go to the first,
 * and a NaN beats any number, the first NaN winning (NumPy, PyTorch): NaN propagates through
 * argmax and argmin as through max and min.
 */
function argReduce(a: RefTensor, axis: number, op: 'argmax' | 'argmin'): RefTensor {
  const beats = op === 'argmax' ? (x: number, y: number) => x > y : (x: number, y: number) => x < y;
  const best = (line: number[]): number[] => {
    let arg = 0;
    for (let j = 1; j < line.length; j++) {
      if (Number.isNaN(line[arg]!)) break;
      if (beats(line[j]!, line[arg]!) || Number.isNaN(line[j]!)) arg = j;
    }
    return [arg];
  };
  return squeezeAxis(mapLanes(a, axis, 1, best), axis);
}

export const argmax = (a: RefTensor, axis: number): RefTensor => argReduce(a, axis, 'argmax');
export const argmin = (a: RefTensor, axis: number): RefTensor => argReduce(a, axis, 'argmin');
