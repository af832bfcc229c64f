import type { DType, TypedArray } from '../../dtype.js';
import { broadcastStrides, sizeOf, splitAtAxis, stridesOf, type Shape } from '../../shape.js';
import type { Backend, DataHandle, KernelInput } from '../backend.js';
import { registerKernels, type KernelTable } from '../registry.js';
import { binaryRowLoops, reduceLoops, unaryLoops } from './loops.js';
import { MatmulWorkspace, matmulBlocked, type BatchOffsets } from './matmul.js';
import { arrays, POOL_MIN_BYTES } from './pool.js';
import { tensorHeap } from './wasm/heap.js';
import { wasmElementwise, type RowVisit } from './wasm/elementwise.js';

const data = (x: KernelInput): TypedArray => x.handle as TypedArray;

/**
 * Visits every element of `outShape` in row-major order, handing the callback the matching flat
 * offset into each operand, given each operand's stride per output dim (0 where it broadcasts,
 * permuted for a transpose). One walker serves every strided kernel instead of a loop per kernel.
 */
function walkStrided(outShape: Shape, operandStrides: number[][], visit: (i: number, offsets: Int32Array) => void): void {
  const rank = outShape.length;
  const n = sizeOf(outShape);
  const offsets = new Int32Array(operandStrides.length);
  const index = new Int32Array(rank);
  for (let i = 0; i < n; i++) {
    visit(i, offsets);
    for (let d = rank - 1; d >= 0; d--) {
      index[d]!++;
      for (let o = 0; o < offsets.length; o++) offsets[o]! += operandStrides[o]![d]!;
      if (index[d]! < outShape[d]!) break;
      for (let o = 0; o < offsets.length; o++) offsets[o]! -= operandStrides[o]![d]! * outShape[d]!;
      index[d] = 0;
    }
  }
}

/**
 * Splits a broadcasting elementwise kernel into rows with a plain inner loop, so the per-element
 * cost is one read per operand: operands that are all full-size or scalars form one long row;
 * otherwise each row is the last dim, and `steps` is each operand's stride along it (0 or 1).
 */
function forEachRow(
  outShape: Shape, inputs: readonly Shape[],
  visit: RowVisit,
): void {
  const n = sizeOf(outShape);
  if (inputs.every((s) => sizeOf(s) === n || sizeOf(s) === 1)) {
    // A full-size operand broadcast to outShape only gained dims of 1: same row-major layout.
    visit(0, new Int32Array(inputs.length), n, inputs.map((s) => (sizeOf(s) === n && n > 1 ? 1 : 0)));
    return;
  }
  const rank = outShape.length, len = outShape[rank - 1]!;
  const strides = inputs.map((s) => broadcastStrides(s, outShape));
  const steps = strides.map((st) => st[rank - 1]!);
  walkStrided(outShape.slice(0, -1), strides.map((st) => st.slice(0, -1)), (row, o) => visit(row * len, o, len, steps));
}

/**
 * Copies the elements of a block of shape `shape` from x to out: element c is read at
 * from + Σ c·fromStrides and written at to + Σ c·toStrides, a row (the last dim) per plain loop.
 * Transpose, broadcast, slice and pad differ only in the strides and offsets they pass.
 */
function copyStrided(shape: Shape, x: TypedArray, from: number, fromStrides: readonly number[], out: TypedArray, to: number, toStrides: readonly number[]): void {
  const size = sizeOf(shape);
  if (size === 0 || wasmElementwise(size)?.copy(shape, x, from, fromStrides, out, to, toStrides)) return;
  if (shape.length === 0) {
    out[to] = x[from]!;
    return;
  }
  const last = shape.length - 1, len = shape[last]!, fs = fromStrides[last]!, ts = toStrides[last]!;
  walkStrided(shape.slice(0, -1), [fromStrides.slice(0, -1), toStrides.slice(0, -1)], (_, o) => {
    for (let j = 0, p = from + o[0]!, q = to + o[1]!; j < len; j++, p += fs, q += ts) out[q] = x[p]!;
  });
}

