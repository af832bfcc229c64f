import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { assemble, FunctionBody } from '../src/backend/cpu/wasm/assembler.js';
import { expOf } from '../src/backend/cpu/wasm/exp.js';
import { wasmSimd } from '@switch-ts/tensor/testing';

/**
 * The wasm exp (src/backend/cpu/wasm/exp.ts) on doubles, against V8's Math.exp bit for bit: the
 * float32 kernels feed it doubles (x − max in softmax), so every double must come out as Math.exp
 * has it. The doubles cluster where fdlibm's algorithm branches: around each high-word threshold
 * it compares, the overflow and underflow thresholds, the subnormal results, k = ±1 and 1024,
 * exp(1), and special values. (Every float32 input was also checked once, all 2^32 of them.)
 */

const { Memory, Module, Instance } = (globalThis as unknown as { WebAssembly: {
  Memory: new (d: { initial: number }) => { buffer: ArrayBuffer };
  Module: new (bytes: Uint8Array) => object;
  Instance: new (m: object, imports: object) => { exports: Record<string, (...args: number[]) => void> };
} }).WebAssembly;

/** A module whose run(x, out, pairs) writes exp of the doubles at x to out. */
function expModule(): (values: Float64Array) => Float64Array {
  const f = new FunctionBody(['i32', 'i32', 'i32']);
  const [x, out, pairs] = [0, 1, 2];
  const v = f.local('v128');
  const exp = expOf(f);
  f.repeat(pairs, () => {
    f.get(x).mem('v128.load').set(v);
    f.get(out);
    exp(v);
    f.mem('v128.store');
    f.addTo(x, 16).addTo(out, 16);
  });
  const memory = new Memory({ initial: 2 });
  const { run } = new Instance(new Module(assemble({ memory: { module: 'env', field: 'memory', minPages: 1 }, functions: { run: f } })), { env: { memory } }).exports;
  return (values) => {
    const pairs = Math.ceil(values.length / 2);
    const input = new Float64Array(memory.buffer, 0, 2 * pairs), output = new Float64Array(memory.buffer, 16 * pairs, 2 * pairs);
    input.fill(0).set(values);
    run!(0, 16 * pairs, pairs);
    return output.slice(0, values.length);
  };
}

/** The double with this high word and low word. */
function fromWords(high: number, low: number): number {
  const words = new Uint32Array([low >>> 0, high >>> 0]);
  return new Float64Array(words.buffer)[0]!;
}

/** High words of |x| where fdlibm branches (its constants), and of the thresholds and k = ±1, 1024. */
const BRANCH_HIGHS = [0x3fd62e42, 0x3ff0a2b2, 0x3e300000, 0x40862e42, 0x40861fff, 0x40862000, 0x40874910, 0x3ff00000, 0x7ff00000];

const double = fc.oneof(
  // Around each branch point: the same high word ± a few, any low word, either sign.
  fc.tuple(fc.constantFrom(...BRANCH_HIGHS), fc.integer({ min: -3, max: 3 }), fc.nat(), fc.boolean())
    .map(([high, step, low, negative]) => fromWords(((high + step) | (negative ? 0x80000000 : 0)) >>> 0, low)),
  fc.double({ min: -760, max: 760 }),
  fc.double({ min: -1, max: 1 }),
  fc.double(),
  fc.constantFrom(0, -0, 1, -1, Math.LN2 / 2, -Math.LN2 / 2, 1.5 * Math.LN2, 709.782712893384, 709.7827128933841,
    -745.1332191019411, -745.1332191019412, -708.4, 709.5, NaN, Infinity, -Infinity),
);

describe.skipIf(!wasmSimd())('exp in wasm', () => {
  const run = expModule();

  it('gives Math.exp\'s bits for every double, clustered at fdlibm\'s branch points', () => {
    fc.assert(fc.property(fc.array(double, { minLength: 1, maxLength: 64 }), (values) => {
      const got = run(Float64Array.from(values));
      values.forEach((x, i) => {
        const want = Math.exp(x);
        if (!(Object.is(got[i], want) || (Number.isNaN(want) && Number.isNaN(got[i]!)))) expect.fail(`exp(${x}) is ${got[i]}, Math.exp gives ${want}`);
      });
    }), { numRuns: 3000 });
  });

  it('takes fdlibm\'s slow paths lane by lane: a special value beside an ordinary one changes neither', () => {
    const specials = [NaN, Infinity, -Infinity, 1, 1e-300, -740, 709.5, 800, -800];
    for (const s of specials) {
      for (const x of [0.3, -2.5, 100]) {
        expect(Array.from(run(Float64Array.from([s, x])))).toEqual([Math.exp(s), Math.exp(x)]);
        expect(Array.from(run(Float64Array.from([x, s])))).toEqual([Math.exp(x), Math.exp(s)]);
      }
    }
  });
});
