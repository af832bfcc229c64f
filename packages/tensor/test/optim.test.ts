import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Adam, AdamW, SGD, clipGradNorm, memory, tensor, tidy, type Optimizer, type Tensor } from '@switch-ts/tensor';
import { useWasmOptimizer, wasmSimd } from '@switch-ts/tensor/testing';
import { componentwiseError, magnitudes } from '../../../test/tolerance.js';

/**
 * The update rules as the papers write them, on plain numbers (one coordinate; every coordinate
 * is updated independently). Each returns θ after one step per gradient.
 */
const reference = {
  sgd(theta: number, grads: readonly number[], o: { lr: number; momentum: number; weightDecay: number }): number {
    let buf = 0;
    for (const grad of grads) {
      const g = grad + o.weightDecay * theta;
      buf = o.momentum * buf + g;
      theta -= o.lr * buf;
    }
    return theta;
  },
  /** Kingma & Ba (2015) Algorithm 1; with weightDecay, Loshchilov & Hutter (2019) Algorithm 2. */
  adam(theta: number, grads: readonly number[], o: { lr: number; betas: [number, number]; eps: number; weightDecay: number }): number {
    const [beta1, beta2] = o.betas;
    let m = 0, v = 0;
    grads.forEach((g, i) => {
      const t = i + 1;
      theta *= 1 - o.lr * o.weightDecay;
      m = beta1 * m + (1 - beta1) * g;
      v = beta2 * v + (1 - beta2) * g * g;
      const mHat = m / (1 - beta1 ** t), vHat = v / (1 - beta2 ** t);
      theta -= (o.lr * mHat) / (Math.sqrt(vHat) + o.eps);
    });
    return theta;
  },
};

/** A float64 parameter θ₀ and the gradients of a few steps, for every coordinate. */
const run = fc.integer({ min: 1, max: 5 }).chain((n) => {
  const vec = fc.array(fc.double({ min: -10, max: 10, noNaN: true }), { minLength: n, maxLength: n });
  return fc.record({ theta: vec, grads: fc.array(vec, { minLength: 1, maxLength: 4 }) });
});

/** Steps `makeOptimizer`'s optimizer once per gradient (set directly as .grad) and returns θ. */
function optimize(theta: readonly number[], grads: readonly number[][], makeOptimizer: (p: Tensor) => Optimizer): Float64Array {
  const p = tensor(theta, { dtype: 'float64', requiresGrad: true });
  const opt = makeOptimizer(p);
  for (const g of grads) {
    p.grad = tensor(g, { dtype: 'float64' });
    opt.step();
  }
  return p.dataSync() as Float64Array;
}

/** |a − e| ≤ 1e-12·max(|e|, 1), elementwise. */
function expectClose(actual: ArrayLike<number>, expected: readonly number[]): void {
  expect(componentwiseError(actual, expected, magnitudes(expected, 1))).toBeLessThanOrEqual(1e-12);
}

function expectMatches(actual: Float64Array, theta: readonly number[], grads: readonly number[][], rule: (theta: number, grads: number[]) => number): void {
  expectClose(actual, theta.map((t0, i) => rule(t0, grads.map((g) => g[i]!))));
}

describe('update rules against the formulas on plain numbers', () => {
  it('SGD with momentum and weight decay: b ← μb + g + λθ, θ ← θ − lr·b', () => {
    fc.assert(fc.property(run, fc.double({ min: 0, max: 0.99, noNaN: true }), ({ theta, grads }, momentum) => {
      const o = { lr: 0.1, momentum, weightDecay: 0.01 };
      expectMatches(optimize(theta, grads, (p) => new SGD([p], o)), theta, grads, (t, g) => reference.sgd(t, g, o));
    }));
  });

  it('plain SGD (no momentum) is θ ← θ − lr·g', () => {
    const out = optimize([1, -2], [[0.5, 4]], (p) => new SGD([p], { lr: 0.25 }));
    expect(Array.from(out)).toEqual([1 - 0.25 * 0.5, -2 - 0.25 * 4]);
  });

  it('Adam with bias correction', () => {
    fc.assert(fc.property(run, ({ theta, grads }) => {
      const o = { lr: 1e-3, betas: [0.9, 0.999] as [number, number], eps: 1e-8, weightDecay: 0 };
      expectMatches(optimize(theta, grads, (p) => new Adam([p], { lr: o.lr })), theta, grads, (t, g) => reference.adam(t, g, o));
    }));
  });

  it("Adam's first step is −lr·g / (|g| + eps): about lr per coordinate, whatever the gradient's scale", () => {
    const g = [1e-4, -3, 1e4];
    const out = optimize([0, 0, 0], [g], (p) => new Adam([p], { lr: 0.01 }));
    expectClose(out, g.map((gi) => (-0.01 * gi) / (Math.abs(gi) + 1e-8)));
  });

  it('AdamW decays θ by lr·λ directly, then takes the Adam step', () => {
    fc.assert(fc.property(run, fc.double({ min: 0, max: 0.5, noNaN: true }), ({ theta, grads }, weightDecay) => {
      const o = { lr: 0.01, betas: [0.8, 0.99] as [number, number], eps: 1e-6, weightDecay };
      const opt = (p: Tensor) => new AdamW([p], { lr: o.lr, betas: o.betas, eps: o.eps, weightDecay });
      expectMatches(optimize(theta, grads, opt), theta, grads, (t, g) => reference.adam(t, g, o));
    }));
  });
});

