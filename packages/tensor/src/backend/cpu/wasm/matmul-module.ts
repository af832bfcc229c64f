import { assemble, FunctionBody } from './assembler.js';

/**
 * Writes the float32 matmul module: two packing routines, the macro-kernel, and `product`, the
 * cache-blocking loops of GotoBLAS/BLIS around them (why these blocks: ./matmul.ts). `product`
 * computes any block of rows and columns of C, which is how threads split a matmul: each worker
 * runs this same module on the same shared memory, on its own block of C with its own packing
 * buffers (./threads.ts).
 *
 * Memory layout of the packed panels, as in cpu/matmul.ts: a panel of `width` rows (of A) or
 * columns (of B) is stored along k, element (r, kk) at kk·width + r, so each step of k reads
 * `width` consecutive floats. C is written as whole mr×nr tiles into a buffer whose rows are
 * padded to a multiple of nr (and its row count to a multiple of mr); the caller copies the real
 * m×n out.
 *
 * Why a 4×8 tile (wasm/matmul.ts TILE): the tile's mr·nr/4 accumulators, its nr/4 vectors of B,
 * one splat of A and a product temporary must fit the 16 xmm registers V8 allocates from (wasm
 * SIMD is 128-bit; there is no FMA in Node 20's wasm, so each step is a mul and an add). Measured
 * at 512², median CPU time of interleaved runs, Node 20, AMD EPYC (Zen 5), GFLOP/s: 4×8 38–40,
 * 2×16 39, 3×8 38, 2×8 32, 4×4 33; every tile with 10 or more accumulators fell to 20–25 (4×12,
 * 4×16, 3×16, 5×8, 6×8, 8×8) and 8×4 to 16, the signs of spilling. Unrolling the k loop by 2 or
 * by 4 lowered 4×8 to 27 and 23, so the loop is not unrolled.
 */
export interface Tile {
  /** Rows of A per register tile (one v128.load32_splat each per k step). */
  mr: number;
  /** Columns of B per register tile, a multiple of 4 (nr / 4 v128 loads per k step). */
  nr: number;
}

export interface Blocking {
  /** Rows of A per packed block (a multiple of the tile's mr). */
  mc: number;
  /** Depth of k per packed block. */
  kc: number;
  /** Columns of B per packed block (a multiple of the tile's nr). */
  nc: number;
  /**
   * Up to this many rows of A, B is read where it is instead of packed, where its columns are
   * adjacent and n is a multiple of nr (the product's packB argument; ./matmul.ts decides).
   */
  directB: number;
}

const F32 = 4;

/**
 * pack(src, rowStride, kStride, rows, depth, dst): `rows` rows of a strided matrix (strides in
 * bytes) into panels of `width` rows, `depth` long. Transposed operands are just other strides.
 * Where a panel's rows are adjacent floats (rowStride 4: B as stored, or A read transposed, as
 * in a weight's gradient), each step of k copies them as width/4 vectors; where its steps of k
 * are adjacent instead (kStride 4: A as stored, or B read transposed), 4×4 blocks are transposed;
 * otherwise one float at a time.
 * The vector copy took packing from 8% of a demo training step to 5%. The last panel is
 * zero-padded: its extra lanes only reach C's padding, which is never copied out, but zeros keep
 * stale memory (NaN, subnormals) out of the arithmetic.
 */
