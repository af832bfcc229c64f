import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as T from '@switch-ts/tensor';
import { tensor, type DType, type Tensor } from '@switch-ts/tensor';
import * as A from '../arbitraries.js';
import { binary, unary } from '../reference/elementwise.js';
import { gather, oneHot, scatterAdd, topk, transpose } from '../reference/indexing.js';
import { crossEntropy } from '../reference/loss.js';
import { matmul } from '../reference/matmul.js';
import { argmax, reduce, type ReduceOp } from '../reference/reduce.js';
import { logSoftmax, logsumexp, softmax } from '../reference/softmax.js';
import { ravel, unravel } from '../reference/tensor.js';
import { maxNorm } from '../tolerance.js';
import { checksFor, show, type Values } from './checks.js';
import { binaryOps, comparisons, unaryOps } from './elementwise-ops.js';
import { describeTargets } from './targets.js';

/**
 * Every op against the plain float64 reference in test/reference, and the algebraic laws the ops
 * obey, on every target (targets.ts). Inputs are what the target's dtype holds (float32 targets
 * get rounded data, kept clear of underflow), the reference runs on the same inputs in float64,
 * and its result is rounded to the target's dtype.
 *
 * Tolerance: the target's normwise tolerance (1e-12 for float64, 1e-5 for the CPU backend in
 * float32, 1e-4 for the gpu backend; tolerance.ts). For ops that round once per element
 * (elementwise maps, softmax, indexing) the error is max|lib − ref| / max|ref| over the tensor.
 * For ops that accumulate (sum, mean, matmul) a different summation order is allowed to round
 * differently, so each element's error is measured against the magnitude of the terms it sums,
 * |lib − ref| / Σ|term| (i.e. the reference applied to |x|, or |A|·|B|), which is the scale of a
 * rounding error in a sum and does not blow up when terms cancel. Selection ops (max, min,
 * argmax, topk, gather, transpose, oneHot, slice, concat, where) do no arithmetic and must match
 * exactly. crossEntropy is measured against max(|loss|, max|logit|) (see its describe block). NaN
 * matches only NaN and an infinity only itself.
 */

const int32 = (values: readonly number[], shape: readonly number[] = [values.length]): Tensor => tensor(values, { shape, dtype: 'int32' });
const absOf = <X extends Values>(x: X): X => ({ ...x, data: x.data.map(Math.abs) });