/** Calls visit(outer, inner) once per line along `axis`, with the line's start offset and stride. */
function forEachLine(shape: Shape, axis: number, visit: (start: number, outIndex: number, len: number, stride: number) => void): void {
  const [outer, len, inner] = splitAtAxis(shape, axis);
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) visit(o * len * inner + i, o * inner + i, len, inner);
  }
}

/** The reference backend: plain loops over typed arrays. A handle is the typed array itself. */
export class CpuBackend implements Backend {
  readonly name = 'cpu';

  upload(values: TypedArray, dtype: DType, share = false): DataHandle {
    if (share || !tensorHeap() || values.byteLength < POOL_MIN_BYTES) return values;
    // Into the wasm heap, where the wasm kernels read it in place (a weight is read every step).
    const stored = arrays.take(dtype, values.length);
    stored.set(values);
    return stored;
  }
  read(handle: DataHandle): TypedArray {
    const array = handle as TypedArray;
    // Storage in the wasm heap stays inside: its block is reused once the tensor is disposed.
    if ((tensorHeap()?.addressOf(array) ?? -1) >= 0) return array.slice();
    // The caller may keep the array (dataSync), so it must never be handed to another tensor.
    arrays.escape(array);
    return array;
  }
  write(handle: DataHandle, values: TypedArray): void {
    (handle as TypedArray).set(values);
  }
  free(handle: DataHandle): void {
    arrays.give(handle as TypedArray);
  }
  copy(handle: DataHandle, dtype: DType): DataHandle {
    const from = handle as TypedArray;
    const to = arrays.take(dtype, from.length);
    to.set(from);
    return to;
  }
}

const workspace = new MatmulWorkspace();

/** For tests: the threads a large float32 matmul runs on now (1 until the workers have started). */
export function matmulThreads(): number {
  return workspace.wasm()?.readyThreads ?? 1;
}
let reduceScratch = new Float64Array(0);

