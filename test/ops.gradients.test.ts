import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as T from '@switch-ts/tensor';
import { Rng, tensor, type Tensor } from '@switch-ts/tensor';
import * as A from './arbitraries.js';
import { gradcheck, normwiseError, type FloatData } from './gradcheck.js';

/**
 * Every differentiable op's backward, checked against central finite differences in float64:
 * for random inputs x and random output weights w, the gradient of Σ op(x) ⊙ w that backward
 * produces (a vector-Jacobian product) matches the numeric one with normwise relative error below
 * 1e-6 (gradcheck.ts defines the error and its rounding-noise floor). Inputs are kept away from
 * kinks (0 for abs and relu, ties for max/min/maximum/topk) and from the edges of domains
 * (positive bases for log, sqrt and pow), where finite differences would straddle a
 * non-differentiable point.
 */

const TOLERANCE = 1e-6;
const RUNS = { numRuns: 50 };
const seed = fc.nat();

function expectGradientsMatch(f: (...xs: Tensor[]) => Tensor, inputs: readonly FloatData[], s: number): void {
  const r = gradcheck(f, inputs, { seed: s });
  r.gradShapes.forEach((gs, i) => {
    if (gs) expect(gs, `shape of the gradient of input ${i}`).toEqual(inputs[i]!.shape);
  });
  expect(r.error, `analytic ${JSON.stringify(r.analytic)}\nnumeric ${JSON.stringify(r.numeric)}`).toBeLessThan(TOLERANCE);
}

const int32 = (values: readonly number[], shape: readonly number[]): Tensor => tensor(values, { shape, dtype: 'int32' });

/** A checked unary op over any shape, with values drawn by `of`. */
function unaryLaw(name: string, op: (x: Tensor) => Tensor, of: (n: number) => fc.Arbitrary<number[]>): void {
  it(`${name}: backward matches finite differences`, () => {
    fc.assert(fc.property(A.data(A.shape(), of), seed, (x, s) => expectGradientsMatch(op, [x], s)), RUNS);
  });
}

/** A checked binary op over broadcast-compatible shape pairs. */
function binaryLaw(
  name: string, op: (a: Tensor, b: Tensor) => Tensor,
  ofA: (n: number) => fc.Arbitrary<number[]>, ofB: (n: number) => fc.Arbitrary<number[]>,
): void {
  it(`${name}: backward matches finite differences for broadcast shapes, each gradient reduced to its operand's shape`, () => {
    const operands = A.broadcastPair().chain(([sa, sb]) => fc.tuple(A.dataOf(sa, ofA), A.dataOf(sb, ofB)));
    fc.assert(fc.property(operands, seed, ([a, b], s) => expectGradientsMatch(op, [a, b], s)), RUNS);
  });
}

const anyValue = (n: number) => A.values(n);
const positive = (n: number) => A.values(n, { min: 0.2, max: 3 });

