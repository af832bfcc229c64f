import { allocArray, type DType, type TypedArray } from '../../dtype.js';
import { broadcastStrides, sizeOf, splitAtAxis, stridesOf, type Shape } from '../../shape.js';
import type { Backend, BinaryOp, DataHandle, KernelInput, ReduceOp, UnaryOp } from '../backend.js';
import { binaryFns, unaryFns } from './math.js';
import { MatmulWorkspace, matmulBlocked } from './matmul.js';

/** The reference backend: plain loops over typed arrays. A handle is the typed array itself. */
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
  visit: (start: number, offsets: Int32Array, len: number, steps: number[]) => void,
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

/** Calls visit(outer, inner) once per line along `axis`, with the line's start offset and stride. */
function forEachLine(shape: Shape, axis: number, visit: (start: number, outIndex: number, len: number, stride: number) => void): void {
  const [outer, len, inner] = splitAtAxis(shape, axis);
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) visit(o * len * inner + i, o * inner + i, len, inner);
  }
}

export class CpuBackend implements Backend {
  readonly name = 'cpu';
  private readonly ws = new MatmulWorkspace();

  upload(values: TypedArray): DataHandle {
    return values;
  }
  read(handle: DataHandle): TypedArray {
    return handle as TypedArray;
  }
  write(handle: DataHandle, values: TypedArray): void {
    (handle as TypedArray).set(values);
  }
  free(): void {
    // Typed arrays are garbage collected; the tensor layer still counts the bytes.
  }

  fill(shape: Shape, value: number, dtype: DType): DataHandle {
    return allocArray(dtype, sizeOf(shape)).fill(value);
  }

  cast(x: KernelInput, dtype: DType): DataHandle {
    const out = allocArray(dtype, sizeOf(x.shape));
    // Float → int truncates toward zero, like PyTorch's .to(torch.int32).
    if (dtype === 'int32') for (let i = 0; i < out.length; i++) out[i] = Math.trunc(data(x)[i]!);
    else out.set(data(x));
    return out;
  }

  unary(op: UnaryOp, x: KernelInput): DataHandle {
    const f = unaryFns[op];
    const src = data(x);
    const out = allocArray(x.dtype, src.length);
    for (let i = 0; i < src.length; i++) out[i] = f(src[i]!);
    return out;
  }

  binary(op: BinaryOp, a: KernelInput, b: KernelInput, outShape: Shape, outDtype: DType): DataHandle {
    const f = binaryFns[op];
    const av = data(a), bv = data(b);
    const out = allocArray(outDtype, sizeOf(outShape));
    forEachRow(outShape, [a.shape, b.shape], (start, [oa, ob], len, [sa, sb]) => {
      for (let j = 0, pa = oa!, pb = ob!; j < len; j++, pa += sa!, pb += sb!) out[start + j] = f(av[pa]!, bv[pb]!);
    });
    return out;
  }

  where(cond: KernelInput, a: KernelInput, b: KernelInput, outShape: Shape): DataHandle {
    const cv = data(cond), av = data(a), bv = data(b);
    const out = allocArray(a.dtype, sizeOf(outShape));
    forEachRow(outShape, [cond.shape, a.shape, b.shape], (start, [oc, oa, ob], len, [sc, sa, sb]) => {
      for (let j = 0, pc = oc!, pa = oa!, pb = ob!; j < len; j++, pc += sc!, pa += sa!, pb += sb!) {
        out[start + j] = cv[pc] !== 0 ? av[pa]! : bv[pb]!;
      }
    });
    return out;
  }

  expand(x: KernelInput, outShape: Shape): DataHandle {
    const xv = data(x);
    const out = allocArray(x.dtype, sizeOf(outShape));
    walkStrided(outShape, [broadcastStrides(x.shape, outShape)], (i, o) => { out[i] = xv[o[0]!]!; });
    return out;
  }