/** Every kernel, as loops over typed arrays: the reference the other backends fall back to. */
export const cpuKernels: Required<KernelTable> = {
  fill: { run: (_, { value }, out) => arrays.take(out.dtype, sizeOf(out.shape)).fill(value) },

  cast: {
    run: ([x], _, out) => {
      const xv = data(x!);
      const result = arrays.take(out.dtype, xv.length);
      // Float → int truncates toward zero, like PyTorch's .to(torch.int32).
      if (out.dtype === 'int32') for (let i = 0; i < result.length; i++) result[i] = Math.trunc(xv[i]!);
      else if (!wasmElementwise(xv.length)?.castInt32(xv, result)) result.set(xv);
      return result;
    },
  },

  unary: {
    run: ([x], { op }) => {
      const xv = data(x!);
      const out = arrays.take(x!.dtype, xv.length);
      if (!wasmElementwise(out.length)?.unary(op, xv, out)) unaryLoops[op](xv, out);
      return out;
    },
  },

  binary: {
    run: ([a, b], { op }, outSpec) => {
      const av = data(a!), bv = data(b!);
      const out = arrays.take(outSpec.dtype, sizeOf(outSpec.shape));
      const rows = (visit: RowVisit) => forEachRow(outSpec.shape, [a!.shape, b!.shape], visit);
      if (wasmElementwise(out.length)?.binary(op, av, bv, out, rows)) return out;
      const loop = binaryRowLoops[op];
      rows((start, [oa, ob], len, [sa, sb]) => loop(av, bv, out, start, len, oa!, sa!, ob!, sb!));
      return out;
    },
  },

  where: {
    run: ([cond, a, b], _, outSpec) => {
      const cv = data(cond!), av = data(a!), bv = data(b!);
      const out = arrays.take(outSpec.dtype, sizeOf(outSpec.shape));
      forEachRow(outSpec.shape, [cond!.shape, a!.shape, b!.shape], (start, [oc, oa, ob], len, [sc, sa, sb]) => {
        for (let j = 0, pc = oc!, pa = oa!, pb = ob!; j < len; j++, pc += sc!, pa += sa!, pb += sb!) {
          out[start + j] = cv[pc] !== 0 ? av[pa]! : bv[pb]!;
        }
      });
      return out;
    },
  },

  expand: {
    run: ([x], _, outSpec) => {
      const xv = data(x!);
      const out = arrays.take(outSpec.dtype, sizeOf(outSpec.shape));
      copyStrided(outSpec.shape, xv, 0, broadcastStrides(x!.shape, outSpec.shape), out, 0, stridesOf(outSpec.shape));
      return out;
    },
  },

  matmul: {
    run: ([a, b], { transA, transB }, outSpec) => {
      const outShape = outSpec.shape;
      const ra = a!.shape.length, ro = outShape.length;
      const m = outShape[ro - 2]!, n = outShape[ro - 1]!;
      const k = transA ? a!.shape[ra - 2]! : a!.shape[ra - 1]!;
      const batchShape = outShape.slice(0, -2);
      const out = arrays.take(outSpec.dtype, sizeOf(outShape));
      const aBatch = broadcastStrides(a!.shape.slice(0, -2), batchShape).map((s) => s * m * k);
      const bBatch = broadcastStrides(b!.shape.slice(0, -2), batchShape).map((s) => s * k * n);
      const av = data(a!), bv = data(b!);
      const batches: BatchOffsets[] = [];
      walkStrided(batchShape, [aBatch, bBatch], (batch, o) => batches.push([o[0]!, o[1]!, batch * m * n]));
      matmulBlocked(
        { data: av, offset: 0, rowStride: transA ? 1 : k, kStride: transA ? m : 1 },
        { data: bv, offset: 0, rowStride: transB ? k : 1, kStride: transB ? 1 : n },
        out, m, n, k, batches, workspace,
      );
      return out;
    },
  },

  reduce: {
    run: ([x], { op, axis }) => {
      const [outer, len, inner] = splitAtAxis(x!.shape, axis);
      const out = arrays.take(x!.dtype, outer * inner);
      const wasm = op === 'sum' ? wasmElementwise(outer * len * inner) : null;
      if (wasm && (inner === 1 ? wasm.sumLines(data(x!), out, outer, len) : wasm.sumColumns(data(x!), out, outer, len, inner))) return out;
      if (reduceScratch.length < inner) reduceScratch = new Float64Array(inner);
      reduceLoops[op](data(x!), out, outer, len, inner, reduceScratch);
      return out;
    },
  },

  argReduce: {
    run: ([x], { op, axis }) => {
      const xv = data(x!);
      const out = arrays.take('int32', reducedSize(x!.shape, axis));
      const [lines, len, inner] = splitAtAxis(x!.shape, axis);
      if (inner === 1 && wasmElementwise(xv.length)?.argLines(op, xv, out, lines, len)) return out;
      const sign = op === 'argmax' ? 1 : -1;
      forEachLine(x!.shape, axis, (start, oi, len, stride) => {
        let best = 0, bestV = sign * xv[start]!;
        for (let j = 1, p = start + stride; j < len; j++, p += stride) {
          const v = sign * xv[p]!;
          // NaN wins, as in NumPy and PyTorch: a NaN input should be visible in the result.
          if (v > bestV || (Number.isNaN(v) && !Number.isNaN(bestV))) { best = j; bestV = v; }
        }
        out[oi] = best;
      });
      return out;
    },
  },

  softmax: {
    run: ([x], { axis }) => {
      const xv = data(x!);
      const out = arrays.take(x!.dtype, xv.length);
      const [lines, len, inner] = splitAtAxis(x!.shape, axis);
      if (inner === 1 && wasmElementwise(xv.length)?.softmax(xv, out, lines, len)) return out;
      forEachLine(x!.shape, axis, (start, _oi, len, stride) => {
        const max = lineMax(xv, start, len, stride);
        let sum = 0;
        for (let j = 0, p = start; j < len; j++, p += stride) sum += out[p] = Math.exp(xv[p]! - max);
        for (let j = 0, p = start; j < len; j++, p += stride) out[p]! /= sum;
      });
      return out;
    },
  },

  logsumexp: {
    run: ([x], { axis }) => {
      const xv = data(x!);
      const out = arrays.take(x!.dtype, reducedSize(x!.shape, axis));
      const [lines, len, inner] = splitAtAxis(x!.shape, axis);
      const finish = (line: number, max: number, sum: number) => {
        // An infinite max is the answer (−Infinity: every term is 0; +Infinity: it dominates),
        // not the NaN of ±Infinity − ±Infinity.
        out[line] = max === -Infinity || max === Infinity ? max : max + Math.log(sum);
      };
      if (inner === 1 && wasmElementwise(xv.length)?.maxSumExp(xv, lines, len, finish)) return out;
      forEachLine(x!.shape, axis, (start, oi, len, stride) => {
        const max = lineMax(xv, start, len, stride);
        let sum = 0;
        if (Number.isFinite(max)) for (let j = 0, p = start; j < len; j++, p += stride) sum += Math.exp(xv[p]! - max);
        finish(oi, max, sum);
      });
      return out;
    },
  },

  topk: {
    run: ([x], { k, axis }, outSpec) => {
      const xv = data(x!);
      const out = arrays.take('int32', sizeOf(outSpec.shape));
      const [, , inner] = splitAtAxis(x!.shape, axis);
      const best = new Int32Array(k);
      forEachLine(x!.shape, axis, (start, oi, len, stride) => {
        // Insertion into a sorted list of the k best so far: O(len·k), and no sort of the whole line
        // when k is small (k = 1 or 2 in routing). Only a strictly greater value moves ahead of an
        // equal one, so ties keep the lower index first.
        let filled = 0;
        for (let j = 0; j < len; j++) {
          const v = xv[start + j * stride]!;
          let at = filled;
          while (at > 0 && ranksAbove(v, xv[start + best[at - 1]! * stride]!)) at--;
          if (at >= k) continue;
          best.copyWithin(at + 1, at, Math.min(filled, k - 1));
          best[at] = j;
          if (filled < k) filled++;
        }
        const outStart = Math.floor(oi / inner) * k * inner + (oi % inner);
        for (let j = 0; j < k; j++) out[outStart + j * inner] = best[j]!;
      });
      return out;
    },
  },

  transpose: {
    run: ([x], { perm }, outSpec) => {
      const xv = data(x!);
      const inStrides = stridesOf(x!.shape);
      const out = arrays.take(x!.dtype, xv.length);
      copyStrided(outSpec.shape, xv, 0, perm.map((p) => inStrides[p]!), out, 0, stridesOf(outSpec.shape));
      return out;
    },
  },

  slice: {
    run: ([x], { begin }, outSpec) => {
      const xv = data(x!);
      const strides = stridesOf(x!.shape);
      const start = begin.reduce((s, b, d) => s + b * strides[d]!, 0);
      const out = arrays.take(x!.dtype, sizeOf(outSpec.shape));
      copyStrided(outSpec.shape, xv, start, strides, out, 0, stridesOf(outSpec.shape));
      return out;
    },
  },

  pad: {
    run: ([x], { begin }, outSpec) => {
      const xv = data(x!);
      const strides = stridesOf(outSpec.shape);
      const start = begin.reduce((s, b, d) => s + b * strides[d]!, 0);
      const out = arrays.zeros(x!.dtype, sizeOf(outSpec.shape));
      copyStrided(x!.shape, xv, 0, stridesOf(x!.shape), out, start, strides);
      return out;
    },
  },

  concat: {
    run: (xs, { axis }, outSpec) => {
      const out = arrays.take(outSpec.dtype, sizeOf(outSpec.shape));
      const [outer, outLen, inner] = splitAtAxis(outSpec.shape, axis);
      let at = 0;
      for (const x of xs) {
        const xv = data(x);
        const chunk = x.shape[axis]! * inner;
        for (let o = 0; o < outer; o++) out.set(xv.subarray(o * chunk, (o + 1) * chunk), (o * outLen + at) * inner);
        at += x.shape[axis]!;
      }
      return out;
    },
  },

  gather: {
    run: ([x, indices], { axis }) => {
      const xv = data(x!), iv = data(indices!);
      const [outer, len, inner] = splitAtAxis(x!.shape, axis);
      const out = arrays.take(x!.dtype, outer * iv.length * inner);
      if (wasmElementwise(out.length)?.gather(xv, iv, out, outer, len, inner)) return out;
      for (let o = 0; o < outer; o++) {
        for (let j = 0; j < iv.length; j++) {
          const src = (o * len + iv[j]!) * inner;
          out.set(xv.subarray(src, src + inner), (o * iv.length + j) * inner);
        }
      }
      return out;
    },
  },

  indexAdd: {
    run: ([x, indices, src], { axis }) => {
      const out = arrays.take(x!.dtype, sizeOf(x!.shape));
      out.set(data(x!));
      const sv = data(src!), iv = data(indices!);
      const [outer, len, inner] = splitAtAxis(x!.shape, axis);
      if (wasmElementwise(sv.length)?.indexAdd(out, iv, sv, outer, len, inner)) return out;
      for (let o = 0; o < outer; o++) {
        for (let j = 0; j < iv.length; j++) {
          const dst = (o * len + iv[j]!) * inner, from = (o * iv.length + j) * inner;
          for (let i = 0; i < inner; i++) out[dst + i]! += sv[from + i]!;
        }
      }
      return out;
    },
  },

  takeAlongAxis: {
    run: ([x, indices], { axis }) => {
      const xv = data(x!), iv = data(indices!);
      const out = arrays.take(x!.dtype, iv.length);
      alongAxis(x!.shape, indices!.shape, axis, iv, (p, q) => { out[p] = xv[q]!; });
      return out;
    },
  },

  scatterAdd: {
    run: ([x, indices, src], { axis }) => {
      const out = arrays.take(x!.dtype, sizeOf(x!.shape));
      out.set(data(x!));
      const sv = data(src!);
      alongAxis(x!.shape, indices!.shape, axis, data(indices!), (p, q) => { out[q]! += sv[p]!; });
      return out;
    },
  },

  oneHot: {
    run: ([indices], { depth }, outSpec) => {
      const iv = data(indices!);
      const out = arrays.zeros(outSpec.dtype, iv.length * depth);
      for (let i = 0; i < iv.length; i++) out[i * depth + iv[i]!] = 1;
      return out;
    },
  },
};