describe('the checker itself', () => {
  it('flags a wrong gradient, and one too small for finite differences only against their noise', () => {
    const x = { shape: [3, 3], data: [0.3, -1.2, 2, 0.7, -0.4, 1.5, -2.5, 0.9, 1.1] };
    // x·detach(x) is x² with backward's gradient x instead of 2x.
    expect(gradcheck((t) => t.mul(t.detach()), [x], { seed: 1 }).error).toBeGreaterThan(0.1);
    // d/dx x^c for c = 1e-11 is ~1e-11: the central difference rounds it to 0, which is within noise.
    const tiny = gradcheck((t) => T.pow(T.abs(t), 1e-11), [x], { seed: 1 });
    expect(Math.max(...tiny.analytic[0]!.map(Math.abs))).toBeGreaterThan(0);
    expect(tiny.error).toBeLessThan(TOLERANCE);
  });
});

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
    fc.assert(fc.property(A.data(A.shape(), positive), fc.double({ min: -3, max: 3, noNaN: true }), seed, (x, c, s) =>
      expectGradientsMatch((t) => T.pow(t, c), [x], s)), RUNS);
  });

  it('where: the gradient goes to the picked operand, reduced to each operand\'s shape', () => {
    const cases = A.broadcastTriple().chain(([sc, sa, sb]) =>
      fc.tuple(A.indices(A.sizeOf(sc), 2).map((c) => ({ shape: sc, data: c })), A.dataOf(sa), A.dataOf(sb)));
    fc.assert(fc.property(cases, seed, ([cond, a, b], s) => {
      const c = int32(cond.data, cond.shape);
      expectGradientsMatch((x, y) => T.where(c, x, y), [a, b], s);
    }), RUNS);
  });

  it('broadcastTo: the gradient is the seed summed back to the input shape', () => {
    const cases = A.broadcastPair().chain(([sa, sb]) => A.dataOf(sa).map((x) => ({ x, target: A.broadcastOf(sa, sb) })));
    fc.assert(fc.property(cases, seed, ({ x, target }, s) => expectGradientsMatch((t) => T.broadcastTo(t, target), [x], s)), RUNS);
  });

  it('cast float64 → float32 → float64 has the identity Jacobian (up to float32 rounding of the seed)', () => {
    // Finite differences cannot see through float32 rounding, so the Jacobian is checked directly.
    fc.assert(fc.property(A.data(A.shape()), seed, (x, s) => {
      const leaf = tensor(x.data, { shape: x.shape, dtype: 'float64', requiresGrad: true });
      const y = T.cast(T.cast(leaf, 'float32'), 'float64');
      expect(y.dtype).toBe('float64');
      const w = new Rng(s);
      const seedValues = Array.from({ length: y.size }, () => w.uniform(-1, 1));
      y.backward(tensor(seedValues, { shape: y.shape, dtype: 'float64' }));
      expect(leaf.grad!.dtype).toBe('float64');
      expect(leaf.grad!.shape).toEqual(x.shape);
      expect(Array.from(leaf.grad!.dataSync())).toEqual(seedValues.map(Math.fround));
    }), RUNS);
  });
});

describe('gradient of matmul', () => {
  it('matches finite differences for 1-D, 2-D and batched operands with broadcast batch dims', () => {
    const cases = A.matmulShapes().chain(({ a, b }) => fc.tuple(A.dataOf(a), A.dataOf(b)));
    fc.assert(fc.property(cases, seed, ([a, b], s) => expectGradientsMatch(T.matmul, [a, b], s)), RUNS);
  });
});

/** A rank-r tensor with reduction axes (undefined = all axes) and keepDims. */
function reductionCase(of: (n: number) => fc.Arbitrary<number[]>) {
  return A.shape().chain((sh) =>
    fc.record({ x: A.dataOf(sh, of), axes: fc.option(A.axes(sh.length), { nil: undefined }), keepDims: fc.boolean() }));
}

describe('gradients of reductions', () => {
  it('sum over random axes, with and without keepDims', () => {
    fc.assert(fc.property(reductionCase(anyValue), seed, ({ x, axes, keepDims }, s) =>
      expectGradientsMatch((t) => T.sum(t, axes, keepDims), [x], s)), RUNS);
  });

  it('mean over random axes, with and without keepDims', () => {
    fc.assert(fc.property(reductionCase(anyValue), seed, ({ x, axes, keepDims }, s) =>
      expectGradientsMatch((t) => T.mean(t, axes, keepDims), [x], s)), RUNS);
  });

  it('max over random axes (no ties): the gradient goes to the maximum', () => {
    fc.assert(fc.property(reductionCase((n) => A.distinct(n)), seed, ({ x, axes, keepDims }, s) =>
      expectGradientsMatch((t) => T.max(t, axes, keepDims), [x], s)), RUNS);
  });

  it('min over random axes (no ties): the gradient goes to the minimum', () => {
    fc.assert(fc.property(reductionCase((n) => A.distinct(n)), seed, ({ x, axes, keepDims }, s) =>
      expectGradientsMatch((t) => T.min(t, axes, keepDims), [x], s)), RUNS);
  });
});

/** A tensor of rank ≥ 1 and one of its axes. */
function alongAxisCase(of: (n: number) => fc.Arbitrary<number[]> = anyValue) {
  return A.shape({ minRank: 1 }).chain((sh) => fc.record({ x: A.dataOf(sh, of), axis: A.axis(sh.length), keepDims: fc.boolean() }));
}

