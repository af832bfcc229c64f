import { describe, expect, it } from 'vitest';
import * as T from '@switch-ts/tensor';
import { gradcheck } from './gradcheck.js';
import { TOLERANCE } from './tolerance.js';

/** The finite-difference checker the conformance suite trusts, itself checked on known gradients. */

describe('gradcheck', () => {
  it('flags a wrong gradient, and one too small for finite differences only against their noise', () => {
    const x = { shape: [3, 3], data: [0.3, -1.2, 2, 0.7, -0.4, 1.5, -2.5, 0.9, 1.1] };
    // x·detach(x) is x² with backward's gradient x instead of 2x.
    expect(gradcheck((t) => t.mul(t.detach()), [x], { seed: 1 }).error).toBeGreaterThan(0.1);
    // d/dx x^c for c = 1e-11 is ~1e-11: the central difference rounds it to 0, which is within noise.
    const tiny = gradcheck((t) => T.pow(T.abs(t), 1e-11), [x], { seed: 1 });
    expect(Math.max(...tiny.analytic[0]!.map(Math.abs))).toBeGreaterThan(0);
    expect(tiny.error).toBeLessThan(TOLERANCE.gradcheck);
  });
});
