import type { TypedArray } from '../../../dtype.js';
import type { BinaryOp, UnaryOp } from '../../backend.js';
import { PAGE, wasmApi, type WasmMemory } from './api.js';
import {
  elementwiseModule, exportName, isComparison, wasmBinaryOps, wasmUnaryOps, type Steps, type WasmBinaryOp,
} from './elementwise-module.js';

/** One row of a broadcasting binary op, as cpu/index.ts's forEachRow hands it out. */
export type RowVisit = (start: number, offsets: Int32Array, len: number, steps: number[]) => void;

type Loop = (...args: number[]) => void;

/**
 * The float32 elementwise loops of ./elementwise-module.ts on a wasm memory of their own: the
 * operands are copied in, the loop runs on byte addresses, the result is copied out. A copy is a
 * memcpy (0.04 ns per float in cache on this VM), the JS loops it replaces cost 1.2–3 ns per
 * element (more where a branch mispredicts: relu and gt on random signs, 5–9 ns).
 */
export class WasmElementwise {
  private readonly memory: WasmMemory;
  private readonly loops: Record<string, Loop>;
  private floats: Float32Array;
  private ints: Int32Array;

  constructor() {
    const api = wasmApi();
    if (!api) throw new Error('WasmElementwise: this runtime has no WebAssembly');
    this.memory = new api.Memory({ initial: 1 });
    const module = new api.Module(elementwiseModule());
    this.loops = new api.Instance(module, { env: { memory: this.memory } }).exports as Record<string, Loop>;
    this.floats = new Float32Array(this.memory.buffer);
    this.ints = new Int32Array(this.memory.buffer);
  }

  /**
   * out = a op b, where `rows` enumerates the output's rows with each operand's offset and step
   * (cpu/index.ts's forEachRow). False, having done nothing, unless the op is one of the module's
   * and a, b are float32 (and out float32, or int32 for a comparison).
   */
  binary(op: BinaryOp, a: TypedArray, b: TypedArray, out: TypedArray, rows: (visit: RowVisit) => void): boolean {
    if (!wasmBinaryOps.has(op) || !(a instanceof Float32Array && b instanceof Float32Array)) return false;
    const comparison = isComparison(op as WasmBinaryOp);
    if (!(comparison ? out instanceof Int32Array : out instanceof Float32Array)) return false;
    const aAt = 0, bAt = aAt + aligned(a.length), outAt = bAt + aligned(b.length);
    if (!this.reserve(outAt + aligned(out.length))) return false;
    this.floats.set(a, aAt / 4);
    this.floats.set(b, bAt / 4);
    const loop = (steps: Steps) => this.loops[exportName(op as WasmBinaryOp, steps)]!;
    const vv = loop('vv'), vs = loop('vs'), sv = loop('sv');
    rows((start, [oa, ob], len, [sa, sb]) => {
      // Both steps 0 only on rows of one element, which any of the loops computes.
      const run = sa === 0 && sb !== 0 ? sv : sb === 0 && sa !== 0 ? vs : vv;
      run(aAt + 4 * oa!, bAt + 4 * ob!, outAt + 4 * start, len);
    });
    this.copyOut(outAt, out);
    return true;
  }

  /** out = op(x); false, having done nothing, unless the op is one of the module's and x, out are float32. */
  unary(op: UnaryOp, x: TypedArray, out: TypedArray): boolean {
    if (!wasmUnaryOps.has(op) || !(x instanceof Float32Array && out instanceof Float32Array)) return false;
    const xAt = 0, outAt = aligned(x.length);
    if (!this.reserve(outAt + aligned(out.length))) return false;
    this.floats.set(x, xAt / 4);
    this.loops[op]!(xAt, outAt, x.length);
    this.copyOut(outAt, out);
    return true;
  }

  private copyOut(at: number, out: TypedArray): void {
    const view = out instanceof Int32Array ? this.ints : this.floats;
    out.set(view.subarray(at / 4, at / 4 + out.length));
  }

  /** Grows the memory to at least `bytes`; false past MAX_BYTES, where the JS loops run instead. */
  private reserve(bytes: number): boolean {
    const have = this.memory.buffer.byteLength;
    if (bytes <= have) return true;
    if (bytes > MAX_BYTES) return false;
    this.memory.grow(Math.ceil((bytes - have) / PAGE));
    // Growing detaches the old buffer.
    this.floats = new Float32Array(this.memory.buffer);
    this.ints = new Int32Array(this.memory.buffer);
    return true;
  }
}

/** Past this much memory the JS loops run (wasm32 addresses 4 GiB; V8 may refuse less). */
const MAX_BYTES = 2 ** 31;

/**
 * Below this many output elements the JS loops run: the copies and the call cost more than the
 * vectors save. Measured: see the head comment of the class.
 */
const WASM_MIN_ELEMENTS = 1024;

export type ElementwisePath = 'auto' | 'js' | 'wasm';
let path: ElementwisePath = 'auto';

/**
 * For tests (exported through @switch-ts/tensor/testing): 'js' forces the JS loops, 'wasm' the
 * wasm ones at any size (still only for their ops and dtypes, and only where wasm SIMD runs).
 * Returns the previous path.
 */
export function setElementwisePath(next: ElementwisePath): ElementwisePath {
  const previous = path;
  path = next;
  return previous;
}

let instance: WasmElementwise | null | undefined;

/** The wasm loops for an output of `size` elements, or null where the JS loops should run. */
export function wasmElementwise(size: number): WasmElementwise | null {
  if (path === 'js' || (path === 'auto' && size < WASM_MIN_ELEMENTS)) return null;
  instance ??= wasmApi()?.validate(elementwiseModule()) ? new WasmElementwise() : null;
  return instance;
}

/** Bytes for `count` floats, rounded up to 16 so that every operand starts on a vector boundary. */
const aligned = (count: number): number => Math.ceil((count * 4) / 16) * 16;