describe.skipIf(!wasmSimd())('Adam and AdamW on float32 parameters, stepped in wasm', () => {
  /** Float32 θ₀ and gradients of odd and even lengths (the wasm step takes coordinates in pairs). */
  const run32 = fc.integer({ min: 1, max: 41 }).chain((n) => {
    const vec = fc.array(fc.double({ min: -10, max: 10, noNaN: true }).map(Math.fround), { minLength: n, maxLength: n });
    return fc.record({ theta: vec, grads: fc.array(vec, { minLength: 1, maxLength: 4 }) });
  });
  const o = (weightDecay: number) => ({ lr: 0.01, betas: [0.8, 0.99] as [number, number], eps: 1e-6, weightDecay });

  /** θ and both moments after AdamW's steps on float32 tensors, by the wasm step or the JS loop. */
  function optimize32(theta: readonly number[], grads: readonly number[][], weightDecay: number, wasm: boolean): number[][] {
    const previous = useWasmOptimizer(wasm);
    try {
      const p = tensor(theta, { dtype: 'float32', requiresGrad: true });
      const { lr, betas, eps } = o(weightDecay);
      const opt = new AdamW([p], { lr, betas, eps, weightDecay });
      for (const g of grads) {
        p.grad = tensor(g, { dtype: 'float32' });
        opt.step();
      }
      const [m, v] = (opt as unknown as { state: Map<Tensor, { buffers: Tensor[] }> }).state.get(p)!.buffers;
      return [p, m!, v!].map((t) => Array.from(t.dataSync()));
    } finally {
      useWasmOptimizer(previous);
    }
  }

  it('store the bits the JS loop stores in θ, m and v', () => {
    fc.assert(fc.property(run32, fc.constantFrom(0, 0.1), ({ theta, grads }, weightDecay) => {
      expect(optimize32(theta, grads, weightDecay, true)).toEqual(optimize32(theta, grads, weightDecay, false));
    }));
  });

  it('follow the formulas on plain numbers, within float32 rounding', () => {
    fc.assert(fc.property(run32, fc.constantFrom(0, 0.1), ({ theta, grads }, weightDecay) => {
      const [got] = optimize32(theta, grads, weightDecay, true);
      const want = theta.map((t0, i) => reference.adam(t0, grads.map((g) => g[i]!), o(weightDecay)));
      expect(componentwiseError(got!, want, magnitudes(want, 1))).toBeLessThanOrEqual(1e-6);
    }));
  });
});