registerKernels('cpu', cpuKernels);

/** Elements left after reducing `axis` away (computed from the shape: an empty axis still leaves outer × inner). */
function reducedSize(shape: Shape, axis: number): number {
  const [outer, , inner] = splitAtAxis(shape, axis);
  return outer * inner;
}

/** The order topk sorts by: larger first, NaN above every number (as torch.topk and argmax). */
function ranksAbove(a: number, b: number): boolean {
  return a > b || (Number.isNaN(a) && !Number.isNaN(b));
}

function lineMax(v: TypedArray, start: number, len: number, stride: number): number {
  let max = -Infinity;
  for (let j = 0, p = start; j < len; j++, p += stride) if (v[p]! > max) max = v[p]!;
  return max;
}

/**
 * Pairs each position p of an index tensor (shape `indexShape`) with the position q in a tensor of
 * shape `xShape` that has the same coordinates except along `axis`, where it has indices[p].
 * Shared by take_along_axis (read q into p) and scatter_add (add p into q).
 */
function alongAxis(xShape: Shape, indexShape: Shape, axis: number, iv: TypedArray, visit: (p: number, q: number) => void): void {
  const xStrides = stridesOf(xShape);
  const rowStrides = xStrides.map((s, d) => (d === axis ? 0 : s));
  walkStrided(indexShape, [rowStrides], (p, o) => visit(p, o[0]! + iv[p]! * xStrides[axis]!));
}
