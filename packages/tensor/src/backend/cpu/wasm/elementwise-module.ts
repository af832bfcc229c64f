import type { BinaryOp, UnaryOp } from '../../backend.js';
import { assemble, FunctionBody, type PlainOp } from './assembler.js';
import { expOf } from './exp.js';

/**
 * Writes the float32 elementwise module: a loop per op that runs four lanes per instruction, then
 * finishes the last n mod 4 elements one at a time with the scalar twin of the same instruction.
 *
 * Only ops whose wasm instruction gives the bits the shared formula gives (../../formulas.ts) are
 * here, so the CPU backend's results do not depend on which loop ran. The formulas compute in
 * double and round once to float32; for +, −, ×, ÷ and √ of float32 operands that equals the
 * correctly rounded float32 operation (double has more than 2·24 + 2 significand bits), which is
 * what wasm computes. wasm's min and max are IEEE 754-2019 minimum and maximum, as the formulas
 * are: NaN wins, −0 < +0. relu is max(v, +0): NaN stays, −0 becomes +0, as in the formula.
 * Comparisons are IEEE (false with NaN but ≠) and give int32 1 or 0. A NaN result may carry
 * another payload than JavaScript's; it is still NaN. exp has no wasm instruction, but ./exp.ts
 * computes it with the very steps of V8's Math.exp, so it is here too, with softmax and the max and
 * sum behind logsumexp. log, tanh and the rest stay in JS, where Math gives the formulas' values.
 */

type Instruction = { vector: PlainOp; scalar: PlainOp };

/** The vector instruction on four float32 lanes and its scalar twin, `f32x4.add` and `f32.add`. */
const f32 = <Name extends 'add' | 'sub' | 'mul' | 'div' | 'max' | 'min' | 'eq' | 'ne' | 'lt' | 'le' | 'gt' | 'ge' | 'neg' | 'abs' | 'sqrt'>(
  name: Name,
) => ({ vector: `f32x4.${name}`, scalar: `f32.${name}` }) as const satisfies Instruction;

/** Binary ops giving float32. */
const ARITHMETIC = {
  add: f32('add'), sub: f32('sub'), mul: f32('mul'), div: f32('div'), maximum: f32('max'), minimum: f32('min'),
} satisfies Partial<Record<BinaryOp, Instruction>>;

/** Comparisons, giving int32 1 or 0: a lane of the vector result is all ones (−1) or 0. */
const COMPARISONS = {
  eq: f32('eq'), ne: f32('ne'), lt: f32('lt'), le: f32('le'), gt: f32('gt'), ge: f32('ge'),
} satisfies Partial<Record<BinaryOp, Instruction>>;

/** Unary ops; relu is max with zero. */
const UNARY = {
  neg: f32('neg'), abs: f32('abs'), sqrt: f32('sqrt'), relu: f32('max'),
} satisfies Partial<Record<UnaryOp, Instruction>>;

export type WasmBinaryOp = keyof typeof ARITHMETIC | keyof typeof COMPARISONS;
/** exp has no instruction: its loop (expLoop) runs the steps ./exp.ts writes. */
export type WasmUnaryOp = keyof typeof UNARY | 'exp';

const BINARY: Record<WasmBinaryOp, Instruction> = { ...ARITHMETIC, ...COMPARISONS };

export const wasmBinaryOps = new Set(Object.keys(BINARY)) as ReadonlySet<BinaryOp>;
export const wasmUnaryOps = new Set([...Object.keys(UNARY), 'exp']) as ReadonlySet<UnaryOp>;

/** Whether a binary op gives int32 (a comparison) rather than float32. */
export const isComparison = (op: WasmBinaryOp): boolean => op in COMPARISONS;

/**
 * How each operand of a binary row advances: 'v' one element per output element (a vector load
 * of four), 's' not at all (a value broadcast along the row: one load, splat to four lanes).
 */
export type Steps = 'vv' | 'vs' | 'sv';
export const STEPS: readonly Steps[] = ['vv', 'vs', 'sv'];

