import type { TypedArray } from '../../dtype.js';
import { KernelSwitch, type KernelPath } from './wasm/api.js';
import { WasmMatmul, wasmSimd } from './wasm/matmul.js';
import { getThreads, threadsGeneration } from './wasm/threads.js';

export { wasmSimd };

/**
 * C[m,n] = A[m,k] · B[k,n] for one matrix of a batch, register-blocked 2×4.
 * Both operands are first packed into panels (2 rows of A / 4 columns of B) laid out along k, so
 * the inner loop reads two short contiguous runs and keeps 8 partial sums in registers
 * (the same idea as BLIS/GotoBLAS micro-kernels, minus the assembly). Packing also absorbs
 * the transposed variants backward needs: only the strides differ.
 *
 * Why 2×4 and not 4×4: V8 emits scalar SSE code, and x64 has 16 xmm registers. A 4×4 tile needs
 * 16 accumulators plus the loaded operands, so TurboFan spills half the sums to the stack on
 * every k step; 8 sums + 4 of B + 1 of A + a temporary fit. Measured on Node 20 (bench/, matmul
 * suite), 2×4 beat 4×4, 3×4 and 3×3 by 5–15%. Blocking over k for cache (kc=128/256) made no
 * measurable difference at 256² and 512²: the loop is bound by instruction count (each typed-array
 * load costs V8 a map check, a bounds check and address arithmetic), not by memory.
 *
 * Float32 leaves this kernel for a WebAssembly SIMD one (./wasm/, ~40 GFLOP/s here against ~3)
 * where wasm SIMD runs and m·n·k ≥ 16³. Below that the wasm call, the copies in and out of wasm
 * memory (as every call made then; tensors in the wasm heap need none now) and the padding to
 * whole 4×8 tiles cost more than the SIMD saves. Measured per call
 * (median CPU time of 40 interleaved batches, Node 20, AMD EPYC Zen 5), JS / wasm: 8³ 0.45 /
 * 1.2 µs, 12³ 1.2 / 1.9, 14³ 2.2 / 2.3, 16³ 2.4 / 1.4, 32³ 17 / 3.0, 64³ 134 / 18; the shapes
 * with m·n·k from 2048 to 3200 went either way (JS/wasm 0.8–1.4), every one of 4096 (16³,
 * 32×32×4, 4×32×32, 32×4×32, 64×64×1, 1×64×64) favoured wasm, by 1.1–3.4×.
 * Precision: this kernel sums in float64 and rounds once; the wasm one sums in float32 (like
 * BLAS sgemm and XNNPACK), within γ_k·(|A|·|B|) of the exact product elementwise, u = 2⁻²⁴
 * (test/matmul.wasm.test.ts). Float64 always runs here.
 */
export interface MatrixView {
  data: TypedArray;
  offset: number;
  /** Stride between consecutive rows (the m or n index) and along k. */
  rowStride: number;
  kStride: number;
}

/** Register tile: MR rows of A by NR columns of B. */
const MR = 2;
const NR = 4;

/** m·n·k below which float32 stays on the JS kernel (see the head comment). */
const WASM_MIN_WORK = 16 ** 3;

/**
 * Copies `rows` rows of `src` into panels of `width` rows interleaved along k (element (r, kk) of
 * panel p at p·width·k + kk·width + r), zero-padding the last panel so the kernel never branches.
 * Float64 panels: V8 loads a float64 without the float32→float64 conversion, measurably faster.
 */
function packPanels(src: MatrixView, rows: number, k: number, width: number, dst: Float64Array): void {
  const { data, offset, rowStride, kStride } = src;
  const panels = Math.ceil(rows / width);
  for (let p = 0; p < panels; p++) {
    const base = p * width * k;
    for (let r = 0; r < width; r++) {
      const row = p * width + r;
      if (row >= rows) {
        for (let kk = 0; kk < k; kk++) dst[base + kk * width + r] = 0;
        continue;
      }
      let s = offset + row * rowStride;
      for (let kk = 0; kk < k; kk++, s += kStride) dst[base + kk * width + r] = data[s]!;
    }
  }
}

export class MatmulWorkspace {
  private ap = new Float64Array(0);
  private bp = new Float64Array(0);
  private simd: WasmMatmul | null | undefined;
  private simdThreads = threadsGeneration();

  /**
   * The float32 SIMD kernel with its wasm memory (and threads), created on first use and again
   * after setThreads; null where wasm SIMD is missing.
   */
  wasm(): WasmMatmul | null {
    if (this.simdThreads !== threadsGeneration()) {
      this.simd?.close();
      this.simd = undefined;
      this.simdThreads = threadsGeneration();
    }
    if (this.simd === undefined) this.simd = wasmSimd() ? new WasmMatmul(getThreads()) : null;
    return this.simd;
  }