describe('gradients of softmax, logSoftmax, logsumexp and crossEntropy', () => {
  it('softmax along a random axis', () => {
    fc.assert(fc.property(alongAxisCase(), seed, ({ x, axis }, s) => expectGradientsMatch((t) => T.softmax(t, axis), [x], s)), RUNS);
  });

  it('logSoftmax along a random axis', () => {
    fc.assert(fc.property(alongAxisCase(), seed, ({ x, axis }, s) => expectGradientsMatch((t) => T.logSoftmax(t, axis), [x], s)), RUNS);
  });

  it('logsumexp along a random axis, with and without keepDims', () => {
    fc.assert(fc.property(alongAxisCase(), seed, ({ x, axis, keepDims }, s) =>
      expectGradientsMatch((t) => T.logsumexp(t, axis, keepDims), [x], s)), RUNS);
  });

  const crossEntropyCase = fc.record({ n: fc.integer({ min: 1, max: 5 }), c: fc.integer({ min: 1, max: 5 }) }).chain(({ n, c }) =>
    fc.record({
      logits: A.dataOf([n, c]),
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
    }), RUNS);
  });
});

describe('gradients of shape ops', () => {
  it('reshape to a permutation of the dims (and to [-1])', () => {
    const cases = A.shape().chain((sh) => fc.record({ x: A.dataOf(sh), to: fc.oneof(A.permutation(sh.length).map((p) => p.map((d) => sh[d]!)), fc.constant([-1])) }));
    fc.assert(fc.property(cases, seed, ({ x, to }, s) => expectGradientsMatch((t) => T.reshape(t, to), [x], s)), RUNS);
  });

  it('transpose by a random permutation (and by default, reversing the dims)', () => {
    const cases = A.shape({ maxRank: 4, maxDim: 3 }).chain((sh) => fc.record({ x: A.dataOf(sh), perm: fc.option(A.permutation(sh.length), { nil: undefined }) }));
    fc.assert(fc.property(cases, seed, ({ x, perm }, s) => expectGradientsMatch((t) => T.transpose(t, perm), [x], s)), RUNS);
  });

  it('squeeze of all size-1 dims or of one of them', () => {
    const cases = A.shape({ minDim: 1, maxDim: 2, maxRank: 4 }).chain((sh) => {
      const ones = sh.flatMap((d, i) => (d === 1 ? [i] : []));
      return fc.record({ x: A.dataOf(sh), axis: ones.length > 0 ? fc.option(fc.constantFrom(...ones), { nil: undefined }) : fc.constant(undefined) });
    });
    fc.assert(fc.property(cases, seed, ({ x, axis }, s) => expectGradientsMatch((t) => T.squeeze(t, axis), [x], s)), RUNS);
  });

  it('unsqueeze at any position, negative ones included', () => {
    const cases = A.shape().chain((sh) => fc.record({ x: A.dataOf(sh), axis: fc.integer({ min: -sh.length - 1, max: sh.length }) }));
    fc.assert(fc.property(cases, seed, ({ x, axis }, s) => expectGradientsMatch((t) => T.unsqueeze(t, axis), [x], s)), RUNS);
  });

  it('concat of 1–3 tensors along a random axis', () => {
    const cases = A.shape({ minRank: 1 }).chain((sh) =>
      fc.record({ axis: A.axis(sh.length), lengths: fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 1, maxLength: 3 }) }).chain(({ axis, lengths }) => {
        const a = axis < 0 ? axis + sh.length : axis;
        return fc.tuple(fc.constant(axis), fc.tuple(...lengths.map((len) => A.dataOf(sh.map((d, i) => (i === a ? len : d))))));
      }));
    fc.assert(fc.property(cases, seed, ([axis, xs], s) => expectGradientsMatch((...ts) => T.concat(ts, axis), xs, s)), RUNS);
  });

  it('stack of 1–3 same-shaped tensors along a new axis', () => {
    const cases = A.shape().chain((sh) =>
      fc.record({ axis: fc.integer({ min: -sh.length - 1, max: sh.length }), xs: fc.array(A.dataOf(sh), { minLength: 1, maxLength: 3 }) }));
    fc.assert(fc.property(cases, seed, ({ axis, xs }, s) => expectGradientsMatch((...ts) => T.stack(ts, axis), xs, s)), RUNS);
  });

  it('slice of a random box (size -1 meaning "to the end")', () => {
    const cases = A.shape({ minRank: 1 }).chain((sh) =>
      fc.record({
        x: A.dataOf(sh),
        box: fc.tuple(...sh.map((d) => fc.integer({ min: 0, max: d - 1 }).chain((b) =>
          fc.tuple(fc.constant(b), fc.oneof(fc.integer({ min: 0, max: d - b }), fc.constant(-1)))))),
      }));
    fc.assert(fc.property(cases, seed, ({ x, box }, s) =>
      expectGradientsMatch((t) => T.slice(t, box.map(([b]) => b), box.map(([, n]) => n)), [x], s)), RUNS);
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
    }), RUNS);
  });

  it('indexAdd with duplicate indices: gradient to x and to src', () => {
    const cases = alongAxisCase().chain(({ x, axis }) => {
      const a = axis < 0 ? axis + x.shape.length : axis;
      return fc.integer({ min: 0, max: 5 }).chain((len) =>
        fc.record({ iv: A.indices(len, x.shape[a]!), src: A.dataOf(x.shape.map((d, i) => (i === a ? len : d))) }))
        .map(({ iv, src }) => ({ x, axis, iv, src }));
    });
    fc.assert(fc.property(cases, seed, ({ x, axis, iv, src }, s) => {
      const idx = int32(iv, [iv.length]);
      expectGradientsMatch((t, u) => T.indexAdd(t, idx, u, axis), [x, src], s);
    }), RUNS);
  });

  /** x, an axis, and an index shape of x's rank with dims ≤ x's (any length along the axis). */
  const alongIndexCase = alongAxisCase().chain(({ x, axis }) => {
    const a = axis < 0 ? axis + x.shape.length : axis;
    return fc.tuple(...x.shape.map((d, i) => fc.integer({ min: 1, max: i === a ? 4 : d }))).chain((is) =>
      fc.record({ iv: A.indices(A.sizeOf(is), x.shape[a]!), src: A.dataOf(is) }).map(({ iv, src }) => ({ x, axis, is, iv, src })));
  });

  it('takeAlongAxis (duplicates add up in the gradient)', () => {
    fc.assert(fc.property(alongIndexCase, seed, ({ x, axis, is, iv }, s) => {
      const idx = int32(iv, is);
      expectGradientsMatch((t) => T.takeAlongAxis(t, idx, axis), [x], s);
    }), RUNS);
  });

  it('scatterAdd with duplicate indices: gradient to x and to src', () => {
    fc.assert(fc.property(alongIndexCase, seed, ({ x, axis, is, iv, src }, s) => {
      const idx = int32(iv, is);
      expectGradientsMatch((t, u) => T.scatterAdd(t, idx, u, axis), [x, src], s);
    }), RUNS);
  });

  it('topk values (no ties) along a random axis', () => {
    const cases = alongAxisCase((n) => A.distinct(n)).chain(({ x, axis }) =>
      fc.integer({ min: 1, max: x.shape[axis < 0 ? axis + x.shape.length : axis]! }).map((k) => ({ x, axis, k })));
    fc.assert(fc.property(cases, seed, ({ x, axis, k }, s) => expectGradientsMatch((t) => T.topk(t, k, axis).values, [x], s)), RUNS);
  });

  it('dropout with a fixed Rng: the gradient flows through the same mask, scaled by 1/(1−p)', () => {
    fc.assert(fc.property(A.data(A.shape()), fc.constantFrom(0, 0.25, 0.5, 0.9), fc.nat(), seed, (x, p, rngSeed, s) =>
      expectGradientsMatch((t) => T.dropout(t, p, new Rng(rngSeed)), [x], s)), RUNS);
  });
});