function pack(width: number): FunctionBody {
  const f = new FunctionBody(['i32', 'i32', 'i32', 'i32', 'i32', 'i32']);
  const [src, rowStride, kStride, rows, depth, dst] = [0, 1, 2, 3, 4, 5];
  const [row, panel, lane, laneEnd, panelBytes, s, d, kk, q] = f.locals('i32', 9);
  const [stride2, stride3, stride4] = f.locals('i32', 3);
  const rowsOfFour = f.locals('v128', 4), pairs = f.locals('v128', 4);
  const next = (ptr: number, stride: number) => f.get(ptr).get(stride).op('i32.add').set(ptr);

  f.get(depth).i32(width * F32).op('i32.mul').set(panelBytes);
  f.get(dst).set(panel);
  f.doWhile(() => {
    // A whole panel of adjacent rows: vectors along each step of k.
    f.get(rowStride).i32(F32).op('i32.eq');
    f.get(row).i32(width).op('i32.add').get(rows).op('i32.le_u');
    f.op('i32.and');
    f.ifElse(() => {
      f.get(src).get(row).i32(F32).op('i32.mul').op('i32.add').set(s);
      f.get(panel).set(d);
      f.get(depth).set(kk);
      f.doWhile(() => {
        for (let q = 0; q < width / 4; q++) f.get(d).get(s).mem('v128.load', 16 * q).mem('v128.store', 16 * q);
        next(s, kStride);
        f.addTo(d, width * F32);
      }, f.countDown(kk));
      f.addTo(row, width);
    }, () => {
      // A whole panel whose steps of k are adjacent floats (A as stored, B read transposed).
      f.get(kStride).i32(F32).op('i32.eq');
      f.get(row).i32(width).op('i32.add').get(rows).op('i32.le_u');
      f.op('i32.and').ifElse(transposeBlocks, packLanes);
    });
    next(panel, panelBytes);
  }, () => f.below(row, rows));
  return f;

  /**
   * Four steps of k at a time: per four rows, one vector along k each, transposed as a 4×4 block
   * into four vectors along the rows (eight shuffles); then the last depth mod 4 steps float by
   * float. Packing A as stored took 2.1 ms of a 56 ms demo step float by float, 1.3 ms this way
   * (CPU profiles of 300 and 150 steps).
   */
  function transposeBlocks(): void {
    f.get(rowStride).i32(2).op('i32.mul').set(stride2);
    f.get(rowStride).i32(3).op('i32.mul').set(stride3);
    f.get(rowStride).i32(4).op('i32.mul').set(stride4);
    f.get(src).get(row).get(rowStride).op('i32.mul').op('i32.add').set(s);
    f.get(panel).set(d);
    f.get(depth).i32(2).op('i32.shr_u').set(kk);
    f.repeat(kk, () => {
      f.get(s).set(q);
      for (let block = 0; block < width / 4; block++) {
        // Row i of the four at q + i·rowStride.
        [null, rowStride, stride2, stride3].forEach((offset, i) => {
          f.get(q);
          if (offset !== null) f.get(offset).op('i32.add');
          f.mem('v128.load').set(rowsOfFour[i]!);
        });
        const [a, b, c, e] = rowsOfFour as [number, number, number, number];
        f.get(a).get(b).shuffle32([0, 4, 1, 5]).set(pairs[0]!);
        f.get(a).get(b).shuffle32([2, 6, 3, 7]).set(pairs[1]!);
        f.get(c).get(e).shuffle32([0, 4, 1, 5]).set(pairs[2]!);
        f.get(c).get(e).shuffle32([2, 6, 3, 7]).set(pairs[3]!);
        // Step j of k: rows 4·block … 4·block + 3.
        for (let j = 0; j < 4; j++) {
          const [low, high] = j < 2 ? [pairs[0]!, pairs[2]!] : [pairs[1]!, pairs[3]!];
          f.get(d).get(low).get(high).shuffle32(j % 2 === 0 ? [0, 1, 4, 5] : [2, 3, 6, 7]);
          f.mem('v128.store', (j * width + 4 * block) * F32);
        }
        f.get(q).get(stride4).op('i32.add').set(q);
      }
      f.addTo(s, 4 * F32);
      f.addTo(d, 4 * width * F32);
    });
    f.get(depth).i32(3).op('i32.and').set(kk);
    f.repeat(kk, () => {
      f.get(s).set(q);
      for (let r = 0; r < width; r++) {
        f.get(d).get(q).mem('f32.load').mem('f32.store', r * F32);
        next(q, rowStride);
      }
      f.addTo(s, F32);
      f.addTo(d, width * F32);
    });
    f.addTo(row, width);
  }

  /** One row of the panel at a time, zeros past the last row. */
  function packLanes(): void {
    f.get(panel).set(lane);
    f.get(panel).i32(width * F32).op('i32.add').set(laneEnd);
    f.doWhile(() => {
      f.get(lane).set(d);
      f.get(depth).set(kk);
      f.below(row, rows).ifElse(() => {
        f.get(src).get(row).get(rowStride).op('i32.mul').op('i32.add').set(s);
        f.doWhile(() => {
          f.get(d).get(s).mem('f32.load').mem('f32.store');
          next(s, kStride);
          f.addTo(d, width * F32);
        }, f.countDown(kk));
      }, () => {
        f.doWhile(() => {
          f.get(d).f32(0).mem('f32.store');
          f.addTo(d, width * F32);
        }, f.countDown(kk));
      });
      f.addTo(row, 1);
      f.addTo(lane, F32);
    }, () => f.get(lane).get(laneEnd).op('i32.ne'));
  }
}

