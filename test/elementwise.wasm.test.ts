import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import * as T from '@switch-ts/tensor';
import { tensor } from '@switch-ts/tensor';
import { setElementwisePath, wasmSimd } from '@switch-ts/tensor/testing';
import * as A from './arbitraries.js';
import { binary, relu, unary } from './reference/elementwise.js';
import { gather, transpose } from './reference/indexing.js';
import { argmax, argmin, reduce } from './reference/reduce.js';
import { unravel as unravelIn, type RefTensor } from './reference/tensor.js';

/**
 * The float32 elementwise loops in WebAssembly SIMD (packages/tensor/src/backend/cpu/wasm/
 * elementwise-module.ts) against float64 reference math rounded once to float32: for these ops
 * that rounding is the exact float32 result, so every element must match bit for bit (any NaN
 * matches any NaN). Values are float32 numbers of every kind: zeros of both signs, subnormals,
 * the largest finite, infinities and NaN, so every lane sees the IEEE corner cases, in shapes
 * whose rows are not multiples of four (the scalar tail) and under every broadcast.
 */

const special = [0, -0, 1, -1, 2 ** -149, -(2 ** -149), 2 ** -126, 3.4028234663852886e38, -3.4028234663852886e38, Infinity, -Infinity, NaN];
const f32value = fc.oneof(
  { weight: 3, arbitrary: fc.double({ min: -1e3, max: 1e3, noNaN: true }).map(Math.fround) },
  { weight: 1, arbitrary: fc.constantFrom(...special) },
  { weight: 1, arbitrary: fc.float({ noDefaultInfinity: false }).map(Math.fround) },
);
const f32values = (n: number) => fc.array(f32value, { minLength: n, maxLength: n });
const f32 = (x: RefTensor): T.Tensor => tensor(x.data, { shape: x.shape, dtype: 'float32' });

/** Each op's float64 definition; comparisons as 1 or 0. */
const BINARY: Record<string, (x: number, y: number) => number> = {
  add: (x, y) => x + y, sub: (x, y) => x - y, mul: (x, y) => x * y, div: (x, y) => x / y,
  // IEEE 754-2019 maximum/minimum: NaN wins, −0 < +0 (Math.max/min agree).
  maximum: Math.max, minimum: Math.min,
  eq: (x, y) => +(x === y), ne: (x, y) => +(x !== y), lt: (x, y) => +(x < y),
  le: (x, y) => +(x <= y), gt: (x, y) => +(x > y), ge: (x, y) => +(x >= y),
};
// exp: Math.exp is the float64 definition here: the wasm loop computes V8's Math.exp step for step
// (src/backend/cpu/wasm/exp.ts), so rounding it gives the bits; packages/tensor/test/exp.test.ts
// checks the doubles themselves.
const UNARY: Record<string, (x: number) => number> = { neg: (x) => -x, abs: Math.abs, sqrt: Math.sqrt, relu, exp: Math.exp };

/** Bitwise equal after rounding the reference to float32, but that any NaN matches any NaN. */
function expectSameBits(got: ArrayLike<number>, want: readonly number[], what: string): void {
  expect(got.length, what).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    const g = got[i]!, w = Math.fround(want[i]!);
    if (Number.isNaN(w) && Number.isNaN(g)) continue;
    if (!Object.is(g, w)) expect.fail(`${what}: element ${i} is ${g}, the reference ${w}`);
  }
}

/** Rows of up to 70 (tails of 0–3 after the vectors) in up to 3 dims, broadcast either way. */
const pairs = A.broadcastPair({ maxRank: 3, maxDim: 70 }).filter(([a, b]) => A.sizeOf(A.broadcastOf(a, b)) <= 5000)
  .chain(([a, b]) => fc.tuple(A.dataOf(a, f32values), A.dataOf(b, f32values)));

