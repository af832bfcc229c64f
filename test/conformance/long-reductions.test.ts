import { expect, it } from 'vitest';
import * as T from '@switch-ts/tensor';
import { Rng } from '@switch-ts/tensor';
import { reduce } from '../reference/reduce.js';
import { componentwiseError, TOLERANCE } from '../tolerance.js';
import { checksFor } from './checks.js';
import { describeTargets, roundTo } from './targets.js';

/**
 * sum, mean and max of 10⁵ and 10⁶ elements on every target, against the float64 reference on the
 * same (rounded) values: sum and mean within a relative 1e-5 (or the target's own tolerance if
 * tighter), which a float32 running sum misses by far (10⁶ × 0.1 drifts by 1%), and max exactly.
 * The values are 0.1 everywhere and uniform in [0, 1): terms of one sign, so the sum is perfectly
 * conditioned and any error is the summation's.
 */

describeTargets('long reductions', (target) => {
  const { input, expectExactly } = checksFor(target);
  const round = roundTo(target);
  const tolerance = Math.min(TOLERANCE.longReduction, target.tolerance.normwise);

  for (const n of [1e5, 1e6]) {
    const rng = new Rng(n);
    const cases = [
      { what: `${n} × 0.1`, values: new Array<number>(n).fill(0.1) },
      { what: `${n} uniform values in [0, 1)`, values: Array.from({ length: n }, () => rng.uniform(0, 1)) },
    ];
    for (const { what, values } of cases) {
      const x = { shape: [n], data: round(values) };
      for (const op of ['sum', 'mean'] as const) {
        it(`${op} of ${what} is within ${tolerance} of float64`, () => {
          const got = T[op](input(x)).item(), want = reduce(x, undefined, false, op).data[0]!;
          expect(componentwiseError([got], [want]), `${op}: ${got}, float64 ${want}`).toBeLessThanOrEqual(tolerance);
        });
      }
      it(`max of ${what} is exactly the largest value`, () => {
        expectExactly(T.max(input(x)), reduce(x, undefined, false, 'max'));
      });
    }
  }
});
