import { describe, expect, it } from 'vitest';
import { componentwiseError, discrepancy, magnitudes, maxAbsError, maxNorm, normwiseError, normwiseL2Error } from './tolerance.js';

/** The error measures every other test relies on, on examples worked out by hand. */

describe('tolerance measures', () => {
  it('a NaN agrees only with a NaN, an infinity only with itself, arrays of different lengths never', () => {
    expect([discrepancy(NaN, NaN), discrepancy(Infinity, Infinity), discrepancy(-0, 0)]).toEqual([0, 0, 0]);
    expect([discrepancy(NaN, 1), discrepancy(1, NaN), discrepancy(Infinity, -Infinity), discrepancy(Infinity, 1e308)]).toEqual([Infinity, Infinity, Infinity, Infinity]);
    expect(normwiseError([1, 2], [1, 2, 3])).toBe(Infinity);
  });

  it('maxNorm ignores non-finite values', () => {
    expect(maxNorm([NaN, -3, Infinity, 2])).toBe(3);
  });

  it('normwise: the worst difference over the largest expected value, or over a given scale', () => {
    // differences 0.1 and 0.5 against max|e| = 10
    expect(normwiseError([1.1, 9.5], [1, 10])).toBeCloseTo(0.05, 15);
    expect(normwiseError([1.1, 9.5], [1, 10], 100)).toBeCloseTo(0.005, 15);
    expect(normwiseError([0, 0], [0, 0])).toBe(0);
    expect(normwiseError([1e-300, 0], [0, 0])).toBe(Infinity);
  });

  it('componentwise: each difference over its own expected value, or over given scales', () => {
    // 0.1 off 1 is 10%; 0.5 off 10 is 5%
    expect(componentwiseError([1.1, 9.5], [1, 10])).toBeCloseTo(0.1, 15);
    expect(componentwiseError([1.1, 9.5], [1, 10], [10, 10])).toBeCloseTo(0.05, 15);
    expect(magnitudes([-0.5, 3], 1)).toEqual([1, 3]);
  });

  it('the 2-norm averages where the max-norm takes the worst', () => {
    // difference (3, 4) has 2-norm 5, expected (0, 10) has 2-norm 10
    expect(normwiseL2Error([3, 14], [0, 10])).toBeCloseTo(0.5, 15);
    expect(normwiseError([3, 14], [0, 10])).toBeCloseTo(0.4, 15);
    expect(maxAbsError([3, 14], [0, 10])).toBe(4);
  });
});
