import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Rng, tensor } from '@switch-ts/tensor';
import { SwitchLayer } from '@switch-ts/switch';
import { expectClose, layerCase, setUp } from './switch.cases.js';
import { refExpertChoice } from './reference/routing.js';

// Expert choice (Zhou et al. 2022, §3.2): S = Softmax(X·W_g) over the experts, each expert takes
// the top k = n·c/e tokens of its column of S, and a token's output is Σ_j S[i, j]·FFN_j(x_i) over
// the experts that took it. In the layer: routing 'experts-choose', c = capacityFactor · topK.

const choiceCase = layerCase.map((c) => ({ ...c, routing: 'experts-choose' as const, topK: 1, minCapacity: 0, padding: 0 }));

describe('experts-choose routing is the expert choice of Zhou et al. 2022', () => {
  it('matches the paper\'s loop group by group: top-⌈c·n/e⌉ tokens per expert by softmax score, gated by that score', () => {
    fc.assert(fc.property(choiceCase, (c) => {
      const { layer, x, xs, params } = setUp(c);
      const cf = c.training ? c.capacityFactor : c.evalCapacityFactor;
      const refs = xs.map((group) => refExpertChoice(group, params.router, params.wi, params.wo, cf, c.activation));
      const { output, stats } = layer.forward(x);
      expectClose(output.dataSync(), refs.flatMap((r) => r.output).flat());
      const perExpert = new Array<number>(c.E).fill(0);
      refs.forEach((r) => r.taken.forEach((tokens, e) => (perExpert[e]! += tokens.length)));
      expect(stats.tokensPerExpert).toEqual(perExpert);
    }), { numRuns: 150 });
  });

  it('balances the load perfectly without any loss: every expert takes min(C, S) tokens of every group', () => {
    fc.assert(fc.property(choiceCase, (c) => {
      const { layer, x } = setUp(c);
      const { stats } = layer.forward(x);
      expect(new Set(stats.tokensPerExpert).size).toBe(1);
      expect(stats.tokensPerExpert[0]).toBe(c.groups * Math.min(stats.expertCapacity, c.S));
    }));
  });

  it('gives each token c experts on average (C = c·S/E), and some tokens 0 experts, others several', () => {
    const layer = new SwitchLayer({ dModel: 4, dFF: 8, numExperts: 4, routing: 'experts-choose', capacityFactor: 1, dtype: 'float64', initScale: 4, seed: 3 });
    const rng = new Rng(4);
    const x = tensor(Array.from({ length: 64 * 4 }, () => rng.normal()), { shape: [1, 64, 4], dtype: 'float64' });
    const { routing, stats } = layer.forward(x);
    expect(stats.expertCapacity).toBe(16); // c·S/E = 1 · 64 / 4
    const experts = new Array<number>(64).fill(0);
    routing.assignment.token.forEach((t) => experts[t]!++);
    expect(experts.reduce((a, b) => a + b, 0) / 64).toBe(1);
    expect(Math.min(...experts)).toBe(0);
    expect(Math.max(...experts)).toBeGreaterThan(1);
    expect(stats.droppedFraction).toBe(experts.filter((n) => n === 0).length / 64);
  });

  it('is not causal: a later token can change an earlier token\'s output (tokens-choose with room for every token cannot)', () => {
    // d_model = 1, router logits [x, −x]: p_0(x) = σ(2x). With S = 2 and C = 1, expert 0 takes the
    // token with the larger x. Raising the second token from −1 to 2 takes expert 0 away from the first.
    const run = (routing: 'experts-choose' | 'tokens-choose', second: number): number => {
      const layer = new SwitchLayer({ dModel: 1, dFF: 4, numExperts: 2, routing, capacityFactor: routing === 'experts-choose' ? 1 : Infinity, activation: 'gelu', dtype: 'float64', initScale: 2, seed: 1 });
      layer.router.weight.dataSync().set([1, -1]);
      return layer.forward(tensor([[[1], [second]]], { dtype: 'float64' })).output.dataSync()[0]!;
    };
    expect(run('experts-choose', 2)).not.toBe(run('experts-choose', -1));
    expect(run('tokens-choose', 2)).toBe(run('tokens-choose', -1));
  });

  it('with balance: \'none\' adds no balance loss, as in the paper: the aux loss is the z-loss alone', () => {
    fc.assert(fc.property(choiceCase, (c) => {
      const { layer, x } = setUp(c, { balance: 'none', zLossCoef: 0.5 });
      const { auxLoss, stats } = layer.forward(x);
      expect(auxLoss.item()).toBeCloseTo(0.5 * stats.zLoss, 14);
    }));
  });

  it('refuses loss-free balancing, which biases a choice that experts-choose does not make', () => {
    expect(() => new SwitchLayer({ dModel: 2, dFF: 4, numExperts: 2, routing: 'experts-choose', balance: 'loss-free' }))
      .toThrow("SwitchLayer: balance: 'loss-free' biases the tokens' choice of experts, but routing: 'experts-choose' lets the experts choose (balanced by construction); use balance: 'none'");
  });
});
