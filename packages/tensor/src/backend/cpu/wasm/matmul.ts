import type { MatrixView } from '../matmul.js';
import { matmulModule, type Tile } from './matmul-module.js';

/**
 * Float32 matmul on the WebAssembly SIMD kernels of ./matmul-module.ts, with the cache blocking
 * of GotoBLAS around them: for each nc-wide block of B's columns, for each kc-deep slice of k,
 * B's kc×nc block is packed once (it stays in L2/L3), then for each mc-tall block of A's rows
 * A's mc×kc block is packed (it stays in L2) and the macro-kernel sweeps it against B's panels
 * (one kc×nr panel of B stays in L1 while mc/mr tiles of A pass over it).
 *
 * Why mc = 128, kc = 256, nc = 4096 (A's block 128 KiB of a 1 MiB L2, B's panel 8 KiB of a
 * 48 KiB L1d): up to 1024² the operands fit this machine's caches well enough that blocking is a
 * wash (512²: 39–40 GFLOP/s for every mc in 64–256, kc in 128–512, nc in 1024–4096, and 40
 * unblocked; 1024²: 41–42 blocked, 40 unblocked). At 2048² packing whole operands falls to 30
 * GFLOP/s and any kc of 128–512 restores 43–44; mc and nc move it by less than the noise. Median
 * CPU time of interleaved runs, 4×8 tile, Node 20, AMD EPYC (Zen 5), 2 vCPUs.
 */

/** The part of the WebAssembly JS API used here (tsconfig's ES2022 lib does not declare it). */
interface WasmApi {
  validate(bytes: Uint8Array): boolean;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: Record<string, unknown> };
  Memory: new (descriptor: { initial: number }) => WasmMemory;
}
interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}

type Pack = (src: number, rowStride: number, kStride: number, rows: number, depth: number, dst: number) => void;
type Kernel = (ap: number, bp: number, c: number, ldc: number, mPanels: number, nPanels: number, kc: number, accumulate: number) => void;

export interface Blocking {
  /** Rows of A per packed block (a multiple of the tile's mr). */
  mc: number;
  /** Depth of k per packed block. */
  kc: number;
  /** Columns of B per packed block (a multiple of the tile's nr). */
  nc: number;
}

/** The register tile: see the measurements in ./matmul-module.ts. */
export const TILE: Tile = { mr: 4, nr: 8 };

/** Cache blocks: see the measurements in the head comment. */
export const BLOCKING: Blocking = { mc: 128, kc: 256, nc: 4096 };

const PAGE = 65536;
/** Past this much wasm memory the JS kernel runs instead (wasm32 addresses 4 GiB; V8 may refuse less). */
const MAX_BYTES = 2 ** 31;

/** One instance of the module with its memory, grown as needed and kept for the next call. */
export class WasmMatmul {
  private readonly memory: WasmMemory;
  private readonly packA: Pack;
  private readonly packB: Pack;
  private readonly kernel: Kernel;
  private heap: Float32Array;

  /** Throws where wasm SIMD is missing: ask wasmSimd() first. */
  constructor(readonly tile = TILE, readonly blocking = BLOCKING) {
    const api = wasmApi();
    if (!api) throw new Error('WasmMatmul: this runtime has no WebAssembly');
    this.memory = new api.Memory({ initial: 1 });
    const instance = new api.Instance(new api.Module(matmulModule(tile)), { env: { memory: this.memory } });
    ({ packA: this.packA, packB: this.packB, kernel: this.kernel } = instance.exports as { packA: Pack; packB: Pack; kernel: Kernel });
    this.heap = new Float32Array(this.memory.buffer);
  }

  /** Whether the product fits in wasm memory (the copies of A and B, the padded C and the packed blocks). */
  fits(a: MatrixView, b: MatrixView, m: number, n: number, k: number): boolean {
    return this.layout(span(a, m, k), span(b, n, k), m, n, k).bytes <= MAX_BYTES;
  }

