import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { Rng, setDebug, tensor, zeros } from '@switch-ts/tensor';
import { loadBalancingLoss, routerZLoss } from '@switch-ts/switch';
import { refBalanceLoss, refZLoss, type Mat } from './reference/switch.js';

/**
 * Random groups: leading dims of rank 0–2 (so [S, E], [G, S, E] and [G1, G2, S, E]), probabilities
 * taken as given (rows of arbitrary positive numbers, not renormalized, to show the loss does
 * not care), arbitrary expert choices (not necessarily the argmax) and an optional mask.
 */
const lossCase = fc
  .record({
    lead: fc.array(fc.integer({ min: 1, max: 3 }), { maxLength: 2 }),
    S: fc.integer({ min: 1, max: 8 }),
    E: fc.integer({ min: 1, max: 6 }),
    kPick: fc.nat(),
    flatChoices: fc.boolean(),
    padding: fc.constantFrom(0, 0.4),
    seed: fc.nat(),
  })
  .map(({ lead, S, E, kPick, flatChoices, padding, seed }) => {
    const rng = new Rng(seed);
    const k = flatChoices ? 1 : 1 + (kPick % E);
    const groups = lead.reduce((a, b) => a * b, 1);
    const probs: Mat[] = Array.from({ length: groups }, () => Array.from({ length: S }, () => Array.from({ length: E }, () => rng.next())));
    const logits: Mat[] = Array.from({ length: groups }, () => Array.from({ length: S }, () => Array.from({ length: E }, () => 3 * rng.normal())));
    const choices = probs.map((g) => g.map(() => rng.shuffle(Array.from({ length: E }, (_, e) => e)).slice(0, k)));
    const mask: Mat = probs.map((g) => g.map(() => (rng.next() < padding ? 0 : 1)));
    const tokenShape = [...lead, S];
    return {
      k, probs, logits, choices, mask, padding,
      probsT: tensor(probs.flat(2), { shape: [...tokenShape, E], dtype: 'float64' }),
      logitsT: tensor(logits.flat(2), { shape: [...tokenShape, E], dtype: 'float64' }),
      indexT: tensor(choices.flat(2), { shape: flatChoices ? tokenShape : [...tokenShape, k], dtype: 'int32' }),
      maskT: tensor(mask.flat(), { shape: tokenShape, dtype: 'float64' }),
    };
  });

const close = (actual: number, expected: number, rel = 1e-10): void => {
  expect(Math.abs(actual - expected)).toBeLessThanOrEqual(rel * Math.max(Math.abs(expected), 1e-300));
};

afterEach(() => setDebug({ checkFinite: false }));

describe('loadBalancingLoss (eqs. 4–6)', () => {
  it('equals E·Σ f_i·P_i per group, averaged over groups, as the reference loop computes it', () => {
    fc.assert(fc.property(lossCase, (c) => {
      const opts = c.padding > 0 ? { mask: c.maskT } : {};
      const masks = c.padding > 0 ? c.mask : c.mask.map((g) => g.map(() => 1));
      close(loadBalancingLoss(c.probsT, c.indexT, opts).item(), refBalanceLoss(c.probs, c.choices, masks));
    }));
  });

  it('is 1 (to within rounding) at perfectly uniform routing and probabilities', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 8 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 3 }), fc.nat(), (E, perExpert, groups, kPick) => {
      const k = 1 + (kPick % E), S = perExpert * E;
      const probs = tensor(new Array(groups * S * E).fill(1 / E), { shape: [groups, S, E], dtype: 'float64' });
      // Token s chooses experts s, s+1, …, s+k−1 (mod E): every expert gets k·S/E choices.
      const choices = Array.from({ length: groups * S }, (_, t) => Array.from({ length: k }, (_, j) => ((t % S) + j) % E));
      const loss = loadBalancingLoss(probs, tensor(choices.flat(), { shape: [groups, S, k], dtype: 'int32' })).item();
      expect(Math.abs(loss - 1)).toBeLessThanOrEqual(4 * Number.EPSILON);
    }));
  });

  it('is E when every token chooses one expert with certainty (the worst imbalance)', () => {
    const probs = tensor([[[0, 1, 0, 0], [0, 1, 0, 0]]], { dtype: 'float64' });
    expect(loadBalancingLoss(probs, tensor([[1, 1]], { dtype: 'int32' })).item()).toBe(4);
  });

  it('passes gradient to the probabilities only: dL/dP_i = E·f_i / S per token', () => {
    const probs = tensor([[[0.7, 0.3], [0.4, 0.6], [0.8, 0.2]]], { dtype: 'float64', requiresGrad: true });
    loadBalancingLoss(probs, tensor([[0, 1, 0]], { dtype: 'int32' })).backward();
    // f = [2/3, 1/3], E = 2, S = 3 → every token's gradient is [2·(2/3)/3, 2·(1/3)/3].
    for (const row of (probs.grad!.toArray() as Mat[])[0]!) {
      close(row[0]!, 4 / 9, 1e-15);
      close(row[1]!, 2 / 9, 1e-15);
    }
  });

  it('rejects expert indices of the wrong shape, dtype or range', () => {
    const probs = tensor([[[0.5, 0.5], [0.5, 0.5]]], { dtype: 'float64' });
    expect(() => loadBalancingLoss(probs, tensor([[0, 1, 1]], { dtype: 'int32' }))).toThrow('loadBalancingLoss: expertIndex int32 [1,3] must be int32 [1,2] or [1,2,k] for routerProbs [1,2,2]');
    expect(() => loadBalancingLoss(probs, tensor([[0, 1]], { dtype: 'float64' }))).toThrow('loadBalancingLoss: expertIndex float64 [1,2] must be int32');
    expect(() => loadBalancingLoss(probs, tensor([[0, 2]], { dtype: 'int32' }))).toThrow('oneHot: index 2 is out of range [0, 2)');
    expect(() => loadBalancingLoss(probs, tensor([[0, 1]], { dtype: 'int32' }), { mask: tensor([1, 1, 1]) })).toThrow('loadBalancingLoss: mask [3] must have the token shape [1,2]');
  });
});

describe('routerZLoss (ST-MoE eq. 5)', () => {
  it('equals the mean over unmasked tokens of (log Σ_j e^{h_j})², per group then over groups', () => {
    fc.assert(fc.property(lossCase, (c) => {
      const opts = c.padding > 0 ? { mask: c.maskT } : {};
      const masks = c.padding > 0 ? c.mask : c.mask.map((g) => g.map(() => 1));
      close(routerZLoss(c.logitsT, opts).item(), refZLoss(c.logits, masks));
    }));
  });

  it('is (log E)² for zero logits', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 64 }), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 3 }), (E, S, G) => {
      close(routerZLoss(zeros([G, S, E], 'float64')).item(), Math.log(E) ** 2, 1e-14);
    }));
  });

  it('stays finite for huge logits (logsumexp subtracts the max)', () => {
    close(routerZLoss(tensor([[[1000, 1000]]], { dtype: 'float64' })).item(), (1000 + Math.log(2)) ** 2, 1e-15);
  });

  it('stops at NaN logits under checkFinite with an error naming the op and the value', () => {
    // Made before checkFinite is on, which would refuse the NaN at tensor().
    const logits = tensor([[[0, NaN]]], { dtype: 'float64' });
    setDebug({ checkFinite: true });
    expect(() => routerZLoss(logits)).toThrow(/logsumexp: produced NaN at flat index 0 .*checkFinite is on/);
  });
});
