import { afterEach, describe, expect, it } from 'vitest';
import { abs, fromArray, max, maximum, min, minimum, relu, setBackend, setDebug, tensor, zeros, type Tensor } from '@switch-ts/tensor';
import { runnableModes } from './gpu.modes.js';

/**
 * A NaN is never lost and never sneaks in: every op that picks or compares (relu, max/min,
 * maximum/minimum, abs and the sign in its gradient) returns NaN for a NaN input, on the CPU
 * backend and on every gpu.js mode that runs here; with checkFinite on, a NaN or ±Infinity is
 * refused where it enters (tensor(), fromArray(), assign()), naming the entry point.
 */

const backends: [string, () => void][] = [
  ['cpu', () => setBackend('cpu')],
  ...runnableModes.map((mode): [string, () => void] => [`gpu (${mode})`, () => setBackend('gpu', { mode, strict: true })]),
];

afterEach(() => {
  setDebug({ checkFinite: false });
  setBackend('cpu');
});

const values = (t: Tensor): number[] => Array.from(t.dataSync());

/** The row 1, 2, …, n with a NaN at `at` (none for -1); n = 200 spans several of the gpu reduction's 64-element blocks. */
const rowWithNaN = (n: number, at: number): number[] => Array.from({ length: n }, (_, i) => (i === at ? NaN : i + 1));

describe.each(backends)('NaN propagates on %s', (_name, use) => {
  it('relu and abs of NaN are NaN, and the sign in abs\'s gradient is NaN', () => {
    use();
    const x = tensor([NaN, -1, 2], { requiresGrad: true });
    expect(values(relu(x))).toEqual([NaN, 0, 2]);
    expect(values(abs(x))).toEqual([NaN, 1, 2]);
    abs(x).sum().backward();
    expect(values(x.grad!)).toEqual([NaN, -1, 1]);
  });

  it('maximum and minimum return NaN when either operand is NaN', () => {
    use();
    const a = tensor([NaN, 1, NaN, 0]);
    const b = tensor([1, NaN, NaN, -0]);
    expect(values(maximum(a, b)).slice(0, 3)).toEqual([NaN, NaN, NaN]);
    expect(values(minimum(a, b)).slice(0, 3)).toEqual([NaN, NaN, NaN]);
    expect(values(maximum(b, a)).slice(0, 3)).toEqual([NaN, NaN, NaN]);
    expect(values(minimum(b, a)).slice(0, 3)).toEqual([NaN, NaN, NaN]);
  });

  it('max and min reductions over a line holding a NaN are NaN, wherever it sits', () => {
    use();
    for (const n of [3, 200]) {
      const rows = [rowWithNaN(n, 0), rowWithNaN(n, 1), rowWithNaN(n, n - 1), rowWithNaN(n, -1)];
      const x = tensor(rows);
      expect(values(max(x, 1)), `n = ${n}`).toEqual([NaN, NaN, NaN, n]);
      expect(values(min(x, 1)), `n = ${n}`).toEqual([NaN, NaN, NaN, 1]);
      expect(values(max(x)), `n = ${n}`).toEqual([NaN]);
      expect(values(min(x.transpose(), 0)), `n = ${n}`).toEqual([NaN, NaN, NaN, 1]);
    }
  });
});

describe.each(backends)('with checkFinite on, non-finite values are refused where they enter, on %s', (_name, use) => {
  it('tensor() names itself and the position', () => {
    use();
    setDebug({ checkFinite: true });
    expect(() => tensor([1, NaN])).toThrow(/^tensor: NaN at flat index 1 of \[2\] \(checkFinite is on\)/);
    expect(() => tensor([[1], [-Infinity]], { dtype: 'float64' })).toThrow(/^tensor: -Infinity at flat index 1 of \[2,1\]/);
  });

  it('fromArray() names itself', () => {
    use();
    setDebug({ checkFinite: true });
    expect(() => fromArray(new Float32Array([Infinity, 0]), [1, 2])).toThrow(/^fromArray: Infinity at flat index 0 of \[1,2\]/);
  });

  it('assign() names itself, from values or from a tensor, and leaves the target unchanged', () => {
    use();
    const bad = tensor([0, NaN]);
    const target = zeros([2]);
    setDebug({ checkFinite: true });
    expect(() => target.assign([NaN, 1])).toThrow(/^assign: NaN at flat index 0 of \[2\]/);
    expect(() => target.assign(new Float64Array([1, Infinity]))).toThrow(/^assign: Infinity at flat index 1 of \[2\]/);
    expect(() => target.assign(bad)).toThrow(/^assign: NaN at flat index 1 of \[2\]/);
    expect(values(target)).toEqual([0, 0]);
  });

  it('finite values still enter', () => {
    use();
    setDebug({ checkFinite: true });
    const t = tensor([1, 2]).add(fromArray(new Float32Array([3, 4])));
    expect(values(t.assign([5, 6]))).toEqual([5, 6]);
  });
});