  matmul(a: KernelInput, b: KernelInput, transA: boolean, transB: boolean, outShape: Shape): DataHandle {
    const ra = a.shape.length, rb = b.shape.length, ro = outShape.length;
    const m = outShape[ro - 2]!, n = outShape[ro - 1]!;
    const k = transA ? a.shape[ra - 2]! : a.shape[ra - 1]!;
    const batchShape = outShape.slice(0, -2);
    const out = allocArray(a.dtype, sizeOf(outShape));
    const aBatch = broadcastStrides(a.shape.slice(0, -2), batchShape).map((s) => s * m * k);
    const bBatch = broadcastStrides(b.shape.slice(0, -2), batchShape).map((s) => s * k * n);
    const av = data(a), bv = data(b);
    walkStrided(batchShape, [aBatch, bBatch], (batch, o) => {
      matmulBlocked(
        { data: av, offset: o[0]!, rowStride: transA ? 1 : k, kStride: transA ? m : 1 },
        { data: bv, offset: o[1]!, rowStride: transB ? k : 1, kStride: transB ? 1 : n },
        out, batch * m * n, m, n, k, this.ws,
      );
    });
    return out;
  }

  reduce(op: ReduceOp, x: KernelInput, axis: number): DataHandle {
    const xv = data(x);
    const out = allocArray(x.dtype, reducedSize(x.shape, axis));
    const combine = op === 'sum' ? (s: number, v: number) => s + v : binaryFns[op === 'max' ? 'maximum' : 'minimum'];
    const init = op === 'sum' ? 0 : op === 'max' ? -Infinity : Infinity;
    forEachLine(x.shape, axis, (start, oi, len, stride) => {
      let acc = init;
      for (let j = 0, p = start; j < len; j++, p += stride) acc = combine(acc, xv[p]!);
      out[oi] = acc;
    });
    return out;
  }

  argReduce(op: 'argmax' | 'argmin', x: KernelInput, axis: number): DataHandle {
    const xv = data(x);
    const out = new Int32Array(reducedSize(x.shape, axis));
    const sign = op === 'argmax' ? 1 : -1;
    forEachLine(x.shape, axis, (start, oi, len, stride) => {
      let best = 0, bestV = sign * xv[start]!;
      for (let j = 1, p = start + stride; j < len; j++, p += stride) {
        const v = sign * xv[p]!;
        // NaN wins, as in NumPy and PyTorch: a NaN input should be visible in the result.
        if (v > bestV || (Number.isNaN(v) && !Number.isNaN(bestV))) { best = j; bestV = v; }
      }
      out[oi] = best;
    });
    return out;
  }

  softmax(x: KernelInput, axis: number): DataHandle {
    const xv = data(x);
    const out = allocArray(x.dtype, xv.length);
    forEachLine(x.shape, axis, (start, _oi, len, stride) => {
      const max = lineMax(xv, start, len, stride);
      let sum = 0;
      for (let j = 0, p = start; j < len; j++, p += stride) sum += out[p] = Math.exp(xv[p]! - max);
      for (let j = 0, p = start; j < len; j++, p += stride) out[p]! /= sum;
    });
    return out;
  }

  logsumexp(x: KernelInput, axis: number): DataHandle {
    const xv = data(x);
    const out = allocArray(x.dtype, reducedSize(x.shape, axis));
    forEachLine(x.shape, axis, (start, oi, len, stride) => {
      const max = lineMax(xv, start, len, stride);
      // All -Infinity: the sum is empty, the answer is -Infinity (not NaN from -Inf - -Inf).
      if (max === -Infinity) { out[oi] = -Infinity; return; }
      let sum = 0;
      for (let j = 0, p = start; j < len; j++, p += stride) sum += Math.exp(xv[p]! - max);
      out[oi] = max + Math.log(sum);
    });
    return out;
  }

