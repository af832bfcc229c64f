import type { TypedArray } from '../../../dtype.js';
import type { Shape } from '../../../shape.js';
import type { BinaryOp, UnaryOp } from '../../backend.js';
import { KernelSwitch, wasmApi, type KernelPath } from './api.js';
import {
  COPY_RANK, elementwiseModule, exportName, isComparison, wasmBinaryOps, wasmUnaryOps, type Steps, type WasmBinaryOp,
} from './elementwise-module.js';
import { kernelHeap, type WasmHeap } from './heap.js';

/** One row of a broadcasting binary op, as cpu/index.ts's forEachRow hands it out. */
export type RowVisit = (start: number, offsets: Int32Array, len: number, steps: number[]) => void;

type Loop = (...args: number[]) => void;

/**
 * The float32 elementwise loops of ./elementwise-module.ts. They run on the tensors where they
 * are when those live in the tensor heap (./heap.ts); an operand that lives elsewhere (no heap
 * here, or an array the user gave) is copied into a block of the heap first, and so is the
 * result out of one. The JS loops they replace cost 1.2–3 ns per element, more where a branch
 * mispredicts (relu and gt on random signs, 5–9 ns); these run at 0.25–0.5 ns on large tensors.
 */
export class WasmElementwise {
  private readonly loops: Record<string, Loop>;

  constructor(private readonly heap: WasmHeap) {
    this.loops = heap.instantiate<Record<string, Loop>>(elementwiseModule).exports;
  }

  /**
   * out = a op b, where `rows` enumerates the output's rows with each operand's offset and step
   * (cpu/index.ts's forEachRow). False, having done nothing, unless the op is one of the module's
   * and a, b are float32 (and out float32, or int32 for a comparison), and the heap has room.
   */
  binary(op: BinaryOp, a: TypedArray, b: TypedArray, out: TypedArray, rows: (visit: RowVisit) => void): boolean {
    if (!wasmBinaryOps.has(op) || !(a instanceof Float32Array && b instanceof Float32Array)) return false;
    const comparison = isComparison(op as WasmBinaryOp);
    if (!(comparison ? out instanceof Int32Array : out instanceof Float32Array)) return false;
    return this.heap.withAddresses([a, b, out], [out], ([aAt, bAt, outAt]) => {
      const loop = (steps: Steps) => this.loops[exportName(op as WasmBinaryOp, steps)]!;
      const vv = loop('vv'), vs = loop('vs'), sv = loop('sv');
      rows((start, [oa, ob], len, [sa, sb]) => {
        // Both steps 0 only on rows of one element, which any of the loops computes.
        const run = sa === 0 && sb !== 0 ? sv : sb === 0 && sa !== 0 ? vs : vv;
        run(aAt! + 4 * oa!, bAt! + 4 * ob!, outAt! + 4 * start, len);
      });
    });
  }

  /**
   * Copies the block of `shape` from x to out, element c read at from + Σ c·fromStrides and written
   * at to + Σ c·toStrides (in elements), as cpu/index.ts's copyStrided. False, having done nothing,
   * unless the elements are 4 bytes (float32, int32), the block has at most COPY_RANK dims once
   * contiguous ones are merged, and the heap has room.
   */
  copy(shape: Shape, x: TypedArray, from: number, fromStrides: readonly number[], out: TypedArray, to: number, toStrides: readonly number[]): boolean {
    if (x.BYTES_PER_ELEMENT !== 4 || out.BYTES_PER_ELEMENT !== 4) return false;
    const dims = mergeDims(shape, fromStrides, toStrides);
    if (dims.length > COPY_RANK) return false;
    while (dims.length < COPY_RANK) dims.unshift({ n: 1, from: 0, to: 0 });
    return this.heap.withAddresses([x, out], [out], ([xAt, outAt]) => this.loops.copy!(
      xAt! + 4 * from, outAt! + 4 * to, ...dims.map((d) => d.n), ...dims.map((d) => 4 * d.from), ...dims.map((d) => 4 * d.to),
    ));
  }

