/**
 * Softmax family along one axis. Every line is shifted by its max first: exp(x - max) cannot
 * overflow, and at least one term is exp(0) = 1 so the sum cannot underflow to 0. That keeps
 * inputs like [1000, 1000] exact to rounding.
 */

import { type RefTensor, mapLanes, normalizeAxis, squeezeAxis } from './tensor.js';

const lineLength = (a: RefTensor, axis: number): number => a.shape[normalizeAxis(axis, a.shape.length)]!;

/** The line's max and Σ exp(x - max). */
function shiftedSum(line: number[]): { max: number; sum: number } {
  const max = Math.max(...line);
  let sum = 0;
  for (const x of line) sum += Math.exp(x - max);
  return { max, sum };
}

export function softmax(a: RefTensor, axis: number): RefTensor {
  return mapLanes(a, axis, lineLength(a, axis), (line) => {
    const { max, sum } = shiftedSum(line);
    return line.map((x) => Math.exp(x - max) / sum);
  });
}

export function logSoftmax(a: RefTensor, axis: number): RefTensor {
  return mapLanes(a, axis, lineLength(a, axis), (line) => {
    const { max, sum } = shiftedSum(line);
    // (x - max) first: it is exact when x is near max, whereas x - logsumexp would round twice.
    return line.map((x) => x - max - Math.log(sum));
  });
}

export function logsumexp(a: RefTensor, axis: number, keepDims: boolean): RefTensor {
  const kept = mapLanes(a, axis, 1, (line) => {
    const { max, sum } = shiftedSum(line);
    // An infinite max would give inf - inf = NaN in the shift; the true answer is the max itself.
    return [Number.isFinite(max) ? max + Math.log(sum) : max];
  });
  return keepDims ? kept : squeezeAxis(kept, axis);
}
