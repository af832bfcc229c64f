import { expect, it } from 'vitest';
import * as T from '@switch-ts/tensor';
import { tensor, type Tensor } from '@switch-ts/tensor';
import { binary, sign, unary } from '../reference/elementwise.js';
import { topk } from '../reference/indexing.js';
import { argmax, argmin, reduce } from '../reference/reduce.js';
import { logSoftmax, logsumexp, softmax } from '../reference/softmax.js';
import type { RefTensor } from '../reference/tensor.js';
import { componentwiseError } from '../tolerance.js';
import { checksFor, fmt, show } from './checks.js';
import { binaryOps, comparisons, unaryOps } from './elementwise-ops.js';
import { describeTargets, roundTo } from './targets.js';

/**
 * The IEEE 754 corner cases, through every elementwise op, the reductions, the softmax family and
 * topk, on every target. The semantics are the CPU backend's: IEEE 754, as in NumPy and PyTorch.
 * NaN propagates (through relu, max/min, maximum/minimum, sign, abs, sum and softmax too, and
 * argmax/argmin/topk rank it first); max(−0, +0) is +0 and min is −0 in either order; relu(−0) is
 * +0, as maximum(−0, 0) (PyTorch 1.13 gives −0: both are zeros, this one is consistent with
 * maximum); sign(NaN) is NaN (NumPy; PyTorch 1.13 gives 0); pow(1, NaN) = pow(−1, ±∞) = 1 (IEEE,
 * NumPy, PyTorch; JavaScript's Math.pow gives NaN).
 *
 * Expected values are the float64 reference (test/reference) applied to the inputs as the target
 * holds them, rounded to the target's dtype. Every element is judged on its own: a NaN must be
 * NaN, an infinity that infinity, a zero that zero with its sign, and anything else within the
 * target's componentwise tolerance (1e-6, about 8 ulps, in float32; tolerance.ts) of its own
 * size, since these values span 80 orders of magnitude.
 */

const F32_MAX = 3.4028234663852886e38;
const F32_LOWEST = -F32_MAX;
const F32_MIN_NORMAL = 2 ** -126;
const F32_MIN_SUBNORMAL = 2 ** -149;

/** NaN, signed zeros, infinities, float32's extremes, subnormals, tiny arguments, and a few ordinary values to meet them. */
const SPECIALS = [
  NaN, 0, -0, Infinity, -Infinity, F32_MAX, F32_LOWEST, F32_MIN_NORMAL, 1e-40, -1e-40, F32_MIN_SUBNORMAL,
  1e-5, -1e-5, 1e-7, 1, -1, 0.5, 3,
];

/**
 * Rows for the reductions along the last axis: NaN among numbers, signed zeros in both orders,
 * both infinities, sums that overflow float32 (or do not, whatever the order of addition), and
 * subnormals.
 */
const REDUCTION_ROWS = [
  [1, NaN, 3, -2],
  [2, 1, NaN, NaN],
  [-0, 0, -0, 0],
  [0, -0, 0, -0],
  [Infinity, 1, -Infinity, 2],
  [-Infinity, -Infinity, -Infinity, -Infinity],
  [F32_MAX, 1, 2, 3],
  [F32_LOWEST, -1, F32_LOWEST, 0],
  [1e-40, F32_MIN_SUBNORMAL, F32_MIN_NORMAL, 0],
];

/**
 * Rows for the softmax family: a row of float32's lowest value (the attention-mask fill Hugging
 * Face uses, whose softmax is uniform), that fill among real logits, NaN, infinities, the float32
 * extremes together, and subnormals and tiny values (a nearly uniform row).
 */
const SOFTMAX_ROWS = [
  [F32_LOWEST, F32_LOWEST, F32_LOWEST, F32_LOWEST],
  [F32_LOWEST, 2, F32_LOWEST, 1],
  [NaN, 1, 2, 3],
  [-Infinity, 0, -Infinity, 1],
  [Infinity, 1, 2, 3],
  [-Infinity, -Infinity, -Infinity, -Infinity],
  [F32_MAX, F32_MAX, 0, F32_LOWEST],
  [1e-40, F32_MIN_SUBNORMAL, 0, -0],
  [1e-5, 1e-7, -1e-5, 0],
];

/** Ties, NaN, both infinities and both zeros on one line. */
const TOPK_ROWS = [
  [1, NaN, 3, -Infinity, Infinity, -0, 0, 3],
  [F32_LOWEST, F32_MIN_SUBNORMAL, NaN, F32_MAX, -1e-40, 0, -0, NaN],
];

const matrix = (rows: number[][]): RefTensor => ({ shape: [rows.length, rows[0]!.length], data: rows.flat() });
const rowOf = (m: RefTensor, r: number): string => show(m.data.slice(r * m.shape[1]!, (r + 1) * m.shape[1]!));

