import * as T from '@switch-ts/tensor';
import type { Tensor } from '@switch-ts/tensor';
import { gelu, pow, relu, sigmoid } from '../reference/elementwise.js';

/**
 * The elementwise ops the conformance suite checks, each paired with its scalar definition from
 * test/reference: the random-data and the special-values tests walk the same lists.
 */

export interface UnaryCase {
  readonly name: string;
  readonly op: (x: Tensor) => Tensor;
  readonly ref: (x: number) => number;
}

export interface BinaryCase {
  readonly name: string;
  readonly op: (a: Tensor, b: Tensor) => Tensor;
  readonly ref: (x: number, y: number) => number;
}

export const unaryOps: readonly UnaryCase[] = [
  { name: 'neg', op: T.neg, ref: (x) => -x },
  { name: 'exp', op: T.exp, ref: Math.exp },
  { name: 'log', op: T.log, ref: Math.log },
  { name: 'sqrt', op: T.sqrt, ref: Math.sqrt },
  { name: 'abs', op: T.abs, ref: Math.abs },
  { name: 'tanh', op: T.tanh, ref: Math.tanh },
  { name: 'sigmoid', op: T.sigmoid, ref: sigmoid },
  { name: 'relu', op: T.relu, ref: relu },
  { name: 'gelu', op: T.gelu, ref: gelu },
];

export const binaryOps: readonly BinaryCase[] = [
  { name: 'add', op: T.add, ref: (x, y) => x + y },
  { name: 'sub', op: T.sub, ref: (x, y) => x - y },
  { name: 'mul', op: T.mul, ref: (x, y) => x * y },
  { name: 'div', op: T.div, ref: (x, y) => x / y },
  { name: 'pow', op: T.pow, ref: pow },
  // IEEE 754-2019 maximum/minimum, as Math.max/min: NaN propagates, −0 < +0.
  { name: 'maximum', op: T.maximum, ref: Math.max },
  { name: 'minimum', op: T.minimum, ref: Math.min },
];

/** Comparisons give int32 0/1 masks; any comparison with NaN is false except ne. */
export const comparisons: readonly BinaryCase[] = [
  { name: 'eq', op: T.eq, ref: (x, y) => Number(x === y) },
  { name: 'ne', op: T.ne, ref: (x, y) => Number(x !== y) },
  { name: 'lt', op: T.lt, ref: (x, y) => Number(x < y) },
  { name: 'le', op: T.le, ref: (x, y) => Number(x <= y) },
  { name: 'gt', op: T.gt, ref: (x, y) => Number(x > y) },
  { name: 'ge', op: T.ge, ref: (x, y) => Number(x >= y) },
];
