import type { BatchOffsets, MatrixView } from '../matmul.js';
import { wasmApi } from './api.js';
import { kernelHeap } from './heap.js';
import { matmulModule, type Blocking, type Tile } from './matmul-module.js';
import { Team, threadsSupported } from './threads.js';

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
 *
 * Packing B pays where its panels are read many times, by many tiles of A. Where A has few rows,
 * as each expert's share of tokens at E = 64, the kernel reads B where it is instead (B's columns
 * adjacent, n a multiple of the tile's): 64 products of [32, 128]·[128, 512] took 0.90× the time,
 * 64 of [16, 128]·[128, 512] 0.81×, of [32, 512]·[512, 128] 0.95×, of [64, 128]·[128, 512] 0.97×,
 * 8 of [128, 128]·[128, 512] 1.01× and one [2048, 128]·[128, 512] 1.05× (third-fastest of 15
 * interleaved rounds, one thread); hence up to 64 rows (BLOCKING.directB). Two other ways lost
 * to reading B in place at E = 64: packing B step by step of k instead of panel by panel, so that
 * its reads go along rows (1.4× the time: its writes then go to every panel at once), and packing
 * one panel at a time just before its tiles, so that it stays in L1 (1.03–1.25×).
 *
 * With threads, C is cut into chunks of whole tiles, across its columns if it has at least as
 * many column panels as row panels, else across its rows; the threads claim chunks and run these
 * same loops (the module's `product`) on each, with packing buffers of their own (./threads.ts).
 */

/** matmul-module.ts's `product`: PRODUCT_ARGS byte addresses, strides and sizes. */
type Product = (...args: number[]) => void;

/** The register tile: see the measurements in ./matmul-module.ts. */
export const TILE: Tile = { mr: 4, nr: 8 };

/** Cache blocks: see the measurements in the head comment. */
export const BLOCKING: Blocking = { mc: 128, kc: 256, nc: 4096, directB: 64 };

/**
 * Below this many multiply-adds a product runs on one thread. A split product pays for handing
 * out the jobs (and, when these were measured, before the tensor heap, for copies into and out of
 * wasm memory on one thread: with them gone 1024² went from 1.67× to 1.9×, so the threshold may
 * now be lower). Measured with the workers awake (interleaved, medians, 2 vCPUs), 2 threads ÷ 1:
 * 0.65× at 64³ (0.26 M), 0.9× at 96³ and at 129×300×77 (3 M), 1.03× at 128³ (2.1 M), 1.2–1.3× at
 * 512×128×80 and 512×128×128 (5–8 M), 1.4–1.5× at 256³ and 512×128×512 (17–34 M), 1.67× at 1024³.
 */
export const THREAD_MIN_WORK = 2 ** 22;
/**
 * Chunks per thread. More chunks leave less for the others to wait on when the system runs a
 * thread late; fewer repack the shared operand less often (each chunk of columns packs all of A
 * again). 1, 2 and 4 measured alike here, 1.2–1.5× over one thread at 512×128×512 and 1.3–1.5× at
 * 1024², within this VM's noise.
 */
const CHUNKS_PER_THREAD = 2;

/**
 * One instance of the module on the kernels' heap (./heap.ts, kernelHeap): on the tensor heap the
 * operands and the result are read and written in place; without one (no SharedArrayBuffer) they
 * are copied in and the result out.
 */
export class WasmMatmul {
  private readonly product: Product;
  private readonly team: Team | null;
  /** Each thread's packing buffers, kept for the next call and grown as needed. */
  private packing = { at: -1, bytes: 0 };

  /**
   * Throws where wasm SIMD is missing: ask wasmSimd() first. With `threads` > 1 (where
   * threadsSupported() and the heap is shared) a team of threads − 1 workers starts.
   */
  constructor(threads = 1, readonly tile = TILE, readonly blocking = BLOCKING, private readonly heap = kernelHeap()) {
    const { module, exports } = heap.instantiate<{ product: Product }>((shared) => matmulModule(tile, blocking, shared));
    this.product = exports.product;
    this.team = heap.shared && threads > 1 && threadsSupported() ? new Team(module, heap.memory, threads) : null;
  }

  /** The threads this instance runs products on once its workers have started. */
  get threads(): number {
    return this.team?.size ?? 1;
  }

  /** The threads large products run on now: 1 until the workers have started. */
  get readyThreads(): number {
    return this.team?.ready ? this.team.size : 1;
  }

  close(): void {
    this.team?.close();
    if (this.packing.at >= 0) this.heap.free(this.packing.at);
    this.packing = { at: -1, bytes: 0 };
  }

  /**
   * For each batch (the element offsets of its A, B and C, added to the views' own offsets):
   * C = A·B, m×n row-major, for float32 views (see cpu/matmul.ts). One call takes the whole batch,
   * so that what does not change between its products (where the operands are, the packing
   * buffers, the split among threads) is worked out once: a batch of 64 products of 32³ cost
   * 2.3× as long as one product of the same work when each was a call of its own. False, having
   * done nothing, where the heap cannot hold what has to be copied into it.
   */
  run(a: MatrixView, b: MatrixView, out: Float32Array, m: number, n: number, k: number, batches: readonly BatchOffsets[]): boolean {
    const { mr, nr } = this.tile;
    const heap = this.heap;
    const blocks = this.split(m, n, k);
    const threads = blocks.length > 1 ? this.team!.size : 1;
    const ldc = roundUp(n, nr);
    // The kernel writes whole tiles: straight into out only if C has no padding.
    const outHome = heap.addressOf(out);
    const direct = outHome >= 0 && ldc === n && m % mr === 0;
    const padded = direct ? -1 : heap.alloc(4 * roundUp(m, mr) * ldc);
    const scratch = this.scratch(m, n, k, threads);
    try {
      if ((!direct && padded < 0) || !scratch) return false;
      const [ar, ak, br, bk] = [4 * a.rowStride, 4 * a.kStride, 4 * b.rowStride, 4 * b.kStride];
      const packB = br === 4 && n % nr === 0 && m <= this.blocking.directB ? 0 : 1;
      return heap.withAddresses([a.data, b.data], [], ([aAt, bAt]) => {
        for (const [aOffset, bOffset, outOffset] of batches) {
          const a0 = aAt! + 4 * (a.offset + aOffset), b0 = bAt! + 4 * (b.offset + bOffset);
          const cAt = direct ? outHome + 4 * outOffset : padded;
          if (threads === 1) {
            this.product(a0, ar, ak, b0, br, bk, cAt, 4 * ldc, m, n, k, packB, scratch[0]!.ap, scratch[0]!.bp);
          } else {
            const chunks = blocks.map(({ i0, i1, j0, j1 }) => [
              a0 + i0 * ar, ar, ak, b0 + j0 * br, br, bk, cAt + 4 * (i0 * ldc + j0), 4 * ldc, i1 - i0, j1 - j0, k, packB,
            ]);
            this.team!.run(chunks, scratch, this.product);
          }
          if (!direct) {
            const c = heap.view('float32', padded, roundUp(m, mr) * ldc);
            if (ldc === n) out.set(c.subarray(0, m * n), outOffset);
            else for (let i = 0; i < m; i++) out.set(c.subarray(i * ldc, i * ldc + n), outOffset + i * n);
          }
        }
      });
    } finally {
      if (padded >= 0) heap.free(padded);
    }
  }

  /** Each thread's two packing buffers, 16-byte aligned, in one block kept across calls; null if the heap is full. */
  private scratch(m: number, n: number, k: number, threads: number): { ap: number; bp: number }[] | null {
    const { mr, nr } = this.tile;
    const { mc, kc, nc } = this.blocking;
    const align = (floats: number) => roundUp(floats * 4, 16);
    const apBytes = align(Math.min(mc, roundUp(m, mr)) * Math.min(kc, k));
    const bpBytes = align(Math.min(nc, roundUp(n, nr)) * Math.min(kc, k));
    const bytes = threads * (apBytes + bpBytes);
    if (bytes > this.packing.bytes) {
      if (this.packing.at >= 0) this.heap.free(this.packing.at);
      const at = this.heap.alloc(bytes);
      this.packing = at >= 0 ? { at, bytes } : { at: -1, bytes: 0 };
      if (at < 0) return null;
    }
    return Array.from({ length: threads }, (_, t) => {
      const ap = this.packing.at + t * (apBytes + bpBytes);
      return { ap, bp: ap + apBytes };
    });
  }

  /**
   * The chunks of C, rows [i0, i1) and columns [j0, j1), that a ready team claims: CHUNKS_PER_THREAD
   * per thread, cut on tile boundaries along the side with more panels, as even as whole panels
   * allow; the whole of C where the product is small or the team not ready.
   */
  private split(m: number, n: number, k: number): { i0: number; i1: number; j0: number; j1: number }[] {
    const { mr, nr } = this.tile;
    const whole = [{ i0: 0, i1: m, j0: 0, j1: n }];
    const team = this.team;
    if (!team || m * n * k < THREAD_MIN_WORK || !team.ready) return whole;
    const rowPanels = Math.ceil(m / mr), colPanels = Math.ceil(n / nr);
    const byColumns = colPanels >= rowPanels;
    const panels = byColumns ? colPanels : rowPanels;
    const count = Math.min(panels, CHUNKS_PER_THREAD * team.size);
    if (count < 2) return whole;
    return Array.from({ length: count }, (_, t) => {
      const [p0, p1] = [t, t + 1].map((x) => Math.floor((x * panels) / count));
      return byColumns
        ? { i0: 0, i1: m, j0: p0! * nr, j1: Math.min(n, p1! * nr) }
        : { i0: p0! * mr, i1: Math.min(m, p1! * mr), j0: 0, j1: n };
    });
  }
}

const roundUp = (x: number, multiple: number) => Math.ceil(x / multiple) * multiple;

let simdSupported: boolean | undefined;

/**
 * Whether this runtime runs wasm SIMD. The probe is the kernel module itself (about 1 KB, no
 * dearer than a smaller probe): if it validates, every opcode it uses is supported.
 */
export function wasmSimd(): boolean {
  simdSupported ??= wasmApi()?.validate(matmulModule(TILE, BLOCKING)) ?? false;
  return simdSupported;
}