  /** Packed buffers are reused across the batch and across calls. */
  buffers(m: number, n: number, k: number): [Float64Array, Float64Array] {
    const needA = Math.ceil(m / MR) * MR * k;
    const needB = Math.ceil(n / NR) * NR * k;
    if (this.ap.length < needA) this.ap = new Float64Array(needA);
    if (this.bp.length < needB) this.bp = new Float64Array(needB);
    return [this.ap, this.bp];
  }
}

const kernelSwitch = new KernelSwitch(WASM_MIN_WORK);

/**
 * For tests (exported through @switch-ts/tensor/testing): 'js' forces the JS kernel, 'wasm' the
 * wasm one at any size (still only for float32, and only where wasm SIMD runs). Returns the previous path.
 */
export function setMatmulPath(next: KernelPath): KernelPath {
  return kernelSwitch.set(next);
}

function wasmKernel(a: MatrixView, b: MatrixView, out: TypedArray, m: number, n: number, k: number, ws: MatmulWorkspace): WasmMatmul | null {
  if (!(out instanceof Float32Array && a.data instanceof Float32Array && b.data instanceof Float32Array)) return null;
  if (m * n * k === 0 || !kernelSwitch.wasm(m * n * k)) return null;
  return ws.wasm();
}

/** The element offsets of one product of a batch: its A and B (added to the views' offsets) and its C in `out`. */
export type BatchOffsets = readonly [a: number, b: number, out: number];

/** C = A·B for every product of the batch: on the wasm kernel, or one by one on the JS kernel below. */
export function matmulBlocked(
  a: MatrixView, b: MatrixView, out: TypedArray, m: number, n: number, k: number,
  batches: readonly BatchOffsets[], ws: MatmulWorkspace,
): void {
  // The wasm kernel declines (false) only where the wasm heap cannot hold its copies.
  if (wasmKernel(a, b, out, m, n, k, ws)?.run(a, b, out as Float32Array, m, n, k, batches)) return;
  for (const [aOffset, bOffset, outOffset] of batches) {
    matmulJs({ ...a, offset: a.offset + aOffset }, { ...b, offset: b.offset + bOffset }, out, outOffset, m, n, k, ws);
  }
}

function matmulJs(a: MatrixView, b: MatrixView, out: TypedArray, outOffset: number, m: number, n: number, k: number, ws: MatmulWorkspace): void {
  const [ap, bp] = ws.buffers(m, n, k);
  packPanels(a, m, k, MR, ap);
  packPanels(b, n, k, NR, bp);
  for (let i0 = 0; i0 < m; i0 += MR) {
    const aBase = i0 * k;
    const rows = Math.min(MR, m - i0);
    for (let j0 = 0; j0 < n; j0 += NR) {
      const bBase = j0 * k;
      let c00 = 0, c01 = 0, c02 = 0, c03 = 0;
      let c10 = 0, c11 = 0, c12 = 0, c13 = 0;
      // `| 0` tells TurboFan the indices are int32, which drops an overflow check per load.
      for (let kk = 0, ai = aBase | 0, bi = bBase | 0; kk < k; kk = (kk + 1) | 0, ai = (ai + MR) | 0, bi = (bi + NR) | 0) {
        const b0 = bp[bi]!, b1 = bp[(bi + 1) | 0]!, b2 = bp[(bi + 2) | 0]!, b3 = bp[(bi + 3) | 0]!;
        const a0 = ap[ai]!;
        c00 += a0 * b0; c01 += a0 * b1; c02 += a0 * b2; c03 += a0 * b3;
        const a1 = ap[(ai + 1) | 0]!;
        c10 += a1 * b0; c11 += a1 * b1; c12 += a1 * b2; c13 += a1 * b3;
      }
      const o = outOffset + i0 * n + j0;
      if (j0 + NR <= n) {
        out[o] = c00; out[o + 1] = c01; out[o + 2] = c02; out[o + 3] = c03;
        if (rows === 2) { out[o + n] = c10; out[o + n + 1] = c11; out[o + n + 2] = c12; out[o + n + 3] = c13; }
      } else {
        storeEdge(out, o, n - j0, c00, c01, c02);
        if (rows === 2) storeEdge(out, o + n, n - j0, c10, c11, c12);
      }
    }
  }
}

/** The last tile of a row when n is not a multiple of NR: only its first `cols` (< 4) sums are real. */
function storeEdge(out: TypedArray, o: number, cols: number, s0: number, s1: number, s2: number): void {
  out[o] = s0;
  if (cols > 1) out[o + 1] = s1;
  if (cols > 2) out[o + 2] = s2;
}