/** The export name of a binary op's row loop, `mul_vs`, or of a unary op's loop, `relu`. */
export const exportName = (op: WasmBinaryOp, steps: Steps): string => `${op}_${steps}`;

const F32 = 4;

/**
 * The shared shape of every loop: `operands` (byte addresses, parameters 0…), then out and n.
 * `lanes(loadVector)` leaves four results on the stack, `single(load)` one; each operand either
 * advances by its element size or, when broadcast, stays put.
 */
function loop(
  operands: { advances: boolean }[],
  lanes: (f: FunctionBody, operand: (i: number) => void) => void,
  single: (f: FunctionBody, operand: (i: number) => void) => void,
  store: 'f32.store' | 'i32.store',
  load: 'f32.load' | 'i32.load' = 'f32.load',
): FunctionBody {
  const f = new FunctionBody(new Array<'i32'>(operands.length + 2).fill('i32'));
  const out = operands.length, n = out + 1;
  const [end, vectorEnd] = f.locals('i32', 2);
  // A broadcast operand is splat once, before the loop.
  const splats = operands.map((o, i) => {
    if (o.advances) return -1;
    const local = f.local('v128');
    f.get(i).mem('v128.load32_splat').set(local);
    return local;
  });
  const advance = (bytes: number) => {
    operands.forEach((o, i) => { if (o.advances) f.addTo(i, bytes); });
    f.addTo(out, bytes);
  };
  f.get(out).get(n).i32(F32).op('i32.mul').op('i32.add').set(end);
  f.get(out).get(n).i32(-4).op('i32.and').i32(F32).op('i32.mul').op('i32.add').set(vectorEnd);
  f.whileLoop(() => f.below(out, vectorEnd), () => {
    f.get(out);
    lanes(f, (i) => (operands[i]!.advances ? f.get(i).mem('v128.load') : f.get(splats[i]!)));
    f.mem('v128.store');
    advance(4 * F32);
  });
  f.whileLoop(() => f.below(out, end), () => {
    f.get(out);
    single(f, (i) => f.get(i).mem(load));
    f.mem(store);
    advance(F32);
  });
  return f;
}

/** op_steps(a, b, out, n): out[j] = a[j or 0] op b[j or 0] for j < n, byte addresses. */
function binary(op: WasmBinaryOp, steps: Steps): FunctionBody {
  const { vector, scalar } = BINARY[op];
  const comparison = isComparison(op);
  return loop(
    [{ advances: steps[0] === 'v' }, { advances: steps[1] === 'v' }],
    (f, operand) => {
      operand(0);
      operand(1);
      f.op(vector);
      // All ones (−1) where true: negated, 1.
      if (comparison) f.op('i32x4.neg');
    },
    (f, operand) => {
      operand(0);
      operand(1);
      f.op(scalar);
    },
    comparison ? 'i32.store' : 'f32.store',
  );
}

/** op(x, out, n): out[j] = op(x[j]) for j < n. */
function unary(op: keyof typeof UNARY): FunctionBody {
  const { vector, scalar } = UNARY[op];
  return loop(
    [{ advances: true }],
    (f, operand) => {
      operand(0);
      if (op === 'relu') f.v128Zero();
      f.op(vector);
    },
    (f, operand) => {
      operand(0);
      if (op === 'relu') f.f32(0);
      f.op(scalar);
    },
    'f32.store',
  );
}

/**
 * castInt32(x, out, n): int32 to float32, rounding to nearest even past 2^24 as JavaScript's
 * conversion does (the int is exact in a double, which then rounds once to float32).
 */
function castInt32(): FunctionBody {
  return loop(
    [{ advances: true }],
    (f, operand) => { operand(0); f.op('f32x4.convert_i32x4_s'); },
    (f, operand) => { operand(0); f.op('f32.convert_i32_s'); },
    'f32.store',
    'i32.load',
  );
}

/**
 * The loops over rows chosen by an index list, shared by gatherRows and addRows: for j < count,
 * `row(from, to)` on the row of `rowBytes` at picked + indices[j]·rowBytes and the row at
 * listed + j·rowBytes (byte addresses; `picked` is the side the index chooses).
 */