describe('autodiff semantics', () => {
  const f64 = (v: T.NestedArray, requiresGrad = false) => tensor(v, { dtype: 'float64', requiresGrad });

  it('gradients accumulate into .grad across backward calls until zeroGrad', () => {
    const x = f64([1, 2, 3], true);
    x.mul(x).sum().backward();
    expect(x.grad!.toArray()).toEqual([2, 4, 6]);
    x.mul(3).sum().backward();
    expect(x.grad!.toArray()).toEqual([5, 7, 9]);
    x.zeroGrad();
    expect(x.grad).toBeNull();
    x.mul(3).sum().backward();
    expect(x.grad!.toArray()).toEqual([3, 3, 3]);
  });

  it('backward twice through the same graph adds the gradient twice', () => {
    const x = f64([1, -2], true);
    const loss = x.mul(x).sum();
    loss.backward();
    loss.backward();
    expect(x.grad!.toArray()).toEqual([4, -8]);
  });

  it('a tensor used twice in one graph gets the sum of both gradients', () => {
    const cases = A.broadcastPair().chain(([sa, sb]) => fc.tuple(A.dataOf(A.broadcastOf(sa, sb)), A.dataOf(sb)));
    fc.assert(fc.property(cases, ([xd, cd]) => {
      const x = tensor(xd.data, { shape: xd.shape, dtype: 'float64', requiresGrad: true });
      const c = tensor(cd.data, { shape: cd.shape, dtype: 'float64' });
      // L = Σ (x·x + x·c), so dL/dx = x + x + c: three contributions reaching the same leaf.
      x.mul(x).add(x.mul(c)).sum().backward();
      const expected = xd.data.map((v, i) => 2 * v + T.broadcastTo(c, xd.shape).dataSync()[i]!);
      expect(normwiseError([Array.from(x.grad!.dataSync())], [expected])).toBeLessThan(1e-15);
    }), RUNS);
  });

  it('noGrad stops recording: results need no grad and have no graph', () => {
    const x = f64([1, 2], true);
    const y = T.noGrad(() => x.mul(2).exp());
    expect(y.requiresGrad).toBe(false);
    expect(y.gradNode).toBeNull();
    expect(() => y.sum().backward()).toThrow(/backward: .*does not require grad/);
    expect(T.isGradEnabled()).toBe(true);
  });

  it('detach cuts the graph: no gradient flows through the detached branch', () => {
    const x = f64([1, 2, 3], true);
    const d = x.detach();
    expect(d.requiresGrad).toBe(false);
    expect(d.gradNode).toBeNull();
    x.mul(d).sum().backward();
    // Only the non-detached factor contributes: d(x·stop(x))/dx = x.
    expect(x.grad!.toArray()).toEqual([1, 2, 3]);
  });

  it('backward on a non-scalar without a seed throws; with a seed of its shape it is a vector-Jacobian product', () => {
    const x = f64([[1, 2], [3, 4]], true);
    const y = x.mul(x);
    expect(() => y.backward()).toThrow('backward: tensor of shape [2,2] is not a scalar; pass a seed gradient of the same shape');
    expect(() => y.backward(f64([1, 2]))).toThrow(/backward: seed of shape \[2\] does not match tensor of shape \[2,2\]/);
    y.backward(f64([[1, 0], [0, 2]]));
    expect(x.grad!.toArray()).toEqual([[2, 0], [0, 16]]);
  });

  it('broadcasting reduces each gradient to its operand\'s shape', () => {
    fc.assert(fc.property(A.broadcastPair(), ([sa, sb]) => {
      const a = tensor(new Array(A.sizeOf(sa)).fill(1), { shape: sa, dtype: 'float64', requiresGrad: true });
      const b = tensor(new Array(A.sizeOf(sb)).fill(1), { shape: sb, dtype: 'float64', requiresGrad: true });
      a.add(b).sum().backward();
      const out = A.sizeOf(A.broadcastOf(sa, sb));
      expect(a.grad!.shape).toEqual(sa);
      expect(b.grad!.shape).toEqual(sb);
      // Each element of a is read out / size(a) times.
      expect(Array.from(a.grad!.dataSync())).toEqual(new Array(A.sizeOf(sa)).fill(out / A.sizeOf(sa)));
      expect(Array.from(b.grad!.dataSync())).toEqual(new Array(A.sizeOf(sb)).fill(out / A.sizeOf(sb)));
    }), RUNS);
  });
});