/**
 * kernel(ap, bp, c, ldc, mPanels, nPanels, kc, accumulate, bStep, bPanel): C[mPanels·mr, nPanels·nr]
 * (+)= Ap · Bp for A's packed panels of depth kc, C's rows ldc bytes apart. B's panels need not be
 * packed: each step of k reads nr adjacent floats, bStep bytes after the last step's, and each
 * panel starts bPanel bytes after the one before (packed: nr·4 and kc·nr·4; B as stored: its row
 * stride and nr·4). Each mr×nr tile of C lives in
 * mr·nr/4 v128 locals through the whole k loop (TurboFan keeps them in xmm registers if they fit:
 * x64 has 16), then is stored, or added to what is there when `accumulate` (k blocks after the first).
 */
function macroKernel({ mr, nr }: Tile): FunctionBody {
  const f = new FunctionBody(new Array<'i32'>(10).fill('i32'));
  const [ap, bp, c, ldc, mPanels, nPanels, kc, accumulate, bStep, bPanel] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
  const [bj, cj, nLeft, ai, ci, mLeft, pa, pb, end, kBytes, cr] = f.locals('i32', 11);
  const vectors = nr / 4;
  const a = f.local('v128');
  const b = f.locals('v128', vectors);
  const acc = Array.from({ length: mr }, () => f.locals('v128', vectors));

  /** One k step: nr/4 loads of B, then per row of A one splat and nr/4 multiply-adds. */
  const step = () => {
    b.forEach((bq, q) => f.get(pb).mem('v128.load', 16 * q).set(bq));
    acc.forEach((row, r) => {
      f.get(pa).mem('v128.load32_splat', r * F32).set(a);
      row.forEach((sum, q) => f.get(sum).get(a).get(b[q]!).op('f32x4.mul').op('f32x4.add').set(sum));
    });
    f.addTo(pa, mr * F32).get(pb).get(bStep).op('i32.add').set(pb);
  };
  const storeTile = (add: boolean) => {
    f.get(ci).set(cr);
    acc.forEach((row) => {
      row.forEach((sum, q) => {
        f.get(cr);
        if (add) f.get(cr).mem('v128.load', 16 * q).get(sum).op('f32x4.add');
        else f.get(sum);
        f.mem('v128.store', 16 * q);
      });
      f.get(cr).get(ldc).op('i32.add').set(cr);
    });
  };

  f.get(kc).get(bStep).op('i32.mul').set(kBytes);
  f.get(bp).set(bj);
  f.get(c).set(cj);
  f.get(nPanels).set(nLeft);
  f.doWhile(() => {
    f.get(ap).set(ai);
    f.get(cj).set(ci);
    f.get(mPanels).set(mLeft);
    f.doWhile(() => {
      for (const row of acc) for (const sum of row) f.v128Zero().set(sum);
      f.get(ai).set(pa);
      f.get(bj).set(pb);
      f.get(bj).get(kBytes).op('i32.add').set(end);
      f.doWhile(step, () => f.below(pb, end));
      f.get(accumulate).ifElse(() => storeTile(true), () => storeTile(false));
      f.get(ai).i32(mr * F32).get(kc).op('i32.mul').op('i32.add').set(ai);
      f.get(ci).get(ldc).i32(mr).op('i32.mul').op('i32.add').set(ci);
    }, f.countDown(mLeft));
    f.get(bj).get(bPanel).op('i32.add').set(bj);
    f.addTo(cj, nr * F32);
  }, f.countDown(nLeft));
  return f;
}

/** How many arguments `product` takes. */
export const PRODUCT_ARGS = 14;

/** Function indices, in the order matmulModule lists them. */
const PACK_A = 0, PACK_B = 1, KERNEL = 2;

