import { noGrad, Rng, tensor, type Tensor } from '@switch-ts/tensor';
import { maxNorm, normwiseError } from './tolerance.js';

/**
 * Finite-difference gradient checking in float64.
 *
 * The scalar checked is L(x₁, …, xₙ) = Σ f(x₁, …, xₙ) ⊙ w for fixed random weights w, so that the
 * autodiff side is exactly one backward pass seeded with w (a vector-Jacobian product) and every
 * output element, not just their sum, influences the result. The numeric side perturbs one input
 * element at a time by ±step and takes the central difference
 * (L(x + h·eᵢ) − L(x − h·eᵢ)) / 2h, whose truncation error is O(h²·L''') and rounding error
 * O(ε·Σ|terms of L| / h): with h = 1e-6 both stay near 1e-10 for the small, smooth inputs the tests draw.
 */

/** A float64 operand: a shape and its row-major values (what `test/reference` calls a RefTensor). */
export interface FloatData {
  readonly shape: readonly number[];
  readonly data: ArrayLike<number>;
}

export interface GradcheckResult extends Backward {
  /** dL/dxᵢ from central differences. */
  readonly numeric: number[][];
  /**
   * Normwise relative error over all inputs together:
   * max|analytic − numeric| / max(max|numeric|, floor). One norm for all inputs keeps an input
   * whose gradient is tiny (or exactly zero) from turning rounding noise into a large ratio; see
   * `noiseFloor` for the floor.
   */
  readonly error: number;
}

export const FD_STEP = 1e-6;
/** The smallest gradient scale the error is ever divided by. */
export const TINY = 1e-6;

/**
 * A central difference of a sum L = Σ terms carries a rounding error of about ε·Σ|terms|/h
 * (ε = 2⁻⁵²) whatever the true gradient is; Σ|terms|, not |L|, because the terms may cancel to a
 * small L while each is rounded at its own size. For the normwise error to mean anything at the
 * 1e-6 level, the scale it divides by must be at least 10⁷ times that noise; gradients smaller
 * than this floor are compared absolutely against it (below what finite differences can resolve).
 */
export function noiseFloor(magnitude: number, step: number): number {
  return Math.max(TINY, (1e7 * Number.EPSILON * magnitude) / step);
}

/**
 * Uniform weights in [-1, 1) from a seeded generator: the seed of the backward pass. Rounded to
 * float32, so that a float32 and a float64 backward pass can be seeded with the same weights.
 */
export function seedWeights(size: number, seed: number): number[] {
  const rng = new Rng(seed);
  return Array.from({ length: size }, () => Math.fround(rng.uniform(-1, 1)));
}

/** What one backward pass gives the inputs of f, seeded with weights w. */
export interface Backward {
  /** dL/dxᵢ, flat, one array per input (zeros where backward left `.grad` null). */
  readonly analytic: number[][];
  /** The shape of each input's `.grad` after backward (null if none was set). */
  readonly gradShapes: (readonly number[] | null)[];
  /** The seed weights w of L = Σ f(x) ⊙ w. */
  readonly w: number[];
}

/**
 * dL/dxᵢ of L = Σ f(x₁, …, xₙ) ⊙ w by one backward pass, w = seedWeights(size, seed), with the
 * inputs as leaves of `dtype` on the active backend.
 */
export function backwardOf(f: (...xs: Tensor[]) => Tensor, inputs: readonly FloatData[], seed: number, dtype: 'float32' | 'float64' = 'float64'): Backward {
  const leaves = inputs.map((x) => tensor(Array.from(x.data), { shape: x.shape, dtype, requiresGrad: true }));
  const out = f(...leaves);
  if (out.dtype !== dtype) throw new Error(`backwardOf: f returned ${out.dtype} for ${dtype} inputs`);
  const w = seedWeights(out.size, seed);
  out.backward(tensor(w, { shape: out.shape, dtype }));
  return {
    analytic: leaves.map((leaf) => (leaf.grad ? Array.from(leaf.grad.dataSync()) : new Array<number>(leaf.size).fill(0))),
    gradShapes: leaves.map((leaf) => leaf.grad?.shape ?? null),
    w,
  };
}

/** L = Σ outᵢ·wᵢ, and Σ|outᵢ·wᵢ| for its rounding noise. */
function weightedSum(out: Tensor, w: readonly number[]): { sum: number; magnitude: number } {
  const values = out.dataSync();
  let sum = 0, magnitude = 0;
  for (let i = 0; i < values.length; i++) {
    sum += values[i]! * w[i]!;
    magnitude += Math.abs(values[i]! * w[i]!);
  }
  return { sum, magnitude };
}

/**
 * Compares the gradient that `backward` gives every input of `f` with central finite differences.
 * `f` is called once with leaf tensors that require grad, then 2·Σ size(xᵢ) more times under
 * noGrad; it must build the same function each time (close over any integer indices or masks,
 * and give stochastic ops a freshly seeded Rng per call).
 */
export function gradcheck(
  f: (...xs: Tensor[]) => Tensor,
  inputs: readonly FloatData[],
  opts: { seed?: number; step?: number } = {},
): GradcheckResult {
  const { seed = 0, step = FD_STEP } = opts;
  const { analytic, gradShapes, w } = backwardOf(f, inputs, seed);

  const values = inputs.map((x) => Array.from(x.data));
  const loss = (): { sum: number; magnitude: number } => noGrad(() => {
    const ts = values.map((v, i) => tensor(v, { shape: inputs[i]!.shape, dtype: 'float64' }));
    return weightedSum(f(...ts), w);
  });
  const numeric = values.map((v) =>
    v.map((x0, j) => {
      v[j] = x0 + step;
      const up = loss().sum;
      v[j] = x0 - step;
      const down = loss().sum;
      v[j] = x0;
      return (up - down) / (2 * step);
    }));
  const floor = noiseFloor(loss().magnitude, step);
  return { analytic, numeric, gradShapes, w, error: normwiseError(analytic.flat(), numeric.flat(), Math.max(maxNorm(numeric.flat()), floor)) };
}