describeTargets('special values', (target) => {
  const { input, expectExactly } = checksFor(target);
  const round = roundTo(target);
  const tolerance = target.tolerance.componentwise;
  /** The inputs as the target holds them (1e-40 is a float32 subnormal, 2⁻¹⁴⁹ float32's smallest). */
  const held = (x: RefTensor): RefTensor => ({ shape: x.shape, data: round(x.data) });

  const agrees = (got: number, want: number, within = tolerance): boolean =>
    Object.is(got, want) || (want !== 0 && componentwiseError([got], [want]) <= within);

  /**
   * Asserts every element agrees with the reference's, rounded, within the componentwise
   * tolerance (or `within(i)`); lists the ones that do not, as `label(i) = got, expected want`.
   */
  function expectAgreement(actual: Tensor, reference: RefTensor, label: (i: number) => string, within?: (i: number) => number): void {
    expect(actual.shape).toEqual(reference.shape);
    const got = actual.dataSync(), want = round(reference.data);
    const wrong = want.flatMap((w, i) => (agrees(got[i]!, w, within?.(i)) ? [] : [`${label(i)} = ${fmt(got[i]!)}, expected ${fmt(w)}`]));
    expect(wrong, wrong.join('\n')).toEqual([]);
  }

  const x = held({ shape: [SPECIALS.length], data: SPECIALS });
  const column = { shape: [SPECIALS.length, 1], data: x.data };
  const operands = (i: number): [number, number] => [x.data[Math.floor(i / x.data.length)]!, x.data[i % x.data.length]!];
  const pair = (i: number): string => operands(i).map(fmt).join(', ');

  for (const { name, op, ref } of unaryOps) {
    it(`${name} at NaN, ±0, ±Infinity, float32's extremes, subnormals and tiny arguments`, () => {
      expectAgreement(op(input(x)), unary(x, ref), (i) => `${name}(${fmt(x.data[i]!)})`);
    });
  }

  it('sign, as the gradient of abs, is ±1, 0 at ±0, and NaN at NaN', () => {
    const leaf = tensor(x.data, { dtype: target.dtype, requiresGrad: true });
    T.abs(leaf).backward(T.onesLike(leaf));
    // The sign of a zero gradient means nothing (backward adds gradients up, and −0 + 0 = +0): compare zeros as +0.
    const asPositiveZero = (values: ArrayLike<number>) => Array.from(values, (v) => v + 0);
    const grad = tensor(asPositiveZero(leaf.grad!.dataSync()), { dtype: target.dtype });
    expectAgreement(grad, { shape: x.shape, data: asPositiveZero(unary(x, sign).data) }, (i) => `abs'(${fmt(x.data[i]!)})`);
  });

  const { powTolerance } = target;
  for (const { name, op, ref } of binaryOps) {
    const within = name === 'pow' && powTolerance ? (i: number) => Math.max(tolerance, powTolerance(...operands(i))) : undefined;
    it(`${name} of every pair of special values`, () => {
      expectAgreement(op(input(column), input(x)), binary(column, x, ref), (i) => `${name}(${pair(i)})`, within);
    });
  }

  for (const { name, op, ref } of comparisons) {
    it(`${name} of every pair of special values: false with NaN (true for ne), −0 equal to +0`, () => {
      const out = op(input(column), input(x));
      expect(out.dtype).toBe('int32');
      expectAgreement(out, binary(column, x, ref), (i) => `${name}(${pair(i)})`);
    });
  }

  it('where picks its operands\' special values unchanged', () => {
    const b = { shape: x.shape, data: x.data.slice().reverse() };
    const cond = x.data.map((_, i) => i % 2);
    const picked = { shape: x.shape, data: x.data.map((v, i) => (cond[i] ? v : b.data[i]!)) };
    expectAgreement(T.where(tensor(cond, { dtype: 'int32' }), input(x), input(b)), picked, (i) => `where(${cond[i]}, ${fmt(x.data[i]!)}, ${fmt(b.data[i]!)})`);
  });

  const rows = held(matrix(REDUCTION_ROWS));
  for (const op of ['sum', 'max', 'min'] as const) {
    it(`${op} along rows with NaN, signed zeros, infinities, float32's extremes and subnormals`, () => {
      expectAgreement(T[op](input(rows), -1), reduce(rows, [-1], false, op), (r) => `${op}(${rowOf(rows, r)})`);
    });
  }

  it('argmax and argmin along the same rows: the first NaN, else the first extreme', () => {
    expectExactly(T.argmax(input(rows), -1), argmax(rows, -1));
    expectExactly(T.argmin(input(rows), -1), argmin(rows, -1));
  });

  const logits = held(matrix(SOFTMAX_ROWS));
  /** Element i of a result shaped like the logits, named by its row. */
  const entry = (op: string) => (i: number): string => `${op}(${rowOf(logits, Math.floor(i / logits.shape[1]!))})[${i % logits.shape[1]!}]`;
  it('softmax of a row of float32\'s lowest value is uniform; NaN and +Infinity give NaN', () => {
    expectAgreement(T.softmax(input(logits), -1), softmax(logits, -1), entry('softmax'));
  });

  it('logSoftmax along the same rows', () => {
    expectAgreement(T.logSoftmax(input(logits), -1), logSoftmax(logits, -1), entry('logSoftmax'));
  });

  it('logsumexp along the same rows: the max where it is infinite, NaN with a NaN', () => {
    expectAgreement(T.logsumexp(input(logits), -1), logsumexp(logits, -1, false), (r) => `logsumexp(${rowOf(logits, r)})`);
  });

  it('topk ranks NaN first, then +Infinity, ties (−0 and +0 among them) in index order', () => {
    const lines = held(matrix(TOPK_ROWS));
    const k = lines.shape[1]!;
    const { values, indices } = T.topk(input(lines), k, -1);
    const expected = topk(lines, k, -1);
    expectExactly(values, expected.values);
    expectExactly(indices, expected.indices);
  });
});