/**
 * product(aAt, aRowStride, aKStride, bAt, bColStride, bKStride, c, ldc, m, n, k, packB, apAt, bpAt):
 * C (m×n at c, rows ldc bytes apart) = A·B, for A's m rows and B's n columns at the given byte
 * addresses and strides, packing into the buffers at apAt and bpAt:
 *
 *   for jc in steps of nc: for pc in steps of kc: pack B[pc.., jc..] once;
 *     for ic in steps of mc: pack A[ic.., pc..]; kernel on C[ic.., jc..], adding after the first pc.
 *
 * With packB 0 the kernel reads B where it is, which needs B's columns adjacent (bColStride 4)
 * and n a multiple of nr (see ./matmul.ts for when that pays).
 *
 * Every element of C sums its k products in the same order (kc blocks in turn, each in k order)
 * whatever block of C the call covers, so splitting C among threads on tile boundaries changes no bit.
 */
function product({ mr, nr }: Tile, { mc, kc, nc }: Blocking): FunctionBody {
  const f = new FunctionBody(new Array<'i32'>(PRODUCT_ARGS).fill('i32'));
  const [aAt, aRow, aK, bAt, bCol, bK, c, ldc, m, n, k, packB, apAt, bpAt] = Array.from({ length: PRODUCT_ARGS }, (_, i) => i);
  const [jc, pc, ic, ncb, kcb, mcb, bPanels, bStep, bPanel] = f.locals('i32', 9);
  /** local = min(block, total − start). */
  const clamp = (local: number, block: number, total: number, start: number) => {
    f.get(total).get(start).op('i32.sub').tee(local).i32(block);
    f.i32(block).get(local).op('i32.gt_u').op('select').set(local);
  };
  const ceilDiv = (local: number, by: number) => f.get(local).i32(by - 1).op('i32.add').i32(by).op('i32.div_u');
  /** base + i·stride + j·stride2, the byte address of an operand's element. */
  const at = (base: number, i: number, stride: number, j: number, stride2: number) =>
    f.get(base).get(i).get(stride).op('i32.mul').op('i32.add').get(j).get(stride2).op('i32.mul').op('i32.add');

  f.doWhile(() => {
    clamp(ncb, nc, n, jc);
    f.i32(0).set(pc);
    f.doWhile(() => {
      clamp(kcb, kc, k, pc);
      f.get(packB).ifElse(() => {
        at(bAt, jc, bCol, pc, bK).get(bCol).get(bK).get(ncb).get(kcb).get(bpAt).call(PACK_B);
        f.get(bpAt).set(bPanels);
        f.i32(nr * F32).set(bStep);
        f.get(kcb).i32(nr * F32).op('i32.mul').set(bPanel);
      }, () => {
        at(bAt, jc, bCol, pc, bK).set(bPanels);
        f.get(bK).set(bStep);
        f.i32(nr * F32).set(bPanel);
      });
      f.i32(0).set(ic);
      f.doWhile(() => {
        clamp(mcb, mc, m, ic);
        at(aAt, ic, aRow, pc, aK).get(aRow).get(aK).get(mcb).get(kcb).get(apAt).call(PACK_A);
        f.get(apAt).get(bPanels);
        f.get(c).get(ic).get(ldc).op('i32.mul').op('i32.add').get(jc).i32(F32).op('i32.mul').op('i32.add');
        f.get(ldc);
        ceilDiv(mcb, mr);
        ceilDiv(ncb, nr);
        f.get(kcb).get(pc).get(bStep).get(bPanel).call(KERNEL);
        f.addTo(ic, mc);
      }, () => f.below(ic, m));
      f.addTo(pc, kc);
    }, () => f.below(pc, k));
    f.addTo(jc, nc);
  }, () => f.below(jc, n));
  return f;
}

/**
 * The module's bytes; it imports its memory as env.memory (shared, up to `maxPages`, when
 * threads run it) and exports packA, packB, kernel and product.
 */
export function matmulModule(tile: Tile, blocking: Blocking, shared?: { maxPages: number }): Uint8Array {
  return assemble({
    memory: { module: 'env', field: 'memory', minPages: 1, shared },
    // In the order of PACK_A, PACK_B, KERNEL: product calls them by index.
    functions: { packA: pack(tile.mr), packB: pack(tile.nr), kernel: macroKernel(tile), product: product(tile, blocking) },
  });
}