describe('Optimizer', () => {
  it('leaves a parameter without a gradient untouched, and starts its step count when it gets one', () => {
    const a = tensor([1], { dtype: 'float64', requiresGrad: true });
    const b = tensor([1], { dtype: 'float64', requiresGrad: true });
    const opt = new Adam([a, b], { lr: 0.1 });
    a.grad = tensor([1], { dtype: 'float64' });
    opt.step();
    expect(b.item()).toBe(1);
    b.grad = tensor([1], { dtype: 'float64' });
    opt.step();
    // A first step for b, bias-corrected with t = 1: θ − lr·g/(|g| + eps).
    expectClose([b.item()], [1 - 0.1 / (1 + 1e-8)]);
  });

  it('zeroGrad clears every gradient', () => {
    const p = tensor([1, 2], { requiresGrad: true });
    const opt = new SGD([p], { lr: 1 });
    p.mul(3).sum().backward();
    opt.zeroGrad();
    expect(p.grad).toBeNull();
  });

  it('keeps its state across tidy scopes and frees everything else a step makes', () => {
    const p = tensor([1, 2, 3], { requiresGrad: true });
    const opt = new Adam([p], { lr: 0.1 });
    const step = () => tidy(() => {
      opt.zeroGrad();
      p.square().sum().backward();
      opt.step();
    });
    step();
    const after = memory();
    for (let i = 0; i < 3; i++) step();
    expect(memory()).toEqual(after);
  });

  it('rejects bad hyperparameters, naming the optimizer and the value', () => {
    const p = () => [tensor([1], { requiresGrad: true })];
    expect(() => new SGD(p(), { lr: 0 })).toThrow('SGD: lr must be a finite number > 0, got 0');
    expect(() => new Adam(p(), { lr: -1 })).toThrow('Adam: lr must be a finite number > 0, got -1');
    expect(() => new SGD(p(), { lr: 1, momentum: 1 })).toThrow('SGD: momentum must be in [0, 1), got 1');
    expect(() => new SGD(p(), { lr: 1, weightDecay: -0.1 })).toThrow('SGD: weightDecay must be a finite number ≥ 0, got -0.1');
    expect(() => new Adam(p(), { lr: 1, betas: [1, 0.999] })).toThrow('Adam: betas[0] must be in [0, 1), got 1');
    expect(() => new AdamW(p(), { lr: 1, betas: [0.9, -0.5], weightDecay: 0 })).toThrow('AdamW: betas[1] must be in [0, 1), got -0.5');
    expect(() => new Adam(p(), { lr: 1, eps: -1 })).toThrow('Adam: eps must be a finite number ≥ 0, got -1');
    expect(() => new AdamW(p(), { lr: 1, weightDecay: NaN })).toThrow('AdamW: weightDecay must be a finite number ≥ 0, got NaN');
  });

  it('rejects an empty list, repeated parameters and tensors that are not parameters', () => {
    const w = tensor([1], { requiresGrad: true });
    expect(() => new SGD([], { lr: 1 })).toThrow('SGD: needs a non-empty array of parameters');
    expect(() => new Adam([w, w], { lr: 1 })).toThrow('Adam: parameter 1 (shape [1]) repeats parameter 0');
    expect(() => new Adam([tensor([1])], { lr: 1 })).toThrow('Adam: parameter 0 (shape [1]) must be a leaf tensor that requires grad');
    expect(() => new Adam([w.mul(2)], { lr: 1 })).toThrow('Adam: parameter 0 (shape [1]) must be a leaf tensor that requires grad');
  });
});

describe('clipGradNorm', () => {
  const grads = fc.array(fc.array(fc.double({ min: -100, max: 100, noNaN: true }), { minLength: 1, maxLength: 6 }), { minLength: 1, maxLength: 4 });

  function withGrads(gs: readonly number[][]): Tensor[] {
    return gs.map((g) => {
      const p = tensor(g.map(() => 0), { dtype: 'float64', requiresGrad: true });
      p.grad = tensor(g, { dtype: 'float64' });
      return p;
    });
  }

  it('returns the global L2 norm over all gradients and scales them together to at most maxNorm', () => {
    fc.assert(fc.property(grads, fc.double({ min: 0.01, max: 200, noNaN: true }), (gs, maxNorm) => {
      const params = withGrads(gs);
      const norm = Math.hypot(...gs.flat());
      expect(clipGradNorm(params, maxNorm)).toBeCloseTo(norm, 9);
      const scale = norm > maxNorm ? maxNorm / (norm + 1e-6) : 1;
      params.forEach((p, i) => expectClose(p.grad!.dataSync(), gs[i]!.map((g) => g * scale)));
      expect(Math.hypot(...params.flatMap((p) => Array.from(p.grad!.dataSync())))).toBeLessThanOrEqual(maxNorm);
    }));
  });

  it('skips parameters without gradients and rejects a non-positive maxNorm', () => {
    const [p] = withGrads([[3, 4]]);
    const bare = tensor([1], { requiresGrad: true });
    expect(clipGradNorm([p!, bare], 1)).toBeCloseTo(5, 12);
    expect(bare.grad).toBeNull();
    expect(Array.from(p!.grad!.dataSync()).map((v) => v.toFixed(6))).toEqual(['0.600000', '0.800000']);
    expect(() => clipGradNorm([p!], 0)).toThrow('clipGradNorm: maxNorm must be > 0, got 0');
  });
});