  /**
   * index_select along the middle axis of x viewed as [outer, len, inner]: out[o, j, :] =
   * x[o, indices[j], :]. False, having done nothing, unless x has 4-byte elements and the heap has room.
   */
  gather(x: TypedArray, indices: TypedArray, out: TypedArray, outer: number, len: number, inner: number): boolean {
    if (x.BYTES_PER_ELEMENT !== 4 || !(indices instanceof Int32Array)) return false;
    const count = indices.length;
    return this.heap.withAddresses([x, indices, out], [out], ([xAt, iAt, outAt]) => {
      for (let o = 0; o < outer; o++) this.loops.gatherRows!(xAt! + 4 * o * len * inner, iAt!, outAt! + 4 * o * count * inner, count, 4 * inner);
    });
  }

  /**
   * index_add in place on out viewed as [outer, len, inner]: out[o, indices[j], :] += src[o, j, :]
   * in order of j. False, having done nothing, unless out and src are float32 and the heap has room.
   */
  indexAdd(out: TypedArray, indices: TypedArray, src: TypedArray, outer: number, len: number, inner: number): boolean {
    if (!(out instanceof Float32Array && src instanceof Float32Array && indices instanceof Int32Array)) return false;
    const count = indices.length;
    return this.heap.withAddresses([out, indices, src], [out], ([outAt, iAt, srcAt]) => {
      for (let o = 0; o < outer; o++) this.loops.addRows!(outAt! + 4 * o * len * inner, iAt!, srcAt! + 4 * o * count * inner, count, 4 * inner);
    });
  }

  /**
   * out[o] = the sum of x's line o, for x viewed as [lines, len] (a sum over a contiguous axis):
   * in double, in order along the line, as the JS loop. False, having done nothing, unless x and
   * out are float32 and the heap has room.
   */
  sumLines(x: TypedArray, out: TypedArray, lines: number, len: number): boolean {
    if (!(x instanceof Float32Array && out instanceof Float32Array)) return false;
    return this.heap.withAddresses([x, out], [out], ([xAt, outAt]) => this.loops.sumLines!(xAt!, outAt!, lines, len));
  }

  /**
   * The sum over the middle axis of x viewed as [outer, len, inner] (inner > 1), each column in
   * double, in order, as the JS loop. False, having done nothing, unless x and out are float32 and
   * the heap has room.
   */
  sumColumns(x: TypedArray, out: TypedArray, outer: number, len: number, inner: number): boolean {
    if (!(x instanceof Float32Array && out instanceof Float32Array)) return false;
    return this.heap.withBlock(8 * inner, (acc) =>
      this.heap.withAddresses([x, out], [out], ([xAt, outAt]) => this.loops.sumColumns!(xAt!, outAt!, outer, len, inner, acc)));
  }

  /**
   * softmax along the lines of x viewed as [lines, len] (a contiguous axis), as cpu/index.ts's
   * loop computes it (./elementwise-module.ts, expLines). False, having done nothing, unless x and out are
   * float32 and the heap has room.
   */
  softmax(x: TypedArray, out: TypedArray, lines: number, len: number): boolean {
    if (!(x instanceof Float32Array && out instanceof Float32Array)) return false;
    return this.heap.withAddresses([x, out], [out], ([xAt, outAt]) => this.loops.softmax!(xAt!, outAt!, lines, len));
  }

  /**
   * For each line of x viewed as [lines, len] (a contiguous axis), its max m and s = Σ exp(x − m),
   * handed to `each` (line, m, s), as cpu/index.ts's logsumexp loop finds them. False, having done
   * nothing, unless x is float32 and the heap has room.
   */
  maxSumExp(x: TypedArray, lines: number, len: number, each: (line: number, max: number, sum: number) => void): boolean {
    if (!(x instanceof Float32Array)) return false;
    return this.heap.withBlock(16 * lines, (at) => this.heap.withAddresses([x], [], ([xAt]) => {
      this.loops.maxSumExp!(xAt!, at, lines, len);
      const maxSum = this.heap.view('float64', at, 2 * lines);
      for (let o = 0; o < lines; o++) each(o, maxSum[2 * o]!, maxSum[2 * o + 1]!);
    }));
  }