function indexedRows(
  f: FunctionBody, [picked, indices, listed, count, rowBytes]: number[],
  vector: (to: number, from: number) => void, single: (to: number, from: number) => void, pickedIsTarget: boolean,
): void {
  const [p, q, end, vectorEnd] = f.locals('i32', 4);
  f.repeat(count, () => {
    f.get(picked).get(indices).mem('i32.load').get(rowBytes).op('i32.mul').op('i32.add').set(p);
    f.get(listed).set(q);
    f.get(p).get(rowBytes).op('i32.add').set(end);
    f.get(p).get(rowBytes).i32(-16).op('i32.and').op('i32.add').set(vectorEnd);
    const [to, from] = pickedIsTarget ? [p, q] : [q, p];
    f.whileLoop(() => f.below(p, vectorEnd), () => {
      vector(to, from);
      f.addTo(p, 16).addTo(q, 16);
    });
    f.whileLoop(() => f.below(p, end), () => {
      single(to, from);
      f.addTo(p, F32).addTo(q, F32);
    });
    f.addTo(indices, F32);
    f.get(listed).get(rowBytes).op('i32.add').set(listed);
  });
}

/** gatherRows(src, indices, dst, count, rowBytes): row j of dst = row indices[j] of src (4-byte elements, moved as bits). */
function gatherRows(): FunctionBody {
  const f = new FunctionBody(['i32', 'i32', 'i32', 'i32', 'i32']);
  indexedRows(f, [0, 1, 2, 3, 4],
    (to, from) => f.get(to).get(from).mem('v128.load').mem('v128.store'),
    (to, from) => f.get(to).get(from).mem('i32.load').mem('i32.store'), false);
  return f;
}

/**
 * addRows(dst, indices, src, count, rowBytes): row indices[j] of dst += row j of src, float32, in
 * order of j (an index listed twice adds twice). A float32 add gives the bits of the double sum
 * rounded once, as the JS loop computes.
 */
function addRows(): FunctionBody {
  const f = new FunctionBody(['i32', 'i32', 'i32', 'i32', 'i32']);
  indexedRows(f, [0, 1, 2, 3, 4],
    (to, from) => f.get(to).get(to).mem('v128.load').get(from).mem('v128.load').op('f32x4.add').mem('v128.store'),
    (to, from) => f.get(to).get(to).mem('f32.load').get(from).mem('f32.load').op('f32.add').mem('f32.store'), true);
  return f;
}

/**
 * sumLines(x, out, lines, len): out[o] = x[o·len] + … + x[o·len + len − 1] for each line o, float32
 * in, the sum in double from 0 in order along the line and rounded once, as cpu/loops.ts's sum over
 * a contiguous axis. A line's sum is a chain of dependent adds (4 cycles each), so two lines go
 * side by side in the two lanes of an f64x2: each lane is still its own line's sum in order.
 */
function sumLines(): FunctionBody {
  const f = new FunctionBody(['i32', 'i32', 'i32', 'i32']);
  const [x, out, lines, len] = [0, 1, 2, 3];
  const [r0, r1, j, pairs, rowBytes] = f.locals('i32', 5);
  const acc = f.local('v128');
  const [single] = f.locals('f64', 1);

  f.get(len).i32(F32).op('i32.mul').set(rowBytes);
  f.get(x).set(r0);
  f.get(x).get(rowBytes).op('i32.add').set(r1);
  f.get(lines).i32(2).op('i32.div_u').set(pairs);
  f.repeat(pairs, () => {
    f.v128Zero().set(acc);
    f.get(len).set(j);
    f.repeat(j, () => {
      f.get(acc);
      f.get(r1); // the address for lane 1 (line o + 1), under
      f.get(r0).mem('v128.load32_zero'); // lane 0 (line o)
      f.load32Lane(1);
      f.op('f64x2.promote_low_f32x4').op('f64x2.add').set(acc);
      f.addTo(r0, F32).addTo(r1, F32);
    });
    f.get(out).get(acc).op('f32x4.demote_f64x2_zero').store64Lane(0);
    f.addTo(out, 2 * F32);
    f.get(r1).set(r0);
    f.get(r1).get(rowBytes).op('i32.add').set(r1);
  });
  f.get(lines).i32(1).op('i32.and');
  f.ifElse(() => {
    f.f64(0).set(single);
    f.get(len).set(j);
    f.repeat(j, () => {
      f.get(single).get(r0).mem('f32.load').op('f64.promote_f32').op('f64.add').set(single);
      f.addTo(r0, F32);
    });
    f.get(out).get(single).op('f32.demote_f64').mem('f32.store');
  });
  return f;
}

