import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as T from '@switch-ts/tensor';
import { tensor } from '@switch-ts/tensor';
import * as A from './arbitraries.js';
import { TINY } from './gradcheck.js';
import { maxNorm, normwiseError } from './tolerance.js';

/**
 * What backward does with the graph, whatever the ops in it: gradients accumulate, noGrad and
 * detach cut recording, seeds make vector-Jacobian products, broadcasting is undone. Per-op
 * gradients are in test/conformance/ops.gradients.test.ts.
 */

const RUNS = { numRuns: 50 };

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
      expect(normwiseError(x.grad!.dataSync(), expected, Math.max(maxNorm(expected), TINY))).toBeLessThan(1e-15);
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
