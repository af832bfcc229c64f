import { FunctionBody } from './assembler.js';

/*
 * exp on the two doubles of an f64x2, giving the bits V8's Math.exp gives. V8 computes Math.exp
 * with its port of fdlibm's e_exp.c (v8/src/base/ieee754.cc), whose every step is an IEEE add,
 * subtract, multiply or divide of doubles, so the same steps in wasm (which never fuses a
 * multiply-add) give the same bits. The algorithm, its branch points and its constants are
 * fdlibm's:
 *
 *   ====================================================
 *   Copyright (C) 1993 by Sun Microsystems, Inc. All rights reserved.
 *
 *   Permission to use, copy, modify, and distribute this
 *   software is freely granted, provided that this notice
 *   is preserved.
 *   ====================================================
 *
 * 1. Reduce: x = k·ln2 + r with |r| ≤ ln2/2, ln2 split into a high part (whose product with any k
 *    in range is exact) and a low part: hi = x − k·ln2HI, lo = k·ln2LO, r = hi − lo.
 * 2. Approximate exp(r) by a rational function of r: with R(r²) ≈ r·(exp(r) + 1)/(exp(r) − 1), a
 *    Remez polynomial P1…P5, c = r − r²·(P1 + r²·(P2 + …)) and exp(r) = 1 + 2r/(2 − c)
 *    = 1 − ((lo − r·c/(2 − c)) − hi).
 * 3. Scale by 2^k through the exponent bits.
 *
 * fdlibm branches per number; two lanes cannot, so both lanes take one path and special lanes are
 * chosen at the end. fdlibm's branches come down to these:
 * - k: 0 where |x| ≤ ln2/2, compared on the high 32 bits of |x| as fdlibm compares it (then hi = x,
 *   lo = 0, and the main formula gives fdlibm's k = 0 formula bit for bit); elsewhere
 *   trunc(x/ln2 ± 1/2), which below 1.5·ln2 is the ±1 fdlibm sets there.
 * - 2^k: one multiply by the exponent bits, except past |x| ≈ 708, where fdlibm scales in two
 *   steps: (y · 2^(k−d)) · 2^d, d = −1000 below k = −1021 (a subnormal result, rounded once, in the
 *   second step) and d = 1023 at k = 1024 (2^1024 overflows).
 * - The early returns: 1 + x for |x| < 2^−28, e for x = 1, ∞ and 0 past the overflow and
 *   underflow thresholds, x + x for NaN.
 * The two-step scaling and the early returns are rare, so they run only when a lane needs them;
 * but 0 below the underflow threshold is chosen on the main path, since a masked softmax has many
 * such lanes. packages/tensor/test/exp.test.ts checks the bits against Math.exp for doubles around
 * each branch point (and every float32 input was checked once).
 */

/** fdlibm's constants. */
const LN2_HI = 6.93147180369123816490e-01, LN2_LO = 1.90821492927058770002e-10, INV_LN2 = 1.44269504088896338700e+00;
const P = [1.66666666666666019037e-01, -2.77777777770155933842e-03, 6.61375632143793436117e-05, -1.65339022054652515390e-06, 4.13813679705723846039e-08];
/** Above it exp overflows, below it underflows to 0. */
const O_THRESHOLD = 7.09782712893383973096e+02, U_THRESHOLD = -7.45133219101941108420e+02;
/**
 * High words of |x|: above REDUCE, |x| > ln2/2 (k ≠ 0); below TINY, |x| < 2^−28 (exp = 1 + x); from
 * 0x40862000, |x| ≥ 708, where k may leave [−1021, 1023] and the thresholds lie.
 */
const HIGH_REDUCE = 0x3fd62e42n, HIGH_TINY = 0x3e300000n, HIGH_FAR = 0x40861fffn;
/** t + 1.5·2^52 holds the integer t in its low mantissa bits; 1023 more, and shifted by 52, it is 2^t. */
const MAGIC = 1.5 * 2 ** 52;

/**
 * Declares the constants (as locals set where this is called: call it before any loop) and returns
 * `exp(x)`, which pushes exp of the f64x2 local x.
 */