describe.skipIf(!wasmSimd())('float32 elementwise loops in wasm SIMD', () => {
  afterEach(() => {
    setElementwisePath('auto');
  });

  for (const [op, f] of Object.entries(BINARY)) {
    it(`${op}: every element as the float64 definition rounded to float32, under broadcasting`, () => {
      setElementwisePath('wasm');
      fc.assert(fc.property(pairs, ([a, b]) => {
        const got = T.tidy(() => (T[op as keyof typeof T] as (x: T.Tensor, y: T.Tensor) => T.Tensor)(f32(a), f32(b)).dataSync());
        expectSameBits(got, binary(a, b, f).data, `${op} [${a.shape}] [${b.shape}]`);
      }), { numRuns: 60 });
    });
  }

  for (const [op, f] of Object.entries(UNARY)) {
    it(`${op}: every element as the float64 definition rounded to float32`, () => {
      setElementwisePath('wasm');
      fc.assert(fc.property(A.data(A.shape({ maxRank: 2, maxDim: 70 }), f32values), (x) => {
        const got = T.tidy(() => (T[op as keyof typeof T] as (x: T.Tensor) => T.Tensor)(f32(x)).dataSync());
        expectSameBits(got, unary(x, f).data, `${op} [${x.shape}]`);
      }), { numRuns: 60 });
    });
  }

  it('sum over an axis adds each line in order in double, rounded once (last axis or not, odd and even counts)', () => {
    setElementwisePath('wasm');
    const blocks = fc.tuple(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 0, max: 40 }), fc.integer({ min: 1, max: 9 }))
      .chain(([outer, len, inner]) => A.dataOf([outer, len, inner], f32values));
    fc.assert(fc.property(blocks, fc.boolean(), (x, last) => {
      const [outer, len, inner] = x.shape as [number, number, number];
      // Axis 1 of [outer, len, inner] (columns), or of the same data as [outer·inner, len] (lines);
      // the reference adds each output's terms in double, in order, from 0.
      const block = last ? { shape: [outer * inner, len], data: x.data } : x;
      const got = T.tidy(() => T.sum(f32(block), 1).dataSync());
      expectSameBits(got, reduce(block, [1], false, 'sum').data, `sum [${block.shape}] axis 1`);
    }), { numRuns: 200 });
  });

  it('softmax and logsumexp along the last axis give the JS loops\' bits, for lines of any length and values of every kind', () => {
    // The JS loops compute in double from the line's max, as the reference's definition does, but
    // round the exps to float32 before dividing: the test is that both loops give the same bits.
    const lines = fc.tuple(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 70 }))
      .chain(([n, len]) => A.dataOf([n, len], (count) => fc.array(fc.oneof(
        { weight: 4, arbitrary: fc.double({ min: -30, max: 30, noNaN: true }).map(Math.fround) },
        { weight: 1, arbitrary: f32value },
      ), { minLength: count, maxLength: count })));
    fc.assert(fc.property(lines, (x) => {
      const run = () => T.tidy(() => [T.softmax(f32(x), -1), T.logsumexp(f32(x), -1)].map((y) => Array.from(y.dataSync())));
      setElementwisePath('wasm');
      const [softmax, lse] = run();
      setElementwisePath('js');
      const [softmaxJs, lseJs] = run();
      expectSameBits(softmax!, softmaxJs!, `softmax [${x.shape}]`);
      expectSameBits(lse!, lseJs!, `logsumexp [${x.shape}]`);
    }), { numRuns: 200 });
  });

  it('argmax and argmin along the last axis pick the reference\'s index: the first best, or the first NaN', () => {
    setElementwisePath('wasm');
    // Few distinct values, so that ties (−0 with +0 among them) and repeated NaN are common.
    const value = fc.oneof({ weight: 3, arbitrary: fc.integer({ min: -3, max: 3 }) }, { weight: 1, arbitrary: f32value });
    // Lines without NaN, with a rare one, with many.
    const lines = fc.tuple(fc.integer({ min: 1, max: 30 }), fc.integer({ min: 1, max: 40 }), fc.constantFrom(0, 1, 20))
      .chain(([n, len, nans]) => A.dataOf([n, len], (count) => fc.array(
        nans === 0 ? value : fc.oneof({ weight: 100, arbitrary: value }, { weight: nans, arbitrary: fc.constant(NaN) }),
        { minLength: count, maxLength: count })));
    fc.assert(fc.property(lines, (x) => {
      const [max, min] = T.tidy(() => [T.argmax(f32(x), -1), T.argmin(f32(x), -1)].map((y) => Array.from(y.dataSync())));
      const rounded = { shape: x.shape, data: x.data.map(Math.fround) };
      expect(max, `argmax [${x.shape}]`).toEqual(argmax(rounded, 1).data);
      expect(min, `argmin [${x.shape}]`).toEqual(argmin(rounded, 1).data);
    }), { numRuns: 300 });
  });

  it('cast from int32 to float32 rounds as the float64 value rounded to float32, past 2^24 too', () => {
    setElementwisePath('wasm');
    const int32 = fc.oneof(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), fc.integer({ min: -300, max: 300 }), fc.constantFrom(2 ** 24 + 1, -(2 ** 24) - 3, 2 ** 31 - 1, -(2 ** 31)));
    fc.assert(fc.property(fc.array(int32, { minLength: 0, maxLength: 70 }), (values) => {
      const got = T.tidy(() => T.cast(tensor(values, { dtype: 'int32' }), 'float32').dataSync());
      expectSameBits(got, values, `cast [${values.length}]`);
    }), { numRuns: 100 });
  });

  it('gather picks and indexAdd adds whole rows, in order of the index list (duplicates add twice), on any axis', () => {
    setElementwisePath('wasm');
    const cases = A.shape({ minRank: 1, maxRank: 3, maxDim: 9 }).chain((sh) => A.axis(sh.length).map((a) => (a + sh.length) % sh.length).chain((axis) => fc.record({
      x: A.dataOf(sh, f32values), axis: fc.constant(axis),
      indices: fc.array(fc.nat(sh[axis]! - 1), { maxLength: 12 }),
    }))).chain(({ x, axis, indices }) => fc.record({
      x: fc.constant(x), axis: fc.constant(axis), indices: fc.constant(indices),
      src: A.dataOf(x.shape.map((d, i) => (i === axis ? indices.length : d)), f32values),
    }));
    fc.assert(fc.property(cases, ({ x, axis, indices, src }) => {
      const idx = () => tensor(indices, { dtype: 'int32' });
      const [picked, added] = T.tidy(() => [T.gather(f32(x), idx(), axis), T.indexAdd(f32(x), idx(), f32(src), axis)].map((t) => Array.from(t.dataSync())));
      expectSameBits(picked!, gather(x, indices, axis).data, `gather [${x.shape}] axis ${axis}`);
      // Each add rounds to float32, as the kernel's; the reference adds in double and rounds once.
      const want = x.data.map(Math.fround);
      const [outer, inner] = [A.sizeOf(x.shape.slice(0, axis)), A.sizeOf(x.shape.slice(axis + 1))];
      for (let o = 0; o < outer; o++) {
        indices.forEach((row, j) => {
          for (let i = 0; i < inner; i++) {
            const at = (o * x.shape[axis]! + row) * inner + i;
            want[at] = Math.fround(want[at]! + src.data[(o * indices.length + j) * inner + i]!);
          }
        });
      }
      expectSameBits(added!, want, `indexAdd [${x.shape}] axis ${axis}`);
    }), { numRuns: 150 });
  });

  it('transpose, broadcastTo and slice copy every element where the reference puts it (float32 bits, int32), in up to 5 dims', () => {
    setElementwisePath('wasm');
    const blocks = A.shape({ maxRank: 5, maxDim: 9 }).filter((sh) => A.sizeOf(sh) <= 4000).chain((sh) => fc.record({
      x: A.dataOf(sh, f32values), perm: A.permutation(sh.length), dtype: fc.constantFrom('float32' as const, 'int32' as const),
      ones: fc.array(fc.boolean(), { minLength: sh.length, maxLength: sh.length }),
      cut: fc.array(fc.tuple(fc.nat(), fc.nat()), { minLength: sh.length, maxLength: sh.length }),
    }));
    fc.assert(fc.property(blocks, ({ x, perm, dtype, ones, cut }) => {
      const values = dtype === 'int32' ? x.data.map((v) => (Number.isFinite(v) ? Math.trunc(Math.max(-1e9, Math.min(1e9, v))) | 0 : 7)) : x.data;
      const input: RefTensor = { shape: x.shape, data: values };
      // broadcastTo: the input with some dims set to 1, expanded back to the full shape.
      const narrow: RefTensor = { shape: x.shape.map((d, i) => (ones[i] ? 1 : d)), data: [] };
      narrow.data = Array.from({ length: A.sizeOf(narrow.shape) }, (_, i) => values[i]!);
      const wide = binary(narrow, { shape: x.shape, data: new Array(A.sizeOf(x.shape)).fill(0) }, (v) => v).data;
      // slice: from begin, size dims, inside the shape.
      const begin = x.shape.map((d, i) => cut[i]![0] % d), size = x.shape.map((d, i) => 1 + (cut[i]![1] % (d - begin[i]!)));
      const sliced = transpose({ shape: size, data: Array.from({ length: A.sizeOf(size) }, (_, i) => {
        const index = unravelIn(i, size).map((c, d) => c + begin[d]!);
        return values[index.reduce((o, c, d) => o * x.shape[d]! + c, 0)]!;
      }) }, [...size.keys()]).data;
      const t = (r: RefTensor) => tensor(r.data, { shape: r.shape, dtype });
      const [gotT, gotB, gotS] = T.tidy(() => [
        T.transpose(t(input), perm), T.broadcastTo(t(narrow), x.shape), T.slice(t(input), begin, size),
      ].map((y) => Array.from(y.dataSync())));
      expectSameBits(gotT!, transpose(input, perm).data, `transpose [${x.shape}] by [${perm}]`);
      expectSameBits(gotB!, wide, `broadcastTo [${narrow.shape}] → [${x.shape}]`);
      expectSameBits(gotS!, sliced, `slice [${x.shape}] at [${begin}] size [${size}]`);
    }), { numRuns: 150 });
  });

  it('gives what the JS loops give, on the default path at sizes that take the wasm loops', () => {
    fc.assert(fc.property(
      fc.constantFrom(...Object.keys(BINARY)), A.dataOf([300, 7], f32values), A.dataOf([7], f32values),
      (op, a, b) => {
        const run = () => T.tidy(() => Array.from((T[op as keyof typeof T] as (x: T.Tensor, y: T.Tensor) => T.Tensor)(f32(a), f32(b)).dataSync()));
        const auto = run();
        setElementwisePath('js');
        const js = run();
        setElementwisePath('auto');
        expectSameBits(auto, js, op);
      },
    ), { numRuns: 30 });
  });
});
