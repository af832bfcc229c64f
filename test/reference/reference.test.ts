/**
 * The reference math against small examples worked out by hand, so that a property test that
 * compares the library with the reference compares it with something known to be right.
 */

import { describe, expect, it } from 'vitest';
import { maxAbsError } from '../tolerance.js';
import { binary, broadcastShape, gelu, pow, relu, sigmoid, sign, unary } from './elementwise.js';
import { gather, oneHot, scatterAdd, topk, transpose } from './indexing.js';
import { crossEntropy } from './loss.js';
import { matmul } from './matmul.js';
import { argmax, argmin, reduce } from './reduce.js';
import { logSoftmax, logsumexp, softmax } from './softmax.js';
import { type Nested, fromNested, ravel, strides, toNested, unravel } from './tensor.js';

const LN2 = Math.log(2), LN3 = Math.log(3);

/** Within 0.5e-12 of the hand-worked value, element by element (what toBeCloseTo(v, 12) checks). */
function expectClose(actual: number[], expected: number[]): void {
  expect(maxAbsError(actual, expected)).toBeLessThan(0.5e-12);
}

const t = (nested: Nested) => fromNested(nested);

describe('tensor helpers', () => {
  it('index arithmetic on [2,3,4]', () => {
    expect(strides([2, 3, 4])).toEqual([12, 4, 1]);
    expect(unravel(17, [2, 3, 4])).toEqual([1, 1, 1]);
    expect(ravel([1, 2, 3], [2, 3, 4])).toBe(23);
  });

  it('nested round trip, scalars and ragged input', () => {
    expect(t([[1, 2, 3], [4, 5, 6]])).toEqual({ shape: [2, 3], data: [1, 2, 3, 4, 5, 6] });
    expect(toNested({ shape: [3, 1], data: [7, 8, 9] })).toEqual([[7], [8], [9]]);
    expect(t(5)).toEqual({ shape: [], data: [5] });
    expect(toNested({ shape: [], data: [5] })).toBe(5);
    expect(() => t([[1, 2], [3]])).toThrow();
  });
});

describe('elementwise', () => {
  it('broadcasts [2,1] + [3] to [2,3]', () => {
    const out = binary(t([[10], [20]]), t([1, 2, 3]), (x, y) => x + y);
    expect(out).toEqual({ shape: [2, 3], data: [11, 12, 13, 21, 22, 23] });
  });

  it('broadcast shapes follow NumPy', () => {
    expect(broadcastShape([5, 1, 4], [3, 1])).toEqual([5, 3, 4]);
    expect(broadcastShape([], [2, 2])).toEqual([2, 2]);
    expect(() => broadcastShape([2, 3], [4])).toThrow();
  });

  it('scalar activations', () => {
    expect(unary(t([-2, 0, 3]), relu).data).toEqual([0, 0, 3]);
    expect(sigmoid(0)).toBe(0.5);
    expect(sigmoid(LN3)).toBeCloseTo(0.75, 12);
    expect(gelu(0)).toBe(0);
    expect(gelu(1)).toBeCloseTo(0.8411919906082768, 12);
  });

  it('gelu keeps its relative accuracy in the negative tail, where 1 + tanh u cancels', () => {
    // 60-digit values of 0.5·x·(1 + tanh u) (Python's decimal); the tanh form in double is off by 3e-10 at −5 and gives −0 at −12.
    const exact: [number, number][] = [[-5, -2.29179619662950604559275532854690502684821645985346704507113e-7], [-12, -1.63598544935348105935337936336320165538685426318917922343310e-61]];
    for (const [x, want] of exact) expect(Math.abs(gelu(x) - want) / Math.abs(want)).toBeLessThan(1e-14);
  });

  it('relu and sign propagate NaN; relu(−0) is +0 and sign keeps the sign of a zero', () => {
    expect([NaN, -0, 0, -Infinity].map(relu)).toEqual([NaN, 0, 0, 0]);
    expect([NaN, -0, 0, -3, Infinity].map(sign)).toEqual([NaN, -0, 0, -1, 1]);
  });

  it('pow is IEEE 754 pow: 1^y = 1 for any y, (−1)^±∞ = 1, x^0 = 1 even for NaN', () => {
    expect([NaN, Infinity, -Infinity].map((y) => pow(1, y))).toEqual([1, 1, 1]);
    expect([Infinity, -Infinity].map((y) => pow(-1, y))).toEqual([1, 1]);
    expect([pow(NaN, 0), pow(NaN, 1), pow(2, NaN), pow(-8, 1 / 3), pow(-0, -1), pow(0.5, Infinity)]).toEqual([1, NaN, NaN, NaN, -Infinity, 0]);
  });
});