/**
 * sumColumns(x, out, outer, len, inner, acc): for x viewed as [outer, len, inner], out[o, i] = the
 * sum over j of x[o, j, i], each column's sum in double from 0 in order of j and rounded once, as
 * cpu/loops.ts's sum over an axis with trailing dims. The columns are independent, so two go in
 * the lanes of an f64x2 while reading x row by row; `acc` is scratch for `inner` doubles.
 */
function sumColumns(): FunctionBody {
  const f = new FunctionBody(['i32', 'i32', 'i32', 'i32', 'i32', 'i32']);
  const [x, out, outer, len, inner, acc] = [0, 1, 2, 3, 4, 5];
  const [j, a, pairEnd, end, i] = f.locals('i32', 5);

  f.get(acc).get(inner).i32(2).op('i32.div_u').i32(16).op('i32.mul').op('i32.add').set(pairEnd);
  f.get(acc).get(inner).i32(8).op('i32.mul').op('i32.add').set(end);
  /** Runs `pairs` on each pair of columns (a: its two doubles in acc) and `single` on an odd last one. */
  const columns = (pairs: () => void, single: () => void) => {
    f.get(acc).set(a);
    f.whileLoop(() => f.below(a, pairEnd), () => { pairs(); f.addTo(a, 16).addTo(i, 8); });
    f.below(a, end).ifElse(single);
  };
  f.repeat(outer, () => {
    f.i32(0).set(i);
    columns(() => f.get(a).v128Zero().mem('v128.store'), () => f.get(a).f64(0).mem('f64.store'));
    f.get(len).set(j);
    f.repeat(j, () => {
      f.i32(0).set(i); // i: byte offset of the column pair in this row of x
      columns(
        () => f.get(a).get(a).mem('v128.load').get(x).get(i).op('i32.add').mem('v128.load64_zero')
          .op('f64x2.promote_low_f32x4').op('f64x2.add').mem('v128.store'),
        () => f.get(a).get(a).mem('f64.load').get(x).get(i).op('i32.add').mem('f32.load')
          .op('f64.promote_f32').op('f64.add').mem('f64.store'),
      );
      f.get(x).get(inner).i32(F32).op('i32.mul').op('i32.add').set(x);
    });
    f.i32(0).set(i);
    columns(
      () => f.get(out).get(i).op('i32.add').get(a).mem('v128.load').op('f32x4.demote_f64x2_zero').store64Lane(0),
      () => f.get(out).get(i).op('i32.add').get(a).mem('f64.load').op('f32.demote_f64').mem('f32.store'),
    );
    f.get(out).get(inner).i32(F32).op('i32.mul').op('i32.add').set(out);
  });
  return f;
}

/**
 * Emits, for the line of `len` floats at `x`, its best float (largest for 'max', smallest for
 * 'min') into an f32 local, which it returns: four running bests (pmax and pmin keep their first
 * operand unless the second is better, so NaN is skipped), then the lanes and the last len mod 4
 * floats one by one; ∓∞ for a line of NaN. With `nan`, an i32 local, it also sets it to whether the
 * line holds a NaN.
 */
