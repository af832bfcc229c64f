import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import * as T from '@switch-ts/tensor';
import { tensor, type Tensor } from '@switch-ts/tensor';
import { setMatmulPath, wasmSimd } from '@switch-ts/tensor/testing';
import * as A from './arbitraries.js';
import { transpose } from './reference/indexing.js';
import { matmul } from './reference/matmul.js';
import type { RefTensor } from './reference/tensor.js';

/**
 * The float32 matmul on the WebAssembly SIMD kernel (packages/tensor/src/backend/cpu/wasm/) and
 * on the JS kernel, against the float64 triple loop of test/reference.
 *
 * Tolerance. The wasm kernel accumulates in float32: each element is a dot product of float32
 * inputs summed in k blocks of kc (a running sum per block, then the block sums added to C), so
 * with u = 2⁻²⁴ its error is at most γ_{kc + ⌈k/kc⌉ − 1} · Σ|a·b| (Higham, Accuracy and
 * Stability, §3.1; γ_n = n·u / (1 − n·u)), which is ≤ γ_k · (|A|·|B|)_ij for every k. That
 * elementwise bound is what we check; a wrong index or a lost term is off by a whole |a·b|, far
 * above it. The JS kernel sums in float64 and rounds once, so it meets the same bound with room.
 * Inputs are float32 values in [−3, 3] that are 0 or at least 1e-6 in magnitude, so that no
 * product underflows (float32 flushes below ~1e-38 what float64 still resolves).
 */

const U = 2 ** -24;
const gamma = (n: number) => (n * U) / (1 - n * U);

const f32values = (n: number) => A.values(n).map((v) => v.map((x) => (Math.abs(x) < 1e-6 ? 0 : Math.fround(x))));
const f32 = (x: RefTensor): Tensor => tensor(x.data, { shape: x.shape, dtype: 'float32' });
const absOf = (x: RefTensor): RefTensor => ({ shape: x.shape, data: x.data.map(Math.abs) });
/** Swaps the last two dims (the matrix transpose of every matrix in a batch). */
const transposed = (x: RefTensor): RefTensor => {
  const r = x.shape.length;
  return transpose(x, [...x.shape.keys()].map((d) => (d === r - 2 ? r - 1 : d === r - 1 ? r - 2 : d)));
};

interface Case {
  /** Stored operands: A is [..., k, m] when transA, B is [..., n, k] when transB. */
  a: RefTensor;
  b: RefTensor;
  transA: boolean;
  transB: boolean;
  k: number;
}

/** m, n, k in 1..maxDim (mostly not multiples of the 4×8 tile), batch dims that broadcast, any transposes. */
function cases(maxDim = 70): fc.Arbitrary<Case> {
  const dim = fc.integer({ min: 1, max: maxDim });
  return fc.record({ m: dim, n: dim, k: dim, transA: fc.boolean(), transB: fc.boolean(), batch: A.broadcastPair({ maxRank: 2, maxDim: 3 }) })
    .chain(({ m, n, k, transA, transB, batch: [ba, bb] }) => fc.record({
      a: A.dataOf([...ba, ...(transA ? [k, m] : [m, k])], f32values),
      b: A.dataOf([...bb, ...(transB ? [n, k] : [k, n])], f32values),
      transA: fc.constant(transA), transB: fc.constant(transB), k: fc.constant(k),
    }));
}

function run({ a, b, transA, transB }: Case): Float32Array {
  return T.tidy(() => T.matmulTransposed(f32(a), f32(b), transA, transB).dataSync() as Float32Array);
}

/** The exact product and Σ|a·b| per element, in float64. */
function reference({ a, b, transA, transB }: Case): { exact: RefTensor; scale: number[] } {
  const left = transA ? transposed(a) : a, right = transB ? transposed(b) : b;
  return { exact: matmul(left, right), scale: matmul(absOf(left), absOf(right)).data };
}

/** max over elements of |x − y| / (γ_k · Σ|a·b|): at most 1 within the bound. */
function boundRatio(x: ArrayLike<number>, y: ArrayLike<number>, scale: readonly number[], k: number): number {
  let worst = 0;
  for (let i = 0; i < scale.length; i++) {
    const d = Math.abs(x[i]! - y[i]!);
    if (d > 0) worst = Math.max(worst, d / (gamma(k) * scale[i]!));
  }
  return worst;
}

function expectWithinBound(c: Case): void {
  const got = run(c);
  const { exact, scale } = reference(c);
  expect(got.length).toBe(exact.data.length);
  expect(boundRatio(got, exact.data, scale, c.k)).toBeLessThanOrEqual(1);
}

afterEach(() => { setMatmulPath('auto'); });

describe('float32 matmul on the wasm SIMD kernel', () => {
  it('runs here: Node has WebAssembly SIMD, so the properties below test the wasm kernel, not the fallback', () => {
    expect(wasmSimd()).toBe(true);
  });

  it('is within γ_k·(|A|·|B|) of the float64 product for every transpose combination and broadcast batches', () => {
    setMatmulPath('wasm');
    fc.assert(fc.property(cases(), expectWithinBound), { numRuns: 60 });
  });

  it('stays within the bound past one cache block in every direction (k > kc, m > mc, n > nc) and for vectors', () => {
    setMatmulPath('wasm');
    const shapes: [number, number, number][] = [[130, 37, 520], [3, 4100, 5], [1, 300, 257], [300, 1, 257], [129, 129, 1]];
    fc.assert(fc.property(fc.constantFrom(...shapes), fc.boolean(), fc.boolean(), fc.integer(), ([m, n, k], transA, transB, seed) => {
      const rng = new T.Rng(seed);
      const values = (shape: number[]) => ({ shape, data: Array.from(T.randn(shape, rng).dataSync(), (x) => Math.fround(x)) });
      expectWithinBound({ a: values(transA ? [k, m] : [m, k]), b: values(transB ? [n, k] : [k, n]), transA, transB, k });
    }), { numRuns: 8 });
  });

  it('the JS kernel meets the same bound, and the two kernels agree within twice it', () => {
    fc.assert(fc.property(cases(), (c) => {
      setMatmulPath('js');
      const js = run(c);
      setMatmulPath('wasm');
      const wasm = run(c);
      const { exact, scale } = reference(c);
      expect(boundRatio(js, exact.data, scale, c.k)).toBeLessThanOrEqual(1);
      expect(boundRatio(js, wasm, scale, c.k)).toBeLessThanOrEqual(2);
    }), { numRuns: 40 });
  });

  it('puts NaN and ±Infinity where the JS kernel does', () => {
    const special = fc.constantFrom(NaN, Infinity, -Infinity, 0);
    const withSpecials = (x: RefTensor) => fc.array(fc.tuple(fc.nat(x.data.length - 1), special), { maxLength: 3 })
      .map((hits) => {
        const data = [...x.data];
        for (const [i, v] of hits) data[i] = v;
        return { shape: x.shape, data };
      });
    const spiked = cases(20).chain((c) => fc.tuple(withSpecials(c.a), withSpecials(c.b)).map(([a, b]) => ({ ...c, a, b })));
    fc.assert(fc.property(spiked, (c) => {
      setMatmulPath('js');
      const js = run(c);
      setMatmulPath('wasm');
      const wasm = run(c);
      const kind = (x: number) => (Number.isNaN(x) ? 'NaN' : Number.isFinite(x) ? 'finite' : String(x));
      expect(Array.from(wasm, kind)).toEqual(Array.from(js, kind));
    }), { numRuns: 60 });
  });
});