describe('matmul', () => {
  it('2x2 by hand', () => {
    // [1 2; 3 4] @ [5 6; 7 8] = [1*5+2*7, 1*6+2*8; 3*5+4*7, 3*6+4*8]
    expect(matmul(t([[1, 2], [3, 4]]), t([[5, 6], [7, 8]]))).toEqual({ shape: [2, 2], data: [19, 22, 43, 50] });
  });

  it('vector cases drop the added dim', () => {
    expect(matmul(t([1, 2, 3]), t([4, 5, 6]))).toEqual({ shape: [], data: [32] });
    expect(matmul(t([1, 2]), t([[5, 6], [7, 8]]))).toEqual({ shape: [2], data: [19, 22] });
    expect(matmul(t([[1, 2], [3, 4]]), t([5, 6]))).toEqual({ shape: [2], data: [17, 39] });
  });

  it('batched with broadcast batch dims', () => {
    const identityTimes12 = t([[[1, 0], [0, 1]], [[2, 0], [0, 2]]]);
    expect(matmul(identityTimes12, t([[5, 6], [7, 8]]))).toEqual({ shape: [2, 2, 2], data: [5, 6, 7, 8, 10, 12, 14, 16] });
    // a [2,1,1,2] rows (1,1),(1,2); b [3,2,1] columns (1,0),(0,1),(1,1): every pair's dot product.
    const out = matmul(t([[[[1, 1]]], [[[1, 2]]]]), t([[[1], [0]], [[0], [1]], [[1], [1]]]));
    expect(out).toEqual({ shape: [2, 3, 1, 1], data: [1, 1, 2, 1, 2, 3] });
  });

  it('rejects mismatched inner dims', () => {
    expect(() => matmul(t([[1, 2, 3]]), t([[1, 2]]))).toThrow();
  });
});

describe('reduce', () => {
  const x = t([[1, 2, 3], [4, 5, 6]]);

  it('each op over one axis, all axes, keepDims', () => {
    expect(reduce(x, [0], false, 'sum')).toEqual({ shape: [3], data: [5, 7, 9] });
    expect(reduce(x, [-1], true, 'sum')).toEqual({ shape: [2, 1], data: [6, 15] });
    expect(reduce(x, undefined, false, 'mean')).toEqual({ shape: [], data: [3.5] });
    expect(reduce(x, undefined, true, 'max')).toEqual({ shape: [1, 1], data: [6] });
    expect(reduce(x, [1], false, 'min')).toEqual({ shape: [2], data: [1, 4] });
  });

  it('non-adjacent axes of a 3-D tensor', () => {
    const y = { shape: [2, 2, 2], data: [0, 1, 2, 3, 4, 5, 6, 7] };
    // middle index 0: 0+1+4+5; middle index 1: 2+3+6+7
    expect(reduce(y, [0, 2], false, 'sum')).toEqual({ shape: [2], data: [10, 18] });
  });

  it('argmax takes the first of tied maxima', () => {
    const z = t([[3, 1, 3], [0, 2, 2]]);
    expect(argmax(z, 1)).toEqual({ shape: [2], data: [0, 1] });
    expect(argmax(z, 0)).toEqual({ shape: [3], data: [0, 1, 0] });
    expect(argmax(t([1, NaN, 5]), 0).data).toEqual([1]);
  });

  it('argmin takes the first of tied minima, and the first NaN over any number', () => {
    expect(argmin(t([[3, 1, 1], [0, 2, -0]]), 1)).toEqual({ shape: [2], data: [1, 0] });
    expect(argmin(t([1, NaN, -5, NaN]), 0).data).toEqual([1]);
  });
});

describe('softmax', () => {
  it('softmax of [0, ln 3] is [1/4, 3/4], along either axis', () => {
    expectClose(softmax(t([0, LN3]), 0).data, [0.25, 0.75]);
    const cols = softmax(t([[0, 0], [LN3, 0]]), 0);
    expect(cols.shape).toEqual([2, 2]);
    expectClose(cols.data, [0.25, 0.5, 0.75, 0.5]);
  });

  it('stays exact for |x| >= 1000', () => {
    expect(logsumexp(t([1000, 1000]), 0, false)).toEqual({ shape: [], data: [1000 + LN2] });
    expect(logsumexp(t([-1000, -1000]), -1, false).data[0]).toBeCloseTo(-1000 + LN2, 10);
    expectClose(softmax(t([1000, 1000]), 0).data, [0.5, 0.5]);
    expectClose(logSoftmax(t([1000, 1000]), 0).data, [-LN2, -LN2]);
    // log(1 + e^-1000) rounds to 0, so the log-probabilities are the shifted logits.
    expect(logSoftmax(t([-1000, 0]), 0).data).toEqual([-1000, 0]);
  });

  it('logsumexp keeps dims and handles all -inf', () => {
    const out = logsumexp(t([[0, 0], [LN3, 0]]), 0, true);
    expect(out.shape).toEqual([1, 2]);
    expectClose(out.data, [Math.log(4), LN2]);
    expect(logsumexp(t([-Infinity, -Infinity]), 0, false).data).toEqual([-Infinity]);
  });
});