function lineBest(f: FunctionBody, op: 'max' | 'min', x: number, len: number, nan?: number): number {
  const [p, count] = f.locals('i32', 2);
  const [best, v] = f.locals('f32', 2);
  const [acc, nans] = f.locals('v128', 2);
  const [pick, better] = op === 'max' ? ['f32x4.pmax', 'f32.gt'] as const : ['f32x4.pmin', 'f32.lt'] as const;
  /** best = v if v is better. */
  const take = () => f.get(v).get(best).get(v).get(best).op(better).op('select').set(best);
  f.f32(op === 'max' ? -Infinity : Infinity).op('f32x4.splat').set(acc);
  if (nan !== undefined) f.v128Zero().set(nans);
  f.get(x).set(p);
  f.get(len).i32(2).op('i32.shr_u').set(count);
  f.repeat(count, () => {
    f.get(acc).get(p).mem('v128.load').op(pick).set(acc);
    if (nan !== undefined) f.get(nans).get(p).mem('v128.load').get(p).mem('v128.load').op('f32x4.ne').op('v128.or').set(nans);
    f.addTo(p, 4 * F32);
  });
  if (nan !== undefined) f.get(nans).op('v128.any_true').set(nan);
  f.get(acc).f32x4Lane(0).set(best);
  for (const lane of [1, 2, 3]) {
    f.get(acc).f32x4Lane(lane).set(v);
    take();
  }
  f.get(len).i32(3).op('i32.and').set(count);
  f.repeat(count, () => {
    f.get(p).mem('f32.load').set(v);
    take();
    if (nan !== undefined) f.get(nan).get(v).get(v).op('f32.ne').op('i32.or').set(nan);
    f.addTo(p, F32);
  });
  return best;
}

/**
 * argmax(x, out, lines, len) and argmin: out[o] = the index of the first largest (smallest) float
 * of line o of x viewed as [lines, len] (len ≥ 1), or of its first NaN if it has one, as
 * cpu/index.ts's argReduce loop (NumPy and PyTorch agree: NaN wins). lineBest finds the best and
 * notes any NaN; a second pass stops at the first match.
 */
function argLines(op: 'argmax' | 'argmin'): FunctionBody {
  const f = new FunctionBody(['i32', 'i32', 'i32', 'i32']);
  const [x, out, lines, len] = [0, 1, 2, 3];
  const [p, j, nan] = f.locals('i32', 3);
  const v = f.local('f32');
  f.repeat(lines, () => {
    const best = lineBest(f, op === 'argmax' ? 'max' : 'min', x, len, nan);
    // The first float equal to the best, or the first NaN.
    f.i32(-1).set(j);
    f.get(x).i32(-F32).op('i32.add').set(p);
    f.doWhile(() => f.addTo(j, 1).addTo(p, F32), () => {
      f.get(p).mem('f32.load').tee(v).get(v).op('f32.ne');
      f.get(v).get(best).op('f32.eq');
      f.get(nan).op('select');
      f.op('i32.eqz');
      // There is always a match; the bound only keeps a broken invariant from reading on.
      f.get(j).i32(1).op('i32.add').get(len).op('i32.lt_u').op('i32.and');
    });
    f.get(out).get(j).mem('i32.store');
    f.addTo(out, F32);
    f.get(x).get(len).i32(F32).op('i32.mul').op('i32.add').set(x);
  });
  return f;
}

/**
 * exp(x, out, n): out[j] = exp(x[j]) for j < n, float32 in and out: each float widened to a
 * double, exp as Math.exp, rounded once to float32, as the JS loop computes.
 */
function expLoop(): FunctionBody {
  const f = new FunctionBody(['i32', 'i32', 'i32']);
  const [x, out, n] = [0, 1, 2];
  const [pairEnd, end] = f.locals('i32', 2);
  const v = f.local('v128');
  const exp = expOf(f);
  f.get(out).get(n).i32(-2).op('i32.and').i32(F32).op('i32.mul').op('i32.add').set(pairEnd);
  f.get(out).get(n).i32(F32).op('i32.mul').op('i32.add').set(end);
  f.whileLoop(() => f.below(out, pairEnd), () => {
    f.get(x).mem('v128.load64_zero').op('f64x2.promote_low_f32x4').set(v);
    f.get(out);
    exp(v);
    f.op('f32x4.demote_f64x2_zero').store64Lane(0);
    f.addTo(x, 2 * F32).addTo(out, 2 * F32);
  });
  f.below(out, end).ifElse(() => {
    f.get(x).mem('v128.load32_zero').op('f64x2.promote_low_f32x4').set(v);
    f.get(out);
    exp(v);
    f.f64x2Lane(0).op('f32.demote_f64').mem('f32.store');
  });
  return f;
}