export function expOf(f: FunctionBody): (x: number) => void {
  const constant = (push: () => void): number => {
    const local = f.local('v128');
    push();
    f.set(local);
    return local;
  };
  const f64 = (value: number) => constant(() => f.f64x2(value));
  const i64 = (value: bigint) => constant(() => f.i64x2(value));
  const sign = i64(-0x8000000000000000n), abs = i64(0x7fffffffffffffffn);
  const one = f64(1), half = f64(0.5), two = f64(2), invLn2 = f64(INV_LN2), ln2Hi = f64(LN2_HI), ln2Lo = f64(LN2_LO);
  const poly = P.map(f64);
  const highReduce = i64(HIGH_REDUCE), highTiny = i64(HIGH_TINY), highFar = i64(HIGH_FAR);
  const magic = f64(MAGIC), magicBias = f64(MAGIC + 1023), bias = i64(1023n), kMin = i64(-1021n), kMax = i64(1024n), below = i64(-1000n);
  const e = f64(Math.E), inf = f64(Infinity), oThreshold = f64(O_THRESHOLD), uThreshold = f64(U_THRESHOLD);
  const [high, t, hi, lo, r, rr, c, y, k, d, result, low] = f.locals('v128', 12);
  /** result = mask ? value : result, lane by lane. */
  const choose = (value: () => void, mask: () => void) => {
    value();
    f.get(result);
    mask();
    f.op('v128.bitselect').set(result);
  };

  /** fdlibm's scaling in two steps, and its early returns. */
  const farOrSpecial = (x: number) => {
    f.get(t).get(low).op('v128.andnot').get(magic).op('f64x2.add').get(magic).op('i64x2.sub').set(k);
    f.get(k).get(kMin).op('i64x2.lt_s').get(below).op('v128.and');
    f.get(k).get(kMax).op('i64x2.eq').get(bias).op('v128.and');
    f.op('v128.or').set(d);
    f.get(y);
    f.get(k).get(d).op('i64x2.sub').get(bias).op('i64x2.add').i32(52).op('i64x2.shl').op('f64x2.mul');
    f.get(d).get(bias).op('i64x2.add').i32(52).op('i64x2.shl').op('f64x2.mul').set(result);
    choose(() => f.get(one).get(x).op('f64x2.add'), () => f.get(high).get(highTiny).op('i64x2.lt_s'));
    choose(() => f.get(e), () => f.get(x).get(one).op('f64x2.eq'));
    choose(() => f.get(inf), () => f.get(x).get(oThreshold).op('f64x2.gt'));
    choose(() => f.v128Zero(), () => f.get(low));
    choose(() => f.get(x).get(x).op('f64x2.add'), () => f.get(x).get(x).op('f64x2.ne'));
  };
  return (x) => {
    f.get(x).get(abs).op('v128.and').i32(32).op('i64x2.shr_u').set(high);
    // t = k as a double: trunc(x/ln2 ± 1/2), or 0 where no reduction is needed.
    f.get(x).get(invLn2).op('f64x2.mul');
    f.get(x).get(sign).op('v128.and').get(half).op('v128.or');
    f.op('f64x2.add').op('f64x2.trunc');
    f.get(high).get(highReduce).op('i64x2.gt_s').op('v128.and').set(t);
    f.get(x).get(t).get(ln2Hi).op('f64x2.mul').op('f64x2.sub').set(hi);
    f.get(t).get(ln2Lo).op('f64x2.mul').set(lo);
    f.get(hi).get(lo).op('f64x2.sub').set(r);
    f.get(r).get(r).op('f64x2.mul').set(rr);
    // c = r − r²·(P1 + r²·(P2 + r²·(P3 + r²·(P4 + r²·P5))))
    f.get(r).get(rr);
    f.get(rr).get(poly[4]!).op('f64x2.mul');
    for (const p of [poly[3]!, poly[2]!, poly[1]!]) f.get(p).op('f64x2.add').get(rr).op('f64x2.mul');
    f.get(poly[0]!).op('f64x2.add').op('f64x2.mul').op('f64x2.sub').set(c);
    // y = exp(r) = 1 − ((lo − r·c/(2 − c)) − hi)
    f.get(one).get(lo);
    f.get(r).get(c).op('f64x2.mul').get(two).get(c).op('f64x2.sub').op('f64x2.div');
    f.op('f64x2.sub').get(hi).op('f64x2.sub').op('f64x2.sub').set(y);
    // A lane that is tiny, 1, far or NaN takes fdlibm's other paths, but for one below the
    // underflow threshold, whose exp is 0 (−∞, or the −1e9 of a masked attention score: half the
    // lanes of a causal softmax). Its k is taken as 0, so that no lane scales into the subnormal
    // numbers, where each multiply costs a microcode assist (16 against 6 ns per element).
    f.get(x).get(uThreshold).op('f64x2.lt').set(low);
    f.get(high).get(highTiny).op('i64x2.lt_s');
    f.get(high).get(highFar).op('i64x2.gt_s').get(low).op('v128.andnot').op('v128.or');
    f.get(x).get(one).op('f64x2.eq').op('v128.or');
    f.op('v128.any_true').ifElse(() => farOrSpecial(x), () => {
      f.get(y).get(t).get(low).op('v128.andnot').get(magicBias).op('f64x2.add').i32(52).op('i64x2.shl').op('f64x2.mul');
      f.get(low).op('v128.andnot').set(result);
    });
    f.get(result);
  };
}