describe('crossEntropy', () => {
  it('uniform logits give ln C', () => {
    const zeros = { shape: [3, 5], data: new Array<number>(15).fill(0) };
    expect(crossEntropy(zeros, [0, 4, 2])).toBeCloseTo(Math.log(5), 12);
  });

  it('means over the rows that count', () => {
    const logits = t([[0, LN3], [0, 0]]); // row 0 probs [1/4, 3/4], row 1 [1/2, 1/2]
    expect(crossEntropy(logits, [0, 1])).toBeCloseTo((Math.log(4) + LN2) / 2, 12);
    expect(crossEntropy(logits, [1, -100], { ignoreIndex: -100 })).toBeCloseTo(Math.log(4 / 3), 12);
    expect(crossEntropy(logits, [1, 0], { mask: [1, 0] })).toBeCloseTo(Math.log(4 / 3), 12);
    expect(crossEntropy(logits, [7, 7], { ignoreIndex: 7 })).toBeNaN();
  });
});

describe('indexing', () => {
  const x = t([[1, 2, 3], [4, 5, 6]]);

  it('gather is index_select', () => {
    expect(gather(x, [2, 0, 2], 1)).toEqual({ shape: [2, 3], data: [3, 1, 3, 6, 4, 6] });
    expect(gather(x, [1], 0)).toEqual({ shape: [1, 3], data: [4, 5, 6] });
    expect(() => gather(x, [3], 1)).toThrow();
  });

  it('scatterAdd accumulates duplicate indices', () => {
    expect(scatterAdd(t([0, 0, 0]), [0, 2, 0], t([1, 2, 3]), 0).data).toEqual([4, 0, 2]);
    expect(scatterAdd(t([[0, 0, 0], [0, 0, 0]]), [1, 1], t([[1, 2], [3, 4]]), 1).data).toEqual([0, 3, 0, 0, 7, 0]);
    const rows = scatterAdd(t([[10, 20], [30, 40]]), [1, 1, 0], t([[1, 1], [2, 2], [3, 3]]), 0);
    expect(rows).toEqual({ shape: [2, 2], data: [13, 23, 33, 43] });
  });

  it('oneHot', () => {
    expect(oneHot([2, 0], 3)).toEqual({ shape: [2, 3], data: [0, 0, 1, 1, 0, 0] });
    expect(() => oneHot([3], 3)).toThrow();
  });

  it('transpose', () => {
    expect(toNested(transpose(x))).toEqual([[1, 4], [2, 5], [3, 6]]);
    // out[i][j][k] = a[j][k][i]
    const cube = { shape: [2, 2, 2], data: [0, 1, 2, 3, 4, 5, 6, 7] };
    expect(toNested(transpose(cube, [2, 0, 1]))).toEqual([[[0, 2], [4, 6]], [[1, 3], [5, 7]]]);
    expect(transpose({ shape: [2, 3, 4], data: new Array<number>(24).fill(0) }).shape).toEqual([4, 3, 2]);
  });

  it('topk sorts descending with ties to the lower index', () => {
    expect(topk(t([1, 3, 2, 3]), 2, 0)).toEqual({ values: { shape: [2], data: [3, 3] }, indices: { shape: [2], data: [1, 3] } });
    const cols = topk(t([[1, 5], [4, 2], [4, 9]]), 2, 0);
    expect(toNested(cols.values)).toEqual([[4, 9], [4, 5]]);
    expect(toNested(cols.indices)).toEqual([[1, 2], [2, 0]]);
  });

  it('topk ranks NaN above any number, NaNs and signed zeros tied in index order', () => {
    expect(topk(t([1, NaN, -0, Infinity, NaN, 0]), 6, 0)).toEqual({
      values: { shape: [6], data: [NaN, NaN, Infinity, 1, -0, 0] },
      indices: { shape: [6], data: [1, 4, 3, 0, 2, 5] },
    });
  });
});