/**
 * For each line of `len` floats of x (float32, contiguous), its max m and s = Σ exp(x − m), as the
 * JS softmax and logsumexp kernels compute them: m the largest number (NaN skipped), each x − m
 * and its exp in double, s summed in double in order along the line. Then
 * - softmax(x, out, lines, len): out = x's shape, float32: exp(x − m) rounded to float32, then
 *   divided (in double) by s and rounded again;
 * - maxSumExp(x, out, lines, len): out = m and s per line, two doubles (logsumexp is m + log s,
 *   finished in JS, where Math.log is).
 * The max's sign of zero may differ from the JS loop's (−0 or +0, whichever came first there);
 * x − m is then the same but for the sign of a zero, which exp maps to 1 either way.
 */
function expLines(softmax: boolean): FunctionBody {
  const f = new FunctionBody(['i32', 'i32', 'i32', 'i32']);
  const [x, out, lines, len] = [0, 1, 2, 3];
  const [p, o, count, rowBytes] = f.locals('i32', 4);
  const [max, sum] = f.locals('f64', 2);
  const [v, e, shift] = f.locals('v128', 3);
  const exp = expOf(f);
  /** Runs `pair` on each two floats of the line at `from`, then `single` on an odd last one (p: the float's address). */
  const alongLine = (from: number, pair: () => void, single: () => void) => {
    f.get(from).set(p);
    f.get(len).i32(1).op('i32.shr_u').set(count);
    f.repeat(count, () => { pair(); f.addTo(p, 2 * F32); });
    f.get(len).i32(1).op('i32.and').ifElse(single);
  };
  /** e = exp(x − max) for the floats at p, one or two. */
  const expShifted = (load: 'v128.load64_zero' | 'v128.load32_zero') => {
    f.get(p).mem(load).op('f64x2.promote_low_f32x4').get(shift).op('f64x2.sub').set(v);
    exp(v);
    f.set(e);
  };
  const addLane = (lane: number) => f.get(sum).get(e).f64x2Lane(lane).op('f64.add').set(sum);

  f.get(len).i32(F32).op('i32.mul').set(rowBytes);
  f.get(out).set(o);
  f.repeat(lines, () => {
    const max32 = lineBest(f, 'max', x, len);
    f.get(max32).op('f64.promote_f32').tee(max).op('f64x2.splat').set(shift);
    f.f64(0).set(sum);
    alongLine(x, () => {
      expShifted('v128.load64_zero');
      if (softmax) f.get(p).get(x).op('i32.sub').get(o).op('i32.add').get(e).op('f32x4.demote_f64x2_zero').store64Lane(0);
      addLane(0);
      addLane(1);
    }, () => {
      expShifted('v128.load32_zero');
      if (softmax) f.get(p).get(x).op('i32.sub').get(o).op('i32.add').get(e).f64x2Lane(0).op('f32.demote_f64').mem('f32.store');
      addLane(0);
    });
    if (softmax) {
      f.get(sum).op('f64x2.splat').set(shift);
      alongLine(o, () => {
        f.get(p).get(p).mem('v128.load64_zero').op('f64x2.promote_low_f32x4').get(shift).op('f64x2.div')
          .op('f32x4.demote_f64x2_zero').store64Lane(0);
      }, () => {
        f.get(p).get(p).mem('f32.load').op('f64.promote_f32').get(sum).op('f64.div').op('f32.demote_f64').mem('f32.store');
      });
    } else {
      f.get(o).get(max).mem('f64.store');
      f.get(o).get(sum).mem('f64.store', 8);
    }
    f.get(x).get(rowBytes).op('i32.add').set(x);
    if (softmax) f.get(o).get(rowBytes).op('i32.add').set(o);
    else f.addTo(o, 16);
  });
  return f;
}