  topk(x: KernelInput, k: number, axis: number): DataHandle {
    const xv = data(x);
    const shape = x.shape.slice();
    shape[axis] = k;
    const out = new Int32Array(sizeOf(shape));
    const [, , inner] = splitAtAxis(x.shape, axis);
    const best = new Int32Array(k);
    forEachLine(x.shape, axis, (start, oi, len, stride) => {
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
  }

  transpose(x: KernelInput, perm: readonly number[]): DataHandle {
    const xv = data(x);
    const outShape = perm.map((p) => x.shape[p]!);
    const inStrides = stridesOf(x.shape);
    const out = allocArray(x.dtype, xv.length);
    walkStrided(outShape, [perm.map((p) => inStrides[p]!)], (i, o) => { out[i] = xv[o[0]!]!; });
    return out;
  }

  slice(x: KernelInput, begin: readonly number[], size: readonly number[]): DataHandle {
    const xv = data(x);
    const strides = stridesOf(x.shape);
    const start = begin.reduce((s, b, d) => s + b * strides[d]!, 0);
    const out = allocArray(x.dtype, sizeOf(size));
    walkStrided(size, [strides], (i, o) => { out[i] = xv[start + o[0]!]!; });
    return out;
  }

  pad(x: KernelInput, begin: readonly number[], outShape: Shape): DataHandle {
    const xv = data(x);
    const strides = stridesOf(outShape);
    const start = begin.reduce((s, b, d) => s + b * strides[d]!, 0);
    const out = allocArray(x.dtype, sizeOf(outShape));
    walkStrided(x.shape, [strides], (i, o) => { out[start + o[0]!] = xv[i]!; });
    return out;
  }

  concat(xs: readonly KernelInput[], axis: number): DataHandle {
    const outShape = xs[0]!.shape.slice();
    outShape[axis] = xs.reduce((s, x) => s + x.shape[axis]!, 0);
    const out = allocArray(xs[0]!.dtype, sizeOf(outShape));
    const [outer, outLen, inner] = splitAtAxis(outShape, axis);
    let at = 0;
    for (const x of xs) {
      const xv = data(x);
      const chunk = x.shape[axis]! * inner;
      for (let o = 0; o < outer; o++) out.set(xv.subarray(o * chunk, (o + 1) * chunk), (o * outLen + at) * inner);
      at += x.shape[axis]!;
    }
    return out;
  }

  gather(x: KernelInput, indices: KernelInput, axis: number): DataHandle {
    const xv = data(x), iv = data(indices);
    const [outer, len, inner] = splitAtAxis(x.shape, axis);
    const out = allocArray(x.dtype, outer * iv.length * inner);
    for (let o = 0; o < outer; o++) {
      for (let j = 0; j < iv.length; j++) {
        const src = (o * len + iv[j]!) * inner;
        out.set(xv.subarray(src, src + inner), (o * iv.length + j) * inner);
      }
    }
    return out;
  }

  indexAdd(x: KernelInput, indices: KernelInput, src: KernelInput, axis: number): DataHandle {
    const out = allocArray(x.dtype, sizeOf(x.shape));
    out.set(data(x));
    const sv = data(src), iv = data(indices);
    const [outer, len, inner] = splitAtAxis(x.shape, axis);
    for (let o = 0; o < outer; o++) {
      for (let j = 0; j < iv.length; j++) {
        const dst = (o * len + iv[j]!) * inner, from = (o * iv.length + j) * inner;
        for (let i = 0; i < inner; i++) out[dst + i]! += sv[from + i]!;
      }
    }
    return out;
  }

  takeAlongAxis(x: KernelInput, indices: KernelInput, axis: number): DataHandle {
    const xv = data(x), iv = data(indices);
    const out = allocArray(x.dtype, iv.length);
    alongAxis(x.shape, indices.shape, axis, iv, (p, q) => { out[p] = xv[q]!; });
    return out;
  }

  scatterAdd(x: KernelInput, indices: KernelInput, src: KernelInput, axis: number): DataHandle {
    const out = allocArray(x.dtype, sizeOf(x.shape));
    out.set(data(x));
    const sv = data(src);
    alongAxis(x.shape, indices.shape, axis, data(indices), (p, q) => { out[q]! += sv[p]!; });
    return out;
  }

  oneHot(indices: KernelInput, depth: number, dtype: DType): DataHandle {
    const iv = data(indices);
    const out = allocArray(dtype, iv.length * depth);
    for (let i = 0; i < iv.length; i++) out[i * depth + iv[i]!] = 1;
    return out;
  }
}

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
