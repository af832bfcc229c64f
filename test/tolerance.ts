/**
 * How close is close enough: the one definition of each error measure the tests and benchmarks
 * use, and the tolerance each backend is held to.
 *
 * Every measure compares `actual` (what the code under test computed) with `expected` (the
 * reference, or the implementation trusted more) and returns a non-negative number. A NaN agrees
 * only with a NaN and an infinity only with itself; otherwise either one makes the error Infinity,
 * as do arrays of different lengths. Where the difference is 0 the error is 0, whatever the scale;
 * a non-zero difference against a zero scale is Infinity.
 */

/** |a − e| for one pair of values, with the NaN and infinity rules above. */
export function discrepancy(a: number, e: number): number {
  if (Number.isNaN(a) || Number.isNaN(e)) return Number.isNaN(a) && Number.isNaN(e) ? 0 : Infinity;
  if (!Number.isFinite(a) || !Number.isFinite(e)) return a === e ? 0 : Infinity;
  return Math.abs(a - e);
}

/** max_i |a_i − e_i| over two equally long arrays, after mapping each difference by `measure`. */
function worst(actual: ArrayLike<number>, expected: ArrayLike<number>, measure: (d: number, i: number) => number): number {
  if (actual.length !== expected.length) return Infinity;
  let err = 0;
  for (let i = 0; i < expected.length; i++) {
    const d = discrepancy(actual[i]!, expected[i]!);
    if (d !== 0) err = Math.max(err, measure(d, i));
  }
  return err;
}

const relative = (d: number, scale: number): number => (scale === 0 ? Infinity : d / scale);

/** The largest finite |e_i| (0 if there is none): the scale of a normwise error. */
export function maxNorm(values: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < values.length; i++) if (Number.isFinite(values[i]!)) m = Math.max(m, Math.abs(values[i]!));
  return m;
}

/**
 * Absolute error max_i |a_i − e_i|. For values known to be of order 1 (probabilities, logs of
 * small counts) worked out by hand.
 */
export function maxAbsError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  return worst(actual, expected, (d) => d);
}

/**
 * Normwise relative error in the max-norm, max_i |a_i − e_i| / scale, with scale = max_i |e_i|
 * by default. The default for a tensor computed as a whole: an element much smaller than the
 * largest is allowed the rounding error of the largest, which is what float arithmetic on
 * mixed magnitudes gives. Pass a larger `scale` when the rounding of the computation is set by
 * something larger than its result: the terms of a sum, |A|·|B| of a matmul, the logits of a
 * loss, or the noise floor of a finite difference.
 */
export function normwiseError(actual: ArrayLike<number>, expected: ArrayLike<number>, scale = maxNorm(expected)): number {
  return worst(actual, expected, (d) => relative(d, scale));
}

/**
 * Normwise relative error in the 2-norm, ‖a − e‖₂ / ‖e‖₂. An average over the elements rather
 * than the worst one: for comparing two implementations of a whole computation (a layer, a
 * training step) in which a few small elements may legitimately differ more.
 */
export function normwiseL2Error(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  if (actual.length !== expected.length) return Infinity;
  let diff = 0, norm = 0;
  for (let i = 0; i < expected.length; i++) {
    diff += discrepancy(actual[i]!, expected[i]!) ** 2;
    if (Number.isFinite(expected[i]!)) norm += expected[i]! ** 2;
  }
  return diff === 0 ? 0 : relative(Math.sqrt(diff), Math.sqrt(norm));
}

/**
 * Componentwise relative error, max_i |a_i − e_i| / scales_i, with scales_i = |e_i| by default:
 * every element must be right to its own size. For values spanning many orders of magnitude
 * (special values, tiny arguments), and with scales_i = Σ|terms of element i| for sums, whose
 * rounding error is set by their terms however much they cancel.
 */
export function componentwiseError(actual: ArrayLike<number>, expected: ArrayLike<number>, scales: ArrayLike<number> = magnitudes(expected)): number {
  return worst(actual, expected, (d, i) => relative(d, scales[i]!));
}

/** max(|e_i|, floor): scales for a componentwise error that is relative above `floor` and absolute below it. */
export function magnitudes(expected: ArrayLike<number>, floor = 0): number[] {
  return Array.from(expected, (e) => Math.max(Math.abs(e), floor));
}

/**
 * The tolerances the backends are held to, in the measures above. A float64 backend gets
 * rounding error only; a float32 one gets float32 rounding (ε = 2⁻²³ ≈ 1.2e-7 per operation)
 * and whatever a device's maths library adds.
 */
export const TOLERANCE = {
  /**
   * CPU backend, float64, against the float64 reference in test/reference: normwise (or
   * componentwise against Σ|terms| for sums and matmul) 1e-12, a few thousand ulps of headroom
   * for a different order of operations.
   */
  float64: 1e-12,
  /**
   * CPU backend, float32, against the float64 reference: normwise 1e-5. It computes each element
   * in double and rounds it once, sums and matmuls included (they accumulate in double), so the
   * error is about one float32 rounding of the result.
   */
  cpuFloat32: 1e-5,
  /**
   * gpu backend (float32 on the device; float64 stays on the CPU path) against the CPU backend or
   * the float64 reference: normwise 1e-4, for every op, for gradients and for whole training
   * steps, in every gpu.js mode (packages/tensor/README.md). Measured errors are around 1e-7.
   */
  gpu: 1e-4,
  /**
   * Any float32 backend, each element on its own (componentwise), at special values and tiny
   * arguments such as tanh(1e-5): 1e-6, about 8 ulps. A result that is right only relative to
   * the largest element of its tensor is not right here.
   */
  float32Componentwise: 1e-6,
  /**
   * Any backend, sum and mean of 10⁵–10⁶ float32 values against float64: relative 1e-5. A
   * naive float32 running sum is off by up to n·ε (10⁶ × 0.1 loses 1%), so this asks for
   * pairwise or wider accumulation.
   */
  longReduction: 1e-5,
  /**
   * float64 gradients against central finite differences: normwise 1e-6 above the
   * finite-difference noise floor (test/gradcheck.ts).
   */
  gradcheck: 1e-6,
} as const;