/** How many dims `copy` walks; a block of more (after merging contiguous dims) stays in JS. */
export const COPY_RANK = 4;

/**
 * copy(src, dst, n0…n3, s0…s3, t0…t3): the block of n0×n1×n2×n3 4-byte elements whose element
 * (i0, i1, i2, i3) is read at src + Σ i·s and written at dst + Σ i·t (byte strides), every n ≥ 1.
 * Transpose, slice, pad and broadcast are this copy with other strides (cpu/index.ts's
 * copyStrided). Rows that are contiguous on both sides move as vectors of four; other rows one
 * element at a time, as integers, so that float bits, NaN payloads included, go through as they are.
 */
function copy(): FunctionBody {
  const f = new FunctionBody(new Array<'i32'>(2 + 3 * COPY_RANK).fill('i32'));
  const [src, dst] = [0, 1];
  const n = (d: number) => 2 + d, s = (d: number) => 2 + COPY_RANK + d, t = (d: number) => 2 + 2 * COPY_RANK + d;
  const last = COPY_RANK - 1;
  // Per outer dim: its count and where its current slice starts in src and dst.
  const count = f.locals('i32', last), from = f.locals('i32', last), to = f.locals('i32', last);
  const [a, b, left] = f.locals('i32', 3);

  const row = () => {
    f.get(from[last - 1]!).set(a);
    f.get(to[last - 1]!).set(b);
    f.get(s(last)).i32(F32).op('i32.eq').get(t(last)).i32(F32).op('i32.eq').op('i32.and');
    f.ifElse(() => {
      f.get(n(last)).i32(4).op('i32.div_u').set(left);
      f.repeat(left, () => {
        f.get(b).get(a).mem('v128.load').mem('v128.store');
        f.addTo(a, 16).addTo(b, 16);
      });
      f.get(n(last)).i32(3).op('i32.and').set(left);
      f.repeat(left, () => {
        f.get(b).get(a).mem('i32.load').mem('i32.store');
        f.addTo(a, F32).addTo(b, F32);
      });
    }, () => {
      f.get(n(last)).set(left);
      f.repeat(left, () => {
        f.get(b).get(a).mem('i32.load').mem('i32.store');
        f.get(a).get(s(last)).op('i32.add').set(a);
        f.get(b).get(t(last)).op('i32.add').set(b);
      });
    });
  };
  /** The loop over dim d (< last), its body the loop over d + 1 or, at last − 1, a row. */
  const loop = (d: number) => {
    f.get(n(d)).set(count[d]!);
    f.get(d === 0 ? src : from[d - 1]!).set(from[d]!);
    f.get(d === 0 ? dst : to[d - 1]!).set(to[d]!);
    f.repeat(count[d]!, () => {
      if (d === last - 1) row();
      else loop(d + 1);
      f.get(from[d]!).get(s(d)).op('i32.add').set(from[d]!);
      f.get(to[d]!).get(t(d)).op('i32.add').set(to[d]!);
    });
  };
  loop(0);
  return f;
}

/**
 * The module's bytes; it imports its memory as env.memory (shared, up to `maxPages`, when it is
 * the tensor heap) and exports every loop by exportName or op.
 */
export function elementwiseModule(shared?: { maxPages: number }): Uint8Array {
  const functions: Record<string, FunctionBody> = {};
  for (const op of Object.keys(BINARY) as WasmBinaryOp[]) {
    for (const steps of STEPS) functions[exportName(op, steps)] = binary(op, steps);
  }
  for (const op of Object.keys(UNARY) as (keyof typeof UNARY)[]) functions[op] = unary(op);
  functions.exp = expLoop();
  functions.softmax = expLines(true);
  functions.maxSumExp = expLines(false);
  functions.argmax = argLines('argmax');
  functions.argmin = argLines('argmin');
  functions.copy = copy();
  functions.castInt32 = castInt32();
  functions.gatherRows = gatherRows();
  functions.addRows = addRows();
  functions.sumLines = sumLines();
  functions.sumColumns = sumColumns();
  return assemble({ memory: { module: 'env', field: 'memory', minPages: 1, shared }, functions });
}
