import type { TypedArray } from '../../dtype.js';
import type { BinaryOp, ReduceOp, UnaryOp } from '../backend.js';
import { formulaFunctions, formulaName, unaryFormulas, binaryFormulas } from '../formulas.js';

/**
 * The CPU's elementwise and reduction loops, one per op, each compiled (new Function) from the
 * shared formula source with the formula's call written into the loop. A single loop that calls
 * `fns[op](x)` sees every op at one call site: V8 gives up inlining there and boxes every double
 * it returns (34 ns per element against 5 ns for `mul` in the demo's mix, and ~150 MB of garbage
 * per training step). A loop that only ever calls op_mul inlines it and keeps numbers unboxed.
 */

const formulas = formulaFunctions.map((f) => f.source).join('\n');

function compile<F>(params: string[], body: string): F {
  return new Function(`${formulas}\nreturn function (${params.join(', ')}) {\n${body}\n};`)() as F;
}

function table<Op extends string, F>(ops: readonly Op[], make: (op: Op) => F): Record<Op, F> {
  return Object.fromEntries(ops.map((op) => [op, make(op)])) as Record<Op, F>;
}

export type UnaryLoop = (x: TypedArray, out: TypedArray) => void;
/** out[start + j] = f(a[pa + j·sa], b[pb + j·sb]) for j < len: one row of a broadcasting binary op. */
export type BinaryRowLoop = (a: TypedArray, b: TypedArray, out: TypedArray, start: number, len: number, pa: number, sa: number, pb: number, sb: number) => void;
/**
 * Reduces the middle axis of x viewed as [outer, len, inner] into out [outer, inner]; `acc` is
 * float64 scratch of length ≥ inner, so float32 sums accumulate in double and round once.
 */
export type ReduceLoop = (x: TypedArray, out: TypedArray, outer: number, len: number, inner: number, acc: Float64Array) => void;

export const unaryLoops = table(Object.keys(unaryFormulas) as UnaryOp[], (op) => compile<UnaryLoop>(['x', 'out'],
  `for (let i = 0; i < x.length; i++) out[i] = ${formulaName(op)}(x[i]);`));

export const binaryRowLoops = table(Object.keys(binaryFormulas) as BinaryOp[], (op) => compile<BinaryRowLoop>(
  ['a', 'b', 'out', 'start', 'len', 'pa', 'sa', 'pb', 'sb'],
  `for (let j = 0; j < len; j++, pa += sa, pb += sb) out[start + j] = ${formulaName(op)}(a[pa], b[pb]);`));

const reductions: Record<ReduceOp, { init: string; combine: (acc: string, v: string) => string }> = {
  sum: { init: '0', combine: (acc, v) => `${acc} + ${v}` },
  max: { init: '-Infinity', combine: (acc, v) => `${formulaName('maximum')}(${acc}, ${v})` },
  min: { init: 'Infinity', combine: (acc, v) => `${formulaName('minimum')}(${acc}, ${v})` },
};

// A contiguous line (inner = 1) runs down one register; otherwise whole rows of `inner` are
// combined at a time, so every read is sequential (reducing axis 0 of [B, n] reads row by row).
export const reduceLoops = table(Object.keys(reductions) as ReduceOp[], (op) => {
  const { init, combine } = reductions[op];
  return compile<ReduceLoop>(['x', 'out', 'outer', 'len', 'inner', 'acc'], `
if (inner === 1) {
  for (let o = 0; o < outer; o++) {
    let s = ${init};
    for (let j = 0, p = o * len; j < len; j++, p++) s = ${combine('s', 'x[p]')};
    out[o] = s;
  }
  return;
}
for (let o = 0; o < outer; o++) {
  acc.fill(${init}, 0, inner);
  for (let j = 0, p = o * len * inner; j < len; j++) {
    for (let i = 0; i < inner; i++, p++) acc[i] = ${combine('acc[i]', 'x[p]')};
  }
  for (let i = 0; i < inner; i++) out[o * inner + i] = acc[i];
}`);
});
