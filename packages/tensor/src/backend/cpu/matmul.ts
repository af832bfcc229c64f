import type { TypedArray } from '../../dtype.js';

/**
 * C[m,n] = A[m,k] · B[k,n] for one matrix of a batch, register-blocked 4×4.
 * Both operands are first packed into panels of 4 rows of A / 4 columns of B laid out along k, so
 * the inner loop reads two short contiguous runs and keeps 16 partial sums in registers
 * (the same idea as BLIS/GotoBLAS micro-kernels, minus the assembly). Packing also absorbs
 * the transposed variants backward needs: only the strides differ.
 */
export interface MatrixView {
  data: TypedArray;
  offset: number;
  /** Stride between consecutive rows (the m or n index) and along k. */
  rowStride: number;
  kStride: number;
}

function packPanels(src: MatrixView, rows: number, k: number, dst: Float64Array): void {
  const { data, offset, rowStride, kStride } = src;
  const panels = Math.ceil(rows / 4);
  for (let p = 0; p < panels; p++) {
    const base = p * 4 * k;
    for (let r = 0; r < 4; r++) {
      const row = p * 4 + r;
      if (row >= rows) {
        for (let kk = 0; kk < k; kk++) dst[base + kk * 4 + r] = 0;
        continue;
      }
      let s = offset + row * rowStride;
      for (let kk = 0; kk < k; kk++, s += kStride) dst[base + kk * 4 + r] = data[s]!;
    }
  }
}

export class MatmulWorkspace {
  private ap = new Float64Array(0);
  private bp = new Float64Array(0);

  /** Packed buffers are reused across the batch and across calls. */
  buffers(m: number, n: number, k: number): [Float64Array, Float64Array] {
    const needA = Math.ceil(m / 4) * 4 * k;
    const needB = Math.ceil(n / 4) * 4 * k;
    if (this.ap.length < needA) this.ap = new Float64Array(needA);
    if (this.bp.length < needB) this.bp = new Float64Array(needB);
    return [this.ap, this.bp];
  }
}

export function matmulBlocked(
  a: MatrixView, b: MatrixView, out: TypedArray, outOffset: number,
  m: number, n: number, k: number, ws: MatmulWorkspace,
): void {
  const [ap, bp] = ws.buffers(m, n, k);
  packPanels(a, m, k, ap);
  packPanels(b, n, k, bp);
  for (let i0 = 0; i0 < m; i0 += 4) {
    const aBase = i0 * k;
    for (let j0 = 0; j0 < n; j0 += 4) {
      const bBase = j0 * k;
      let c00 = 0, c01 = 0, c02 = 0, c03 = 0;
      let c10 = 0, c11 = 0, c12 = 0, c13 = 0;
      let c20 = 0, c21 = 0, c22 = 0, c23 = 0;
      let c30 = 0, c31 = 0, c32 = 0, c33 = 0;
      for (let kk = 0, ai = aBase, bi = bBase; kk < k; kk++, ai += 4, bi += 4) {
        const a0 = ap[ai]!, a1 = ap[ai + 1]!, a2 = ap[ai + 2]!, a3 = ap[ai + 3]!;
        const b0 = bp[bi]!, b1 = bp[bi + 1]!, b2 = bp[bi + 2]!, b3 = bp[bi + 3]!;
        c00 += a0 * b0; c01 += a0 * b1; c02 += a0 * b2; c03 += a0 * b3;
        c10 += a1 * b0; c11 += a1 * b1; c12 += a1 * b2; c13 += a1 * b3;
        c20 += a2 * b0; c21 += a2 * b1; c22 += a2 * b2; c23 += a2 * b3;
        c30 += a3 * b0; c31 += a3 * b1; c32 += a3 * b2; c33 += a3 * b3;
      }
      const tile = [c00, c01, c02, c03, c10, c11, c12, c13, c20, c21, c22, c23, c30, c31, c32, c33];
      const rows = Math.min(4, m - i0), cols = Math.min(4, n - j0);
      for (let r = 0; r < rows; r++) {
        const o = outOffset + (i0 + r) * n + j0;
        for (let c = 0; c < cols; c++) out[o + c] = tile[r * 4 + c]!;
      }
    }
  }
}
