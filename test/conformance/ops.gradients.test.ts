import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as T from '@switch-ts/tensor';
import { Rng, setBackend, tensor, type Tensor } from '@switch-ts/tensor';
import * as A from '../arbitraries.js';
import { backwardOf, gradcheck, type FloatData } from '../gradcheck.js';
import { maxNorm, normwiseError, TOLERANCE } from '../tolerance.js';
import { checksFor, show } from './checks.js';
import { describeTargets, type Target } from './targets.js';

/**
 * Every differentiable op's backward on every target (targets.ts): for random inputs x and random
 * output weights w, the gradient of Σ op(x) ⊙ w that backward produces (a vector-Jacobian
 * product).
 *
 * A float64 target is checked against central finite differences: normwise relative error below
 * 1e-6 (gradcheck.ts defines the error and its rounding-noise floor). A float32 target is checked
 * against the float64 gradients of the CPU backend, which that check vouches for, on the same
 * (float32) inputs and weights: normwise, to the target's tolerance, against the larger of the
 * gradient and the seed weights (see againstCpuFloat64).
 *
 * Inputs are kept away from kinks (0 for abs and relu, ties for max/min/maximum/topk) and from
 * the edges of domains (positive bases for log, sqrt and pow), where finite differences would
 * straddle a non-differentiable point.
 */

type Check = (f: (...xs: Tensor[]) => Tensor, inputs: readonly FloatData[], seed: number) => void;

function expectShapes(gradShapes: readonly (readonly number[] | null)[], inputs: readonly FloatData[]): void {
  gradShapes.forEach((gs, i) => {
    if (gs) expect(gs, `shape of the gradient of input ${i}`).toEqual(inputs[i]!.shape);
  });
}

const againstFiniteDifferences: Check = (f, inputs, seed) => {
  const r = gradcheck(f, inputs, { seed });
  expectShapes(r.gradShapes, inputs);
  expect(r.error, `analytic ${show(r.analytic.flat())}\nnumeric ${show(r.numeric.flat())}`).toBeLessThan(TOLERANCE.gradcheck);
};

const againstCpuFloat64 = (target: Target): Check => (f, inputs, seed) => {
  const got = backwardOf(f, inputs, seed, 'float32');
  setBackend('cpu');
  const want = backwardOf(f, inputs, seed, 'float64');
  target.use();
  expectShapes(got.gradShapes, inputs);
  // Scaled by the seed too: every product with the seed rounds at |w|, so where the gradient is a
  // difference of numbers near 1 (1 − y in the saturated tails of sigmoid, tanh and gelu) a float32
  // backward pass is off by about ε·|w| however small the gradient itself is.
  const err = normwiseError(got.analytic.flat(), want.analytic.flat(), Math.max(maxNorm(want.analytic.flat()), maxNorm(want.w)));
  expect(err, `${target.name} ${show(got.analytic.flat())}\ncpu float64 ${show(want.analytic.flat())}`).toBeLessThanOrEqual(target.tolerance.normwise);
};

const seed = fc.nat();
const int32 = (values: readonly number[], shape: readonly number[]): Tensor => tensor(values, { shape, dtype: 'int32' });