  /** out[outOffset …] = A·B, m×n row-major, for float32 views (see cpu/matmul.ts). */
  run(a: MatrixView, b: MatrixView, out: Float32Array, outOffset: number, m: number, n: number, k: number): void {
    const { mr, nr } = this.tile;
    const { mc, kc, nc } = this.blocking;
    const aSpan = span(a, m, k), bSpan = span(b, n, k);
    const { aAt, bAt, cAt, apAt, bpAt, ldc, bytes } = this.layout(aSpan, bSpan, m, n, k);
    this.reserve(bytes);
    const heap = this.heap;
    heap.set(a.data.subarray(a.offset, a.offset + aSpan), aAt / 4);
    heap.set(b.data.subarray(b.offset, b.offset + bSpan), bAt / 4);
    for (let jc = 0; jc < n; jc += nc) {
      const ncb = Math.min(nc, n - jc);
      for (let pc = 0; pc < k; pc += kc) {
        const kcb = Math.min(kc, k - pc);
        this.packB(bAt + 4 * (jc * b.rowStride + pc * b.kStride), 4 * b.rowStride, 4 * b.kStride, ncb, kcb, bpAt);
        for (let ic = 0; ic < m; ic += mc) {
          const mcb = Math.min(mc, m - ic);
          this.packA(aAt + 4 * (ic * a.rowStride + pc * a.kStride), 4 * a.rowStride, 4 * a.kStride, mcb, kcb, apAt);
          this.kernel(apAt, bpAt, cAt + 4 * (ic * ldc + jc), 4 * ldc, Math.ceil(mcb / mr), Math.ceil(ncb / nr), kcb, pc > 0 ? 1 : 0);
        }
      }
    }
    const c0 = cAt / 4;
    if (ldc === n) out.set(heap.subarray(c0, c0 + m * n), outOffset);
    else for (let i = 0; i < m; i++) out.set(heap.subarray(c0 + i * ldc, c0 + i * ldc + n), outOffset + i * n);
  }

  /** Byte offsets of the raw operands, the padded C and the two packed blocks, 16-byte aligned. */
  private layout(aSpan: number, bSpan: number, m: number, n: number, k: number) {
    const { mr, nr } = this.tile;
    const { mc, kc, nc } = this.blocking;
    const ldc = roundUp(n, nr);
    const align = (floats: number) => roundUp(floats * 4, 16);
    const aAt = 0;
    const bAt = aAt + align(aSpan);
    const cAt = bAt + align(bSpan);
    const apAt = cAt + align(roundUp(m, mr) * ldc);
    const bpAt = apAt + align(Math.min(mc, roundUp(m, mr)) * Math.min(kc, k));
    const bytes = bpAt + align(Math.min(nc, ldc) * Math.min(kc, k));
    return { aAt, bAt, cAt, apAt, bpAt, ldc, bytes };
  }

  private reserve(bytes: number): void {
    const have = this.memory.buffer.byteLength;
    if (bytes <= have) return;
    this.memory.grow(Math.ceil((bytes - have) / PAGE));
    // Growing detaches the old buffer.
    this.heap = new Float32Array(this.memory.buffer);
  }
}

/** Elements from the view's first to its last, inclusive: what must be copied into wasm memory. */
function span(v: MatrixView, rows: number, k: number): number {
  return (rows - 1) * v.rowStride + (k - 1) * v.kStride + 1;
}

const roundUp = (x: number, multiple: number) => Math.ceil(x / multiple) * multiple;

function wasmApi(): WasmApi | undefined {
  return (globalThis as { WebAssembly?: WasmApi }).WebAssembly;
}

let simdSupported: boolean | undefined;

/**
 * Whether this runtime runs wasm SIMD. The probe is the kernel module itself (about 1 KB, no
 * dearer than a smaller probe): if it validates, every opcode it uses is supported.
 */
export function wasmSimd(): boolean {
  simdSupported ??= wasmApi()?.validate(matmulModule(TILE)) ?? false;
  return simdSupported;
}
