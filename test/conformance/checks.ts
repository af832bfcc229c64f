import fc from 'fast-check';
import { expect } from 'vitest';
import { tensor, type Tensor } from '@switch-ts/tensor';
import * as A from '../arbitraries.js';
import { componentwiseError, normwiseError } from '../tolerance.js';
import { representable, roundTo, type Target } from './targets.js';

/** A shape and its row-major values: fast-check's Data and the reference's RefTensor alike. */
export interface Values {
  readonly shape: readonly number[];
  readonly data: readonly number[];
}

/** A value as text, −0 included (String and JSON show it as 0). */
export const fmt = (v: number): string => (Object.is(v, -0) ? '-0' : String(v));

/** Values as text, NaN, ±Infinity and −0 included (JSON shows them as null, null and 0). */
export function show(values: ArrayLike<number>): string {
  return `[${Array.from(values, fmt).join(', ')}]`;
}

/**
 * How a conformance test talks to its target: tensors of the target's dtype, reference results
 * rounded to it, random data it can hold, and the two assertions every op test ends in.
 */
export function checksFor(target: Target) {
  const round = roundTo(target);
  const fit = representable(target);

  /** A tensor of the target's float dtype. */
  const input = (x: Values): Tensor => tensor(Array.from(x.data), { shape: x.shape, dtype: target.dtype });

  /** `of` (A.values by default) with its values made representable on the target. */
  const floats = (of: (n: number) => fc.Arbitrary<number[]> = (n) => A.values(n)) => (n: number) => of(n).map(fit);

  /** A random-shaped tensor's data, representable on the target. */
  const data = (s: fc.Arbitrary<A.Shape>, of?: (n: number) => fc.Arbitrary<number[]>) => A.data(s, floats(of));
  const dataOf = (sh: A.Shape, of?: (n: number) => fc.Arbitrary<number[]>) => A.dataOf(sh, floats(of));

  /**
   * Asserts the result has the reference's shape and agrees with it (rounded to the target's
   * dtype) to the target's normwise tolerance: against max|reference| by default, against a
   * given scale (one number: normwise), or against per-element scales (componentwise).
   */
  function expectMatches(actual: Tensor, reference: Values, scale?: number | readonly number[]): void {
    expect(actual.dtype).toBe(target.dtype);
    expect(actual.shape).toEqual(reference.shape);
    const values = actual.dataSync();
    const want = round(reference.data);
    const err = Array.isArray(scale) ? componentwiseError(values, want, scale) : normwiseError(values, want, scale as number | undefined);
    expect(err, `library ${show(values)}\nreference ${show(want)}`).toBeLessThanOrEqual(target.tolerance.normwise);
  }

  /** Asserts the result is exactly the reference's (NaN equal to NaN, −0 distinct from +0). */
  function expectExactly(actual: Tensor, reference: Values): void {
    expect(actual.shape).toEqual(reference.shape);
    expect(Array.from(actual.dataSync())).toEqual(round(reference.data));
  }

  return { input, fit, data, dataOf, expectMatches, expectExactly, runs: { numRuns: target.runs } };
}