  /**
   * argmax or argmin along the lines of x viewed as [lines, len] (a contiguous axis, len ≥ 1) into
   * int32 out, as cpu/index.ts's loop. False, having done nothing, unless x is float32 and the
   * heap has room.
   */
  argLines(op: 'argmax' | 'argmin', x: TypedArray, out: TypedArray, lines: number, len: number): boolean {
    if (!(x instanceof Float32Array && out instanceof Int32Array) || len < 1) return false;
    return this.heap.withAddresses([x, out], [out], ([xAt, outAt]) => this.loops[op]!(xAt!, outAt!, lines, len));
  }

  /** out = x as float32, for int32 x; false, having done nothing, for other dtypes or where the heap has no room. */
  castInt32(x: TypedArray, out: TypedArray): boolean {
    if (!(x instanceof Int32Array && out instanceof Float32Array)) return false;
    return this.heap.withAddresses([x, out], [out], ([xAt, outAt]) => this.loops.castInt32!(xAt!, outAt!, x.length));
  }

  /** out = op(x); false, having done nothing, unless the op is one of the module's, x and out are float32 and the heap has room. */
  unary(op: UnaryOp, x: TypedArray, out: TypedArray): boolean {
    if (!wasmUnaryOps.has(op) || !(x instanceof Float32Array && out instanceof Float32Array)) return false;
    return this.heap.withAddresses([x, out], [out], ([xAt, outAt]) => this.loops[op]!(xAt!, outAt!, x.length));
  }
}

/**
 * The dims of a strided block, without those of size 1, and with each dim merged into the one
 * before it where both sides step over it contiguously: a transpose of [B, S, H, D] to
 * [B, H, S, D] stays 4 dims, a slice of whole rows becomes 1.
 */
function mergeDims(shape: Shape, fromStrides: readonly number[], toStrides: readonly number[]): { n: number; from: number; to: number }[] {
  const dims: { n: number; from: number; to: number }[] = [];
  shape.forEach((n, d) => {
    if (n === 1) return;
    const prev = dims[dims.length - 1];
    if (prev && prev.from === fromStrides[d]! * n && prev.to === toStrides[d]! * n) {
      prev.n *= n;
      prev.from = fromStrides[d]!;
      prev.to = toStrides[d]!;
    } else {
      dims.push({ n, from: fromStrides[d]!, to: toStrides[d]! });
    }
  });
  return dims;
}

/**
 * Below this many output elements the JS loops run: the call and the bookkeeping cost more than
 * the vectors save. Measured on heap tensors (ops on a tensor, mul, relu, a row add and gt in
 * turn, JS / wasm, ns per element, two runs): 128: 26 / 31–33; 256: 13–15 / 18; 512: 7.2–7.3 /
 * 7.3–9.0; 2048: 3.4 / 2.4; 65,536: 4.4 / 0.27.
 */
const WASM_MIN_ELEMENTS = 1024;

const kernelSwitch = new KernelSwitch(WASM_MIN_ELEMENTS);

/**
 * For tests (exported through @switch-ts/tensor/testing): 'js' forces the JS loops, 'wasm' the
 * wasm ones at any size (still only for their ops and dtypes, and only where wasm SIMD runs).
 * Returns the previous path.
 */
export function setElementwisePath(next: KernelPath): KernelPath {
  return kernelSwitch.set(next);
}

let instance: WasmElementwise | null | undefined;

/** The wasm loops for an output of `size` elements, or null where the JS loops should run. */
export function wasmElementwise(size: number): WasmElementwise | null {
  if (!kernelSwitch.wasm(size)) return null;
  if (instance === undefined) {
    instance = wasmApi()?.validate(elementwiseModule()) ? new WasmElementwise(kernelHeap()) : null;
  }
  return instance;
}