describeTargets('ops against the float64 reference', (target) => {
  const { input, data, dataOf, expectMatches, expectExactly, runs } = checksFor(target);
  const tolerance = target.tolerance.normwise;

  describe('matmul against the naive triple loop', () => {
    it('agrees for NumPy-semantics shapes (1-D, 2-D, batched with broadcast batch dims), error measured against |A|·|B|', () => {
      const cases = A.matmulShapes({ maxDim: 9 }).chain(({ a, b }) => fc.tuple(dataOf(a), dataOf(b)));
      fc.assert(fc.property(cases, ([a, b]) => {
        expectMatches(T.matmul(input(a), input(b)), matmul(a, b), matmul(absOf(a), absOf(b)).data);
      }), runs);
    });

    it('matmulTransposed(a, b, transA, transB) is the product of the operands with their last two dims swapped where asked', () => {
      const swapLast = (x: A.Data): A.Data => transpose(x, x.shape.map((_, i) => (i < x.shape.length - 2 ? i : 2 * x.shape.length - 3 - i)));
      const cases = fc.record({ m: fc.integer({ min: 1, max: 6 }), k: fc.integer({ min: 1, max: 6 }), n: fc.integer({ min: 1, max: 6 }),
        transA: fc.boolean(), transB: fc.boolean(), batch: A.broadcastPair({ maxRank: 2, maxDim: 3 }) })
        .chain(({ m, k, n, transA, transB, batch: [ba, bb] }) => fc.record({
          a: dataOf(transA ? [...ba, k, m] : [...ba, m, k]), b: dataOf(transB ? [...bb, n, k] : [...bb, k, n]),
          transA: fc.constant(transA), transB: fc.constant(transB),
        }));
      fc.assert(fc.property(cases, ({ a, b, transA, transB }) => {
        const [pa, pb] = [transA ? swapLast(a) : a, transB ? swapLast(b) : b];
        expectMatches(T.matmulTransposed(input(a), input(b), transA, transB), matmul(pa, pb), matmul(absOf(pa), absOf(pb)).data);
      }), runs);
    });

    it('agrees for zero-length inner and outer dims (an empty sum is 0)', () => {
      const cases = fc.record({ m: fc.integer({ min: 0, max: 3 }), k: fc.integer({ min: 0, max: 3 }), n: fc.integer({ min: 0, max: 3 }) })
        .filter(({ m, k, n }) => m * k * n === 0)
        .chain(({ m, k, n }) => fc.tuple(dataOf([m, k]), dataOf([k, n])));
      fc.assert(fc.property(cases, ([a, b]) => expectExactly(T.matmul(input(a), input(b)), matmul(a, b))), runs);
    });
  });

  describe('reductions against the reference', () => {
    const reductionCase = (minDim: number) => A.shape({ minDim, maxRank: 4 }).chain((sh) =>
      fc.record({ x: dataOf(sh), axes: fc.option(A.axes(sh.length), { nil: undefined }), keepDims: fc.boolean() }));
    const lib: Record<ReduceOp, (x: Tensor, axes: number[] | undefined, keepDims: boolean) => Tensor> = {
      sum: T.sum, mean: T.mean, max: T.max, min: T.min,
    };

    for (const op of ['sum', 'mean'] as const) {
      it(`${op} over random axes (negative ones too), with and without keepDims, error measured against ${op}(|x|)`, () => {
        fc.assert(fc.property(reductionCase(1), ({ x, axes, keepDims }) => {
          expectMatches(lib[op](input(x), axes, keepDims), reduce(x, axes, keepDims, op), reduce(absOf(x), axes, keepDims, op).data);
        }), runs);
      });

      it(`${op} over shapes with zero-length dims: an empty ${op === 'sum' ? 'sum is 0' : 'mean is NaN'}`, () => {
        fc.assert(fc.property(reductionCase(0), ({ x, axes, keepDims }) => {
          expectMatches(lib[op](input(x), axes, keepDims), reduce(x, axes, keepDims, op), reduce(absOf(x), axes, keepDims, op).data);
        }), runs);
      });
    }

    for (const op of ['max', 'min'] as const) {
      it(`${op} over random axes, with and without keepDims, is exactly the reference's`, () => {
        fc.assert(fc.property(reductionCase(1), ({ x, axes, keepDims }) => {
          expectExactly(lib[op](input(x), axes, keepDims), reduce(x, axes, keepDims, op));
        }), runs);
      });
    }

    /** Small integers (so that ties are common, +0 among them) mixed with −0, NaN and ±Infinity. */
    const special = (n: number) => fc.array(fc.oneof(fc.integer({ min: -2, max: 2 }), fc.constantFrom(-0, NaN, Infinity, -Infinity)), { minLength: n, maxLength: n });

    for (const op of ['max', 'min'] as const) {
      it(`${op} propagates NaN, orders −0 below +0 and handles ±Infinity like the reference`, () => {
        const cases = A.shape({ maxRank: 3 }).chain((sh) =>
          fc.record({ x: dataOf(sh, special), axes: fc.option(A.axes(sh.length), { nil: undefined }), keepDims: fc.boolean() }));
        fc.assert(fc.property(cases, ({ x, axes, keepDims }) => expectExactly(lib[op](input(x), axes, keepDims), reduce(x, axes, keepDims, op))), runs);
      });
    }

    it('max(−0, +0) is +0 and min is −0 in either order, in the reductions and in maximum/minimum', () => {
      for (const pair of [[0, -0], [-0, 0]]) {
        const x = { shape: [2], data: pair };
        const [a, b] = pair.map((v) => input({ shape: [1], data: [v] })) as [Tensor, Tensor];
        // toBe compares with Object.is, which tells −0 from +0.
        expect(T.max(input(x)).item(), `max(${show(pair)})`).toBe(0);
        expect(T.min(input(x)).item(), `min(${show(pair)})`).toBe(-0);
        expect(T.maximum(a, b).item(), `maximum(${show(pair)})`).toBe(0);
        expect(T.minimum(a, b).item(), `minimum(${show(pair)})`).toBe(-0);
      }
    });

    it('argmax picks the first of tied maxima, and a NaN over any number, like the reference', () => {
      const cases = A.shape({ minRank: 1 }).chain((sh) =>
        fc.record({ x: dataOf(sh, special), axis: A.axis(sh.length) }));
      fc.assert(fc.property(cases, ({ x, axis }) => expectExactly(T.argmax(input(x), axis), argmax(x, axis))), runs);
    });
  });

  describe('softmax, logSoftmax and logsumexp against the reference', () => {
    const moderate = (n: number) => A.values(n, { min: -20, max: 20 });
    /** Logits with |x| in [1000, 5000]: exp(x) overflows or underflows without the max shift. */
    const huge = (n: number) => A.awayFromZero(n, { min: 1000, max: 5000 });
    const cases = (of: (n: number) => fc.Arbitrary<number[]>) =>
      A.shape({ minRank: 1 }).chain((sh) => fc.record({ x: dataOf(sh, of), axis: A.axis(sh.length), keepDims: fc.boolean() }));

    for (const [range, of] of [['moderate logits', moderate], ['logits with |x| ≥ 1000', huge]] as const) {
      it(`softmax along a random axis, ${range}`, () => {
        fc.assert(fc.property(cases(of), ({ x, axis }) => expectMatches(T.softmax(input(x), axis), softmax(x, axis))), runs);
      });

      it(`logSoftmax along a random axis, ${range}`, () => {
        fc.assert(fc.property(cases(of), ({ x, axis }) => expectMatches(T.logSoftmax(input(x), axis), logSoftmax(x, axis))), runs);
      });

      // In float32, judged against max(|result|, |x|): ∂ logsumexp / ∂x_j = softmax_j ≤ 1, so
      // float32 inputs alone leave an absolute uncertainty of ε·max|x|, and a result near 0
      // (log(1 + 1.6e-4) from [0, −8.7]) cannot be held to its own size by a kernel that rounds
      // Σ exp to float32 (the gpu's). float64 keeps the measure against |result|.
      it(`logsumexp along a random axis with and without keepDims, ${range}`, () => {
        fc.assert(fc.property(cases(of), ({ x, axis, keepDims }) => {
          const want = logsumexp(x, axis, keepDims);
          const scale = target.dtype === 'float32' ? Math.max(maxNorm(want.data), maxNorm(x.data)) : undefined;
          expectMatches(T.logsumexp(input(x), axis, keepDims), want, scale);
        }), runs);
      });
    }

    it('over zero-length dims: softmax and logSoftmax are empty, logsumexp of an empty line is -Infinity', () => {
      const cases = A.shape({ minRank: 1, minDim: 0, maxDim: 3 }).filter((sh) => sh.includes(0))
        .chain((sh) => fc.record({ x: dataOf(sh), axis: A.axis(sh.length), keepDims: fc.boolean() }));
      fc.assert(fc.property(cases, ({ x, axis, keepDims }) => {
        expectExactly(T.softmax(input(x), axis), softmax(x, axis));
        expectExactly(T.logSoftmax(input(x), axis), logSoftmax(x, axis));
        expectExactly(T.logsumexp(input(x), axis, keepDims), logsumexp(x, axis, keepDims));
      }), runs);
    });

    it('gives finite answers at the extremes', () => {
      const x = input({ shape: [4, 2], data: [1000, 1000, -1000, -1000, 1000, -1000, 0, -Infinity] });
      expect(T.softmax(x).toArray()).toEqual([[0.5, 0.5], [0.5, 0.5], [1, 0], [1, 0]]);
      const lse = { shape: [4], data: [1000 + Math.LN2, -1000 + Math.LN2, 1000, 0] };
      // In float64 max + log 2 rounds exactly as the reference does; float32 targets compute log 2 themselves.
      if (target.dtype === 'float64') expectExactly(T.logsumexp(x), lse);
      else expectMatches(T.logsumexp(x), lse);
      expectMatches(T.logSoftmax(x), { shape: [4, 2], data: [-Math.LN2, -Math.LN2, -Math.LN2, -Math.LN2, 0, -2000, 0, -Infinity] });
    });
  });

  describe('crossEntropy against the reference', () => {
    /**
     * The loss is lse(row) − row[target], a difference of terms as large as the logits: when the
     * model is confident the loss is far smaller than its terms, and any float64 evaluation (the
     * reference's included) carries an error of order ε·max|logit|. So the error is measured against
     * max(|loss|, max|logit|).
     */
    const scaleOf = (logits: A.Data, loss: number) => Math.max(Math.abs(loss), ...logits.data.map(Math.abs));

    it('is the mean NLL over rows not ignored and not masked (NaN when none count)', () => {
      const cases = fc.record({ n: fc.integer({ min: 1, max: 6 }), c: fc.integer({ min: 1, max: 6 }) }).chain(({ n, c }) =>
        fc.record({
          logits: dataOf([n, c], (k) => A.values(k, { min: -30, max: 30 })),
          targets: A.indices(n, c),
          ignored: fc.array(fc.boolean(), { minLength: n, maxLength: n }),
          mask: fc.option(fc.array(fc.constantFrom(0, 1, 2), { minLength: n, maxLength: n }), { nil: undefined }),
          ignoreIndex: fc.option(fc.constantFrom(-100, -1), { nil: undefined }),
        }));
      fc.assert(fc.property(cases, ({ logits, targets, ignored, mask, ignoreIndex }) => {
        const t = targets.map((v, i) => (ignoreIndex !== undefined && ignored[i] ? ignoreIndex : v));
        const opts = { ...(ignoreIndex !== undefined ? { ignoreIndex } : {}), ...(mask ? { mask } : {}) };
        const libOpts = { ...(ignoreIndex !== undefined ? { ignoreIndex } : {}), ...(mask ? { mask: int32(mask) } : {}) };
        const expected = crossEntropy(logits, t, opts);
        const actual = T.crossEntropy(input(logits), int32(t), libOpts);
        expectMatches(actual, { shape: [], data: [expected] }, scaleOf(logits, expected));
      }), runs);
    });

    it('matches at logits of magnitude ≥ 1000', () => {
      const logits = { shape: [2, 3], data: [1000, -1000, 0, -3000, -2000, -1000] };
      const expected = crossEntropy(logits, [1, 2]);
      expectMatches(T.crossEntropy(input(logits), int32([1, 2])), { shape: [], data: [expected] }, scaleOf(logits, expected));
    });
  });

  describe('elementwise ops with broadcasting against the reference', () => {
    const operands = A.broadcastPair({ maxRank: 4 }).chain(([sa, sb]) => fc.tuple(dataOf(sa), dataOf(sb)));
    for (const { name, op, ref } of binaryOps) {
      it(`${name} broadcasts like NumPy and agrees with the reference`, () => {
        fc.assert(fc.property(operands, ([a, b]) => expectMatches(op(input(a), input(b)), binary(a, b, ref))), runs);
      });
    }

    const smallInts = (n: number) => fc.array(fc.integer({ min: -2, max: 2 }), { minLength: n, maxLength: n });
    const tiedOperands = A.broadcastPair({ maxRank: 4 }).chain(([sa, sb]) => fc.tuple(dataOf(sa, smallInts), dataOf(sb, smallInts)));
    for (const { name, op, ref } of comparisons) {
      it(`${name} gives an int32 0/1 mask with broadcasting`, () => {
        fc.assert(fc.property(tiedOperands, ([a, b]) => {
          const out = op(input(a), input(b));
          expect(out.dtype).toBe('int32');
          expectExactly(out, binary(a, b, ref));
        }), runs);
      });
    }

    for (const { name, op, ref } of unaryOps) {
      it(`${name} agrees with the reference elementwise`, () => {
        fc.assert(fc.property(data(A.shape({ maxRank: 4 }), (n) => A.values(n, { min: -30, max: 30 })), (x) =>
          expectMatches(op(input(x)), unary(x, ref))), runs);
      });
    }
  });

  describe('indexing ops against the reference', () => {
    const withAxis = A.shape({ minRank: 1 }).chain((sh) => fc.record({ x: dataOf(sh), axis: A.axis(sh.length) }));
    const axisLength = (x: A.Data, axis: number) => x.shape[axis < 0 ? axis + x.shape.length : axis]!;

    it('gather picks whole slices, duplicates included', () => {
      const cases = withAxis.chain(({ x, axis }) => fc.integer({ min: 0, max: 6 }).chain((n) =>
        A.indices(n, axisLength(x, axis)).map((iv) => ({ x, axis, iv }))));
      fc.assert(fc.property(cases, ({ x, axis, iv }) => expectExactly(T.gather(input(x), int32(iv), axis), gather(x, iv, axis))), runs);
    });

    it('gather with 2-D indices is gather with the flattened indices, the index dims spliced in at the axis', () => {
      const cases = withAxis.chain(({ x, axis }) => fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 })).chain(([r, c]) =>
        A.indices(r * c, axisLength(x, axis)).map((iv) => ({ x, axis, iv, is: [r, c] }))));
      fc.assert(fc.property(cases, ({ x, axis, iv, is }) => {
        const a = axis < 0 ? axis + x.shape.length : axis;
        const flat = gather(x, iv, axis);
        const expected = { shape: [...x.shape.slice(0, a), ...is, ...x.shape.slice(a + 1)], data: flat.data };
        expectExactly(T.gather(input(x), int32(iv, is), axis), expected);
      }), runs);
    });

    it('indexAdd accumulates duplicate indices in order (torch.index_add)', () => {
      const cases = withAxis.chain(({ x, axis }) => {
        const a = axis < 0 ? axis + x.shape.length : axis;
        return fc.integer({ min: 0, max: 6 }).chain((n) =>
          fc.record({ iv: A.indices(n, x.shape[a]!), src: dataOf(x.shape.map((d, i) => (i === a ? n : d))) }))
          .map(({ iv, src }) => ({ x, axis, iv, src }));
      });
      fc.assert(fc.property(cases, ({ x, axis, iv, src }) => {
        const expected = scatterAdd(x, iv, src, axis);
        const bound = scatterAdd(absOf(x), iv, absOf(src), axis).data;
        expectMatches(T.indexAdd(input(x), int32(iv), input(src), axis), expected, bound);
      }), runs);
    });

    it('oneHot puts a single 1 per row at the index', () => {
      const cases = fc.integer({ min: 1, max: 6 }).chain((depth) => fc.integer({ min: 0, max: 6 }).chain((n) => A.indices(n, depth).map((iv) => ({ depth, iv }))));
      fc.assert(fc.property(cases, fc.constantFrom<DType>('float32', 'float64', 'int32'), ({ depth, iv }, dtype) => {
        const out = T.oneHot(int32(iv), depth, dtype);
        expect(out.dtype).toBe(dtype);
        expectExactly(out, oneHot(iv, depth));
      }), runs);
    });

    it('topk returns the k largest, sorted descending, ties (±Infinity included) in index order', () => {
      const tied = (n: number) => fc.array(fc.oneof(fc.integer({ min: -3, max: 3 }), fc.constantFrom(Infinity, -Infinity)), { minLength: n, maxLength: n });
      const cases = A.shape({ minRank: 1 }).chain((sh) => fc.record({ x: fc.oneof(dataOf(sh), dataOf(sh, tied)), axis: A.axis(sh.length) }))
        .chain(({ x, axis }) => fc.integer({ min: 1, max: axisLength(x, axis) }).map((k) => ({ x, axis, k })));
      fc.assert(fc.property(cases, ({ x, axis, k }) => {
        const { values, indices } = T.topk(input(x), k, axis);
        const expected = topk(x, k, axis);
        expect(indices.dtype).toBe('int32');
        expectExactly(values, expected.values);
        expectExactly(indices, expected.indices);
      }), runs);
    });

    it('transpose by a random permutation (and by default, reversing the dims)', () => {
      const cases = A.shape({ maxRank: 5, maxDim: 3 }).chain((sh) => fc.record({ x: dataOf(sh), perm: fc.option(A.permutation(sh.length), { nil: undefined }) }));
      fc.assert(fc.property(cases, ({ x, perm }) => expectExactly(T.transpose(input(x), perm), transpose(x, perm))), runs);
    });
  });

  describe('shape, selection and scatter ops, from their definitions', () => {
    const withAxis = A.shape({ minRank: 1 }).chain((sh) => fc.record({ x: dataOf(sh), axis: A.axis(sh.length) }));
    const norm = (axis: number, rank: number) => (axis < 0 ? axis + rank : axis);

    /** x, an axis, and int32 indices of x's rank with dims ≤ x's (any length along the axis). */
    const alongIndexCase = withAxis.chain(({ x, axis }) => {
      const a = norm(axis, x.shape.length);
      return fc.tuple(...x.shape.map((d, i) => fc.integer({ min: 1, max: i === a ? 4 : d }))).chain((is) =>
        fc.record({ iv: A.indices(A.sizeOf(is), x.shape[a]!), src: dataOf(is) }).map(({ iv, src }) => ({ x, a, axis, is, iv, src })));
    });

    it('takeAlongAxis: out[p] = x[p with its axis coordinate replaced by indices[p]]', () => {
      fc.assert(fc.property(alongIndexCase, ({ x, a, axis, is, iv }) => {
        const expected = iv.map((i, p) => {
          const q = unravel(p, is);
          q[a] = i;
          return x.data[ravel(q, x.shape)]!;
        });
        expectExactly(T.takeAlongAxis(input(x), int32(iv, is), axis), { shape: is, data: expected });
      }), runs);
    });

    it('scatterAdd is the adjoint of takeAlongAxis: ⟨takeAlongAxis(x, i), s⟩ = ⟨x, scatterAdd(0, i, s)⟩, and scatterAdd(x, …) = x + scatterAdd(0, …)', () => {
      fc.assert(fc.property(alongIndexCase, ({ x, a, axis, is, iv, src }) => {
        const idx = int32(iv, is);
        const picked = T.takeAlongAxis(input(x), idx, axis).dataSync();
        const scattered = T.scatterAdd(T.zeros(x.shape, target.dtype), idx, input(src), axis);
        const lhs = src.data.reduce((acc, v, p) => acc + v * picked[p]!, 0);
        const rhs = x.data.reduce((acc, v, q) => acc + v * scattered.dataSync()[q]!, 0);
        // Rounding bound of the two sums: relative to Σ|terms|, plus an absolute MIN_VALUE per
        // product for the products that underflow into subnormals (the draws include them).
        const scale = src.data.reduce((acc, v, p) => acc + Math.abs(v * picked[p]!), 0);
        expect(Math.abs(lhs - rhs)).toBeLessThanOrEqual(tolerance * scale + (src.data.length + x.data.length) * Number.MIN_VALUE);
        // x + s₁ + s₂ and x + (s₁ + s₂) round differently when the s cancel, so each element is
        // judged against the sum of the magnitudes that land on it, not the magnitude of their sum.
        const onto = T.scatterAdd(input(x), idx, input(src), axis);
        const sum = binary(x, { shape: x.shape.slice(), data: Array.from(scattered.dataSync()) }, (u, v) => u + v);
        const magnitudes = x.data.map(Math.abs);
        iv.forEach((i, p) => {
          const q = unravel(p, is);
          q[a] = i;
          magnitudes[ravel(q, x.shape)]! += Math.abs(src.data[p]!);
        });
        expectMatches(onto, sum, magnitudes);
      }), runs);
    });

    it('takeAlongAxis at argmax picks the max', () => {
      fc.assert(fc.property(withAxis, ({ x, axis }) => {
        const at = T.unsqueeze(int32(argmax(x, axis).data, argmax(x, axis).shape), axis);
        const picked = T.takeAlongAxis(input(x), at, axis), max = reduce(x, [axis], true, 'max');
        // argmax takes the first of equal values (NumPy), and −0 equals +0 though max returns +0:
        // compare with ===, not the sign-sensitive toEqual.
        expect(picked.shape).toEqual(max.shape);
        expect(Array.from(picked.dataSync()).every((v, i) => v === max.data[i])).toBe(true);
      }), runs);
    });

    it('slice: out[p] = x[begin + p]', () => {
      const cases = A.shape({ minRank: 1 }).chain((sh) => fc.record({
        x: dataOf(sh),
        box: fc.tuple(...sh.map((d) => fc.integer({ min: 0, max: d }).chain((b) => fc.tuple(fc.constant(b), fc.integer({ min: 0, max: d - b }))))),
      }));
      fc.assert(fc.property(cases, ({ x, box }) => {
        const begin = box.map(([b]) => b), size = box.map(([, n]) => n);
        const expected = Array.from({ length: A.sizeOf(size) }, (_, p) => x.data[ravel(unravel(p, size).map((v, d) => v + begin[d]!), x.shape)]!);
        expectExactly(T.slice(input(x), begin, size), { shape: size, data: expected });
      }), runs);
    });

    it('concat along an axis, then slicing each piece back out, gives the pieces', () => {
      const cases = withAxis.chain(({ x, axis }) => {
        const a = norm(axis, x.shape.length);
        return fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 1, maxLength: 4 }).chain((lengths) =>
          fc.tuple(...lengths.map((len) => dataOf(x.shape.map((d, i) => (i === a ? len : d)))))).map((xs) => ({ a, axis, xs }));
      });
      fc.assert(fc.property(cases, ({ a, axis, xs }) => {
        const out = T.concat(xs.map(input), axis);
        let at = 0;
        for (const piece of xs) {
          const begin = piece.shape.map((_, d) => (d === a ? at : 0));
          expectExactly(T.slice(out, begin, piece.shape), piece);
          at += piece.shape[a]!;
        }
        expect(out.shape[a]).toBe(at);
      }), runs);
    });

    it('stack(xs, axis) has xs[i] at index i of the new axis', () => {
      const cases = A.shape().chain((sh) => fc.record({ axis: fc.integer({ min: -sh.length - 1, max: sh.length }), xs: fc.array(dataOf(sh), { minLength: 1, maxLength: 3 }) }));
      fc.assert(fc.property(cases, ({ axis, xs }) => {
        const out = T.stack(xs.map(input), axis);
        const a = norm(axis, xs[0]!.shape.length + 1);
        xs.forEach((x, i) => expectExactly(T.squeeze(T.gather(out, int32([i]), a), a), x));
      }), runs);
    });

    it('where picks a where the condition is non-zero, else b, all three broadcast', () => {
      const cases = A.broadcastTriple().chain(([sc, sa, sb]) =>
        fc.tuple(A.indices(A.sizeOf(sc), 2).map((c) => ({ shape: sc, data: c })), dataOf(sa), dataOf(sb)));
      fc.assert(fc.property(cases, ([c, a, b]) => {
        const pickA = binary(c, a, (ci, ai) => (ci !== 0 ? ai : NaN));
        const expected = binary(pickA, b, (p, bi) => (Number.isNaN(p) ? bi : p));
        expectExactly(T.where(int32(c.data, c.shape), input(a), input(b)), expected);
      }), runs);
    });

    it('broadcastTo repeats x along the broadcast dims', () => {
      const cases = A.broadcastPair({ maxRank: 4 }).chain(([sa, sb]) => dataOf(sa).map((x) => ({ x, target: A.broadcastOf(sa, sb) })));
      fc.assert(fc.property(cases, ({ x, target }) => {
        const zeros = { shape: target, data: new Array<number>(A.sizeOf(target)).fill(0) };
        expectExactly(T.broadcastTo(input(x), target), binary(x, zeros, (u) => u));
      }), runs);
    });

    it('squeeze and unsqueeze change the shape only', () => {
      const cases = A.shape({ minDim: 1, maxDim: 2, maxRank: 4 }).chain((sh) => fc.record({ x: dataOf(sh), at: fc.integer({ min: -sh.length - 1, max: sh.length }) }));
      fc.assert(fc.property(cases, ({ x, at }) => {
        const a = norm(at, x.shape.length + 1);
        const up = T.unsqueeze(input(x), at);
        expectExactly(up, { shape: [...x.shape.slice(0, a), 1, ...x.shape.slice(a)], data: x.data });
        expectExactly(T.squeeze(up, a), x);
        expectExactly(T.squeeze(input(x)), { shape: x.shape.filter((d) => d !== 1), data: x.data });
      }), runs);
    });
  });

  describe('algebraic laws', () => {
    it('softmax sums to 1 along its axis', () => {
      const cases = A.shape({ minRank: 1 }).chain((sh) =>
        fc.record({ x: dataOf(sh, (n) => A.values(n, { min: -1e4, max: 1e4 })), axis: A.axis(sh.length) }));
      fc.assert(fc.property(cases, ({ x, axis }) => {
        const sums = T.sum(T.softmax(input(x), axis), axis).dataSync();
        for (const s of sums) expect(Math.abs(s - 1)).toBeLessThanOrEqual(tolerance);
      }), runs);
    });

    it('logsumexp(x + c) = logsumexp(x) + c, to the tolerance of max(|logsumexp(x)|, |c|)', () => {
      const cases = A.shape({ minRank: 1 }).chain((sh) =>
        fc.record({ x: dataOf(sh, (n) => A.values(n, { min: -50, max: 50 })), axis: A.axis(sh.length), c: fc.double({ min: -2000, max: 2000, noNaN: true }) }));
      fc.assert(fc.property(cases, ({ x, axis, c }) => {
        const lse = Array.from(T.logsumexp(input(x), axis).dataSync());
        const shifted = T.logsumexp(T.add(input(x), c), axis).dataSync();
        lse.forEach((v, i) => {
          // x + c rounds each term to the ulp of c, so the scale includes |c|.
          expect(Math.abs(shifted[i]! - (v + c))).toBeLessThanOrEqual(tolerance * Math.max(Math.abs(v), Math.abs(c), 1));
        });
      }), runs);
    });

    it('transpose(transpose(x, p), inverse(p)) = x', () => {
      const cases = A.shape({ maxRank: 5, maxDim: 3 }).chain((sh) => fc.record({ x: dataOf(sh), perm: A.permutation(sh.length) }));
      fc.assert(fc.property(cases, ({ x, perm }) => {
        const back = T.transpose(T.transpose(input(x), perm), A.inverse(perm));
        expectExactly(back, x);
      }), runs);
    });

    it('reshape(reshape(x, s), shape(x)) = x for any s of the same size', () => {
      const cases = A.shape({ maxRank: 4 }).chain((sh) => fc.record({
        x: dataOf(sh),
        to: fc.oneof(A.permutation(sh.length).map((p) => p.map((d) => sh[d]!)), fc.constant([A.sizeOf(sh)]), fc.constant([1, A.sizeOf(sh), 1])),
      }));
      fc.assert(fc.property(cases, ({ x, to }) => {
        const y = T.reshape(input(x), to);
        expect(y.shape).toEqual(to);
        expectExactly(T.reshape(y, x.shape), x);
      }), runs);
    });

    it('reduction results do not alias their input (assigning to one leaves the other unchanged)', () => {
      const cases = A.shape({ maxRank: 3 }).chain((sh) => fc.record({ x: dataOf(sh), axes: A.axes(sh.length), keepDims: fc.boolean() }));
      fc.assert(fc.property(cases, ({ x, axes, keepDims }) => {
        const t = input(x);
        const out = T.sum(t, axes, keepDims);
        out.assign(new Array<number>(out.size).fill(7));
        expect(Array.from(t.dataSync())).toEqual(x.data);
      }), runs);
    });
  });
});