describeTargets('backward against finite differences (float64) or the float64 CPU backend (float32)', (target) => {
  const { data, dataOf, fit, runs } = checksFor(target);
  const expectGradientsMatch = target.dtype === 'float64' ? againstFiniteDifferences : againstCpuFloat64(target);

  /** A checked unary op over any shape, with values drawn by `of`. */
  function unaryLaw(name: string, op: (x: Tensor) => Tensor, of: (n: number) => fc.Arbitrary<number[]>): void {
    it(`${name}: backward matches`, () => {
      fc.assert(fc.property(data(A.shape(), of), seed, (x, s) => expectGradientsMatch(op, [x], s)), runs);
    });
  }

  /** A checked binary op over broadcast-compatible shape pairs. */
  function binaryLaw(
    name: string, op: (a: Tensor, b: Tensor) => Tensor,
    ofA: (n: number) => fc.Arbitrary<number[]>, ofB: (n: number) => fc.Arbitrary<number[]>,
  ): void {
    it(`${name}: backward matches for broadcast shapes, each gradient reduced to its operand's shape`, () => {
      const operands = A.broadcastPair().chain(([sa, sb]) => fc.tuple(dataOf(sa, ofA), dataOf(sb, ofB)));
      fc.assert(fc.property(operands, seed, ([a, b], s) => expectGradientsMatch(op, [a, b], s)), runs);
    });
  }

  const anyValue = (n: number) => A.values(n);
  const positive = (n: number) => A.values(n, { min: 0.2, max: 3 });

  describe('gradients of elementwise ops', () => {
    unaryLaw('neg', T.neg, anyValue);
    unaryLaw('exp', T.exp, anyValue);
    unaryLaw('log (positive inputs)', T.log, positive);
    unaryLaw('sqrt (positive inputs)', T.sqrt, positive);
    unaryLaw('abs (inputs away from 0)', T.abs, (n) => A.awayFromZero(n));
    unaryLaw('tanh', T.tanh, anyValue);
    unaryLaw('sigmoid', T.sigmoid, (n) => A.values(n, { min: -8, max: 8 }));
    unaryLaw('relu (inputs away from 0)', T.relu, (n) => A.awayFromZero(n));
    unaryLaw('gelu', T.gelu, (n) => A.values(n, { min: -4, max: 4 }));
    unaryLaw('square', T.square, anyValue);

    binaryLaw('add', T.add, anyValue, anyValue);
    binaryLaw('sub', T.sub, anyValue, anyValue);
    binaryLaw('mul', T.mul, anyValue, anyValue);
    binaryLaw('div (divisors away from 0)', T.div, anyValue, (n) => A.awayFromZero(n, { min: 0.5, max: 2 }));
    binaryLaw('pow (positive bases, gradient to base and exponent)', T.pow, (n) => A.values(n, { min: 0.5, max: 2 }), (n) => A.values(n, { min: -2, max: 2 }));
    binaryLaw('maximum (operands never tie)', T.maximum, (n) => A.gridValues(n, 0), (n) => A.gridValues(n, 1));
    binaryLaw('minimum (operands never tie)', T.minimum, (n) => A.gridValues(n, 1), (n) => A.gridValues(n, 0));

    it('pow with a constant exponent: d/dx x^c = c·x^(c−1)', () => {
      fc.assert(fc.property(data(A.shape(), positive), fc.double({ min: -3, max: 3, noNaN: true }).map((c) => fit([c])[0]!), seed, (x, c, s) =>
        expectGradientsMatch((t) => T.pow(t, c), [x], s)), runs);
    });

    it('where: the gradient goes to the picked operand, reduced to each operand\'s shape', () => {
      const cases = A.broadcastTriple().chain(([sc, sa, sb]) =>
        fc.tuple(A.indices(A.sizeOf(sc), 2).map((c) => ({ shape: sc, data: c })), dataOf(sa), dataOf(sb)));
      fc.assert(fc.property(cases, seed, ([cond, a, b], s) => {
        const c = int32(cond.data, cond.shape);
        expectGradientsMatch((x, y) => T.where(c, x, y), [a, b], s);
      }), runs);
    });

    it('broadcastTo: the gradient is the seed summed back to the input shape', () => {
      const cases = A.broadcastPair().chain(([sa, sb]) => dataOf(sa).map((x) => ({ x, to: A.broadcastOf(sa, sb) })));
      fc.assert(fc.property(cases, seed, ({ x, to }, s) => expectGradientsMatch((t) => T.broadcastTo(t, to), [x], s)), runs);
    });

    it('cast float64 → float32 → float64 has the identity Jacobian (up to float32 rounding of the seed)', () => {
      // Finite differences cannot see through float32 rounding, so the Jacobian is checked directly.
      fc.assert(fc.property(data(A.shape()), seed, (x, s) => {
        const leaf = tensor(x.data, { shape: x.shape, dtype: 'float64', requiresGrad: true });
        const y = T.cast(T.cast(leaf, 'float32'), 'float64');
        expect(y.dtype).toBe('float64');
        const w = new Rng(s);
        const seedValues = Array.from({ length: y.size }, () => w.uniform(-1, 1));
        y.backward(tensor(seedValues, { shape: y.shape, dtype: 'float64' }));
        expect(leaf.grad!.dtype).toBe('float64');
        expect(leaf.grad!.shape).toEqual(x.shape);
        expect(Array.from(leaf.grad!.dataSync())).toEqual(seedValues.map(Math.fround));
      }), runs);
    });
  });

  describe('gradient of matmul', () => {
    it('backward matches for 1-D, 2-D and batched operands with broadcast batch dims', () => {
      const cases = A.matmulShapes().chain(({ a, b }) => fc.tuple(dataOf(a), dataOf(b)));
      fc.assert(fc.property(cases, seed, ([a, b], s) => expectGradientsMatch(T.matmul, [a, b], s)), runs);
    });
  });

  /** A rank-r tensor with reduction axes (undefined = all axes) and keepDims. */
  function reductionCase(of: (n: number) => fc.Arbitrary<number[]>) {
    return A.shape().chain((sh) =>
      fc.record({ x: dataOf(sh, of), axes: fc.option(A.axes(sh.length), { nil: undefined }), keepDims: fc.boolean() }));
  }

  describe('gradients of reductions', () => {
    it('sum over random axes, with and without keepDims', () => {
      fc.assert(fc.property(reductionCase(anyValue), seed, ({ x, axes, keepDims }, s) =>
        expectGradientsMatch((t) => T.sum(t, axes, keepDims), [x], s)), runs);
    });

    it('mean over random axes, with and without keepDims', () => {
      fc.assert(fc.property(reductionCase(anyValue), seed, ({ x, axes, keepDims }, s) =>
        expectGradientsMatch((t) => T.mean(t, axes, keepDims), [x], s)), runs);
    });

    it('max over random axes (no ties): the gradient goes to the maximum', () => {
      fc.assert(fc.property(reductionCase((n) => A.distinct(n)), seed, ({ x, axes, keepDims }, s) =>
        expectGradientsMatch((t) => T.max(t, axes, keepDims), [x], s)), runs);
    });

    it('min over random axes (no ties): the gradient goes to the minimum', () => {
      fc.assert(fc.property(reductionCase((n) => A.distinct(n)), seed, ({ x, axes, keepDims }, s) =>
        expectGradientsMatch((t) => T.min(t, axes, keepDims), [x], s)), runs);
    });
  });

  /** A tensor of rank ≥ 1 and one of its axes. */
  function alongAxisCase(of: (n: number) => fc.Arbitrary<number[]> = anyValue) {
    return A.shape({ minRank: 1 }).chain((sh) => fc.record({ x: dataOf(sh, of), axis: A.axis(sh.length), keepDims: fc.boolean() }));
  }

  describe('gradients of softmax, logSoftmax, logsumexp and crossEntropy', () => {
    it('softmax along a random axis', () => {
      fc.assert(fc.property(alongAxisCase(), seed, ({ x, axis }, s) => expectGradientsMatch((t) => T.softmax(t, axis), [x], s)), runs);
    });

    it('logSoftmax along a random axis', () => {
      fc.assert(fc.property(alongAxisCase(), seed, ({ x, axis }, s) => expectGradientsMatch((t) => T.logSoftmax(t, axis), [x], s)), runs);
    });

    it('logsumexp along a random axis, with and without keepDims', () => {
      fc.assert(fc.property(alongAxisCase(), seed, ({ x, axis, keepDims }, s) =>
        expectGradientsMatch((t) => T.logsumexp(t, axis, keepDims), [x], s)), runs);
    });

    const crossEntropyCase = fc.record({ n: fc.integer({ min: 1, max: 5 }), c: fc.integer({ min: 1, max: 5 }) }).chain(({ n, c }) =>
      fc.record({
        logits: dataOf([n, c]),
        targets: A.indices(n, c),
        // Row 0 always counts, so the mean never divides by zero.
        ignored: fc.array(fc.boolean(), { minLength: n, maxLength: n }).map((b) => b.map((v, i) => v && i > 0)),
        masked: fc.array(fc.boolean(), { minLength: n, maxLength: n }).map((b) => b.map((v, i) => v && i > 0)),
        useIgnore: fc.boolean(),
        useMask: fc.boolean(),
      }));

    it('crossEntropy, with ignoreIndex rows and masked rows', () => {
      fc.assert(fc.property(crossEntropyCase, seed, ({ logits, targets, ignored, masked, useIgnore, useMask }, s) => {
        const n = logits.shape[0]!;
        const t = int32(targets.map((v, i) => (useIgnore && ignored[i] ? -100 : v)), [n]);
        const opts = {
          ...(useIgnore ? { ignoreIndex: -100 } : {}),
          ...(useMask ? { mask: int32(masked.map((m) => (m ? 0 : 1)), [n]) } : {}),
        };
        expectGradientsMatch((x) => T.crossEntropy(x, t, opts), [logits], s);
      }), runs);
    });
  });

  describe('gradients of shape ops', () => {
    it('reshape to a permutation of the dims (and to [-1])', () => {
      const cases = A.shape().chain((sh) => fc.record({ x: dataOf(sh), to: fc.oneof(A.permutation(sh.length).map((p) => p.map((d) => sh[d]!)), fc.constant([-1])) }));
      fc.assert(fc.property(cases, seed, ({ x, to }, s) => expectGradientsMatch((t) => T.reshape(t, to), [x], s)), runs);
    });

    it('transpose by a random permutation (and by default, reversing the dims)', () => {
      const cases = A.shape({ maxRank: 4, maxDim: 3 }).chain((sh) => fc.record({ x: dataOf(sh), perm: fc.option(A.permutation(sh.length), { nil: undefined }) }));
      fc.assert(fc.property(cases, seed, ({ x, perm }, s) => expectGradientsMatch((t) => T.transpose(t, perm), [x], s)), runs);
    });

    it('squeeze of all size-1 dims or of one of them', () => {
      const cases = A.shape({ minDim: 1, maxDim: 2, maxRank: 4 }).chain((sh) => {
        const ones = sh.flatMap((d, i) => (d === 1 ? [i] : []));
        return fc.record({ x: dataOf(sh), axis: ones.length > 0 ? fc.option(fc.constantFrom(...ones), { nil: undefined }) : fc.constant(undefined) });
      });
      fc.assert(fc.property(cases, seed, ({ x, axis }, s) => expectGradientsMatch((t) => T.squeeze(t, axis), [x], s)), runs);
    });

    it('unsqueeze at any position, negative ones included', () => {
      const cases = A.shape().chain((sh) => fc.record({ x: dataOf(sh), axis: fc.integer({ min: -sh.length - 1, max: sh.length }) }));
      fc.assert(fc.property(cases, seed, ({ x, axis }, s) => expectGradientsMatch((t) => T.unsqueeze(t, axis), [x], s)), runs);
    });

    it('concat of 1–3 tensors along a random axis', () => {
      const cases = A.shape({ minRank: 1 }).chain((sh) =>
        fc.record({ axis: A.axis(sh.length), lengths: fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 1, maxLength: 3 }) }).chain(({ axis, lengths }) => {
          const a = axis < 0 ? axis + sh.length : axis;
          return fc.tuple(fc.constant(axis), fc.tuple(...lengths.map((len) => dataOf(sh.map((d, i) => (i === a ? len : d))))));
        }));
      fc.assert(fc.property(cases, seed, ([axis, xs], s) => expectGradientsMatch((...ts) => T.concat(ts, axis), xs, s)), runs);
    });

    it('stack of 1–3 same-shaped tensors along a new axis', () => {
      const cases = A.shape().chain((sh) =>
        fc.record({ axis: fc.integer({ min: -sh.length - 1, max: sh.length }), xs: fc.array(dataOf(sh), { minLength: 1, maxLength: 3 }) }));
      fc.assert(fc.property(cases, seed, ({ axis, xs }, s) => expectGradientsMatch((...ts) => T.stack(ts, axis), xs, s)), runs);
    });

    it('slice of a random box (size -1 meaning "to the end")', () => {
      const cases = A.shape({ minRank: 1 }).chain((sh) =>
        fc.record({
          x: dataOf(sh),
          box: fc.tuple(...sh.map((d) => fc.integer({ min: 0, max: d - 1 }).chain((b) =>
            fc.tuple(fc.constant(b), fc.oneof(fc.integer({ min: 0, max: d - b }), fc.constant(-1)))))),
        }));
      fc.assert(fc.property(cases, seed, ({ x, box }, s) =>
        expectGradientsMatch((t) => T.slice(t, box.map(([b]) => b), box.map(([, n]) => n)), [x], s)), runs);
    });
  });

  describe('gradients of indexing ops', () => {
    it('gather along a random axis with indices of rank 0–2 (duplicates add up)', () => {
      const cases = alongAxisCase().chain(({ x, axis }) => {
        const bound = x.shape[axis < 0 ? axis + x.shape.length : axis]!;
        return A.shape({ maxRank: 2 }).chain((is) => A.indices(A.sizeOf(is), bound).map((iv) => ({ x, axis, is, iv })));
      });
      fc.assert(fc.property(cases, seed, ({ x, axis, is, iv }, s) => {
        const idx = int32(iv, is);
        expectGradientsMatch((t) => T.gather(t, idx, axis), [x], s);
      }), runs);
    });

    it('indexAdd with duplicate indices: gradient to x and to src', () => {
      const cases = alongAxisCase().chain(({ x, axis }) => {
        const a = axis < 0 ? axis + x.shape.length : axis;
        return fc.integer({ min: 0, max: 5 }).chain((len) =>
          fc.record({ iv: A.indices(len, x.shape[a]!), src: dataOf(x.shape.map((d, i) => (i === a ? len : d))) }))
          .map(({ iv, src }) => ({ x, axis, iv, src }));
      });
      fc.assert(fc.property(cases, seed, ({ x, axis, iv, src }, s) => {
        const idx = int32(iv, [iv.length]);
        expectGradientsMatch((t, u) => T.indexAdd(t, idx, u, axis), [x, src], s);
      }), runs);
    });

    /** x, an axis, and an index shape of x's rank with dims ≤ x's (any length along the axis). */
    const alongIndexCase = alongAxisCase().chain(({ x, axis }) => {
      const a = axis < 0 ? axis + x.shape.length : axis;
      return fc.tuple(...x.shape.map((d, i) => fc.integer({ min: 1, max: i === a ? 4 : d }))).chain((is) =>
        fc.record({ iv: A.indices(A.sizeOf(is), x.shape[a]!), src: dataOf(is) }).map(({ iv, src }) => ({ x, axis, is, iv, src })));
    });

    it('takeAlongAxis (duplicates add up in the gradient)', () => {
      fc.assert(fc.property(alongIndexCase, seed, ({ x, axis, is, iv }, s) => {
        const idx = int32(iv, is);
        expectGradientsMatch((t) => T.takeAlongAxis(t, idx, axis), [x], s);
      }), runs);
    });

    it('scatterAdd with duplicate indices: gradient to x and to src', () => {
      fc.assert(fc.property(alongIndexCase, seed, ({ x, axis, is, iv, src }, s) => {
        const idx = int32(iv, is);
        expectGradientsMatch((t, u) => T.scatterAdd(t, idx, u, axis), [x, src], s);
      }), runs);
    });

    it('topk values (no ties) along a random axis', () => {
      const cases = alongAxisCase((n) => A.distinct(n)).chain(({ x, axis }) =>
        fc.integer({ min: 1, max: x.shape[axis < 0 ? axis + x.shape.length : axis]! }).map((k) => ({ x, axis, k })));
      fc.assert(fc.property(cases, seed, ({ x, axis, k }, s) => expectGradientsMatch((t) => T.topk(t, k, axis).values, [x], s)), runs);
    });

    it('dropout with a fixed Rng: the gradient flows through the same mask, scaled by 1/(1−p)', () => {
      fc.assert(fc.property(data(A.shape()), fc.constantFrom(0, 0.25, 0.5, 0.9), fc.nat(), seed, (x, p, rngSeed, s) =>
        expectGradientsMatch((t) => T.dropout(t, p, new Rng(rngSeed)), [x], s)), runs);
    });
  });
});
