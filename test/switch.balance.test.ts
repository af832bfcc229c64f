import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Rng, tensor } from '@switch-ts/tensor';
import { SwitchLayer, expertLoad, loadBalancingLoss, route, updatedBias } from '@switch-ts/switch';
import { expectClose, flatten, gradientErrors, layerCase, setUp, type Case } from './switch.cases.js';
import { refBiasUpdate, refLoad } from './reference/routing.js';
import { refGlobalBatchBalance, refGroupBalance, refLogits, refSoftmax, refSwitchForward, refTopK, type Mat } from './reference/switch.js';

// Auxiliary-loss-free balancing (Wang et al. 2024) and the global-batch balance loss (Qiu et al. 2025).

const tokenChoice = layerCase.filter((c) => c.routing !== 'experts-choose');

/** A loss-free layer whose bias has moved: `steps` training forwards, each followed by updateBias() with a large γ. */
function withBias(c: Case, steps: number, rate: number, extra: { zLossCoef?: number } = {}) {
  const set = setUp(c, { balance: 'loss-free', biasUpdateRate: rate, ...extra });
  const training = set.layer.training;
  set.layer.train();
  for (let i = 0; i < steps; i++) {
    set.layer.forward(set.x, set.mask ? { mask: set.mask } : {});
    set.layer.updateBias();
  }
  set.layer.train(training);
  return set;
}

describe("balance: 'loss-free' (Wang et al. 2024)", () => {
  it('chooses the experts by p + b and gates by p: the reference with the bias, outputs, losses and stats', () => {
    fc.assert(fc.property(tokenChoice, fc.integer({ min: 0, max: 4 }), (c, steps) => {
      const { layer, x, xs, mask, masks, params, refOpts } = withBias(c, steps, 0.3);
      const bias = layer.expertBias;
      const { output, auxLoss, stats } = layer.forward(x, mask ? { mask } : {});
      const ref = refSwitchForward(xs, params, { ...refOpts, bias }, masks);
      expectClose(output.dataSync(), flatten(ref.output));
      expectClose([auxLoss.item(), stats.balanceLoss], [ref.auxLoss, ref.balanceLoss]);
      const perExpert = new Array<number>(c.E).fill(0);
      ref.routes.flat().forEach(({ expert }) => perExpert[expert]!++);
      expect(stats.tokensPerExpert).toEqual(perExpert);
    }), { numRuns: 150 });
  });

  it('adds no balance term to the aux loss, only the z-loss', () => {
    fc.assert(fc.property(tokenChoice, (c) => {
      const { layer, x } = setUp(c, { balance: 'loss-free', zLossCoef: 0.25, balanceCoef: 1 });
      const { auxLoss, stats } = layer.forward(x);
      expect(auxLoss.item()).toBeCloseTo(0.25 * stats.zLoss, 14);
      expect(stats.balanceLoss).toBeGreaterThan(0);
    }));
  });

  it('updates b by Algorithm 1, b_i + γ·sign(c̄ − c_i), over the training forwards since the last update; eval forwards do not count', () => {
    fc.assert(fc.property(tokenChoice, fc.integer({ min: 1, max: 3 }), fc.double({ min: 0, max: 1, noNaN: true }), (c, microBatches, rate) => {
      const { layer, x, xs, mask, masks, params } = setUp(c, { balance: 'loss-free', biasUpdateRate: rate });
      let bias = layer.expertBias;
      expect(bias).toEqual(new Array<number>(c.E).fill(0));
      for (let step = 0; step < 3; step++) {
        let load = new Array<number>(c.E).fill(0);
        for (let i = 0; i < microBatches; i++) {
          layer.train().forward(x, mask ? { mask } : {});
          const choices = xs.map((g) => g.map((t) => refTopK(refSoftmax(refLogits(t, params.router)).map((p, e) => p + bias[e]!), c.topK)));
          load = load.map((n, e) => n + refLoad(choices, masks, c.E)[e]!);
        }
        layer.eval().forward(x, mask ? { mask } : {});
        const expected = refBiasUpdate(bias, load, rate);
        expect(layer.updateBias()).toEqual(expected);
        bias = expected;
      }
      // Nothing routed since the last update: every c_i = c̄ = 0, so b stays.
      expect(layer.updateBias()).toEqual(bias);
    }), { numRuns: 60 });
  });

  it('sends no gradient through b: the parameters are those of the aux-loss layer, and their gradients match finite differences with b fixed', () => {
    fc.assert(fc.property(tokenChoice, fc.integer({ min: 1, max: 3 }), fc.nat(), (c, steps, rSeed) => {
      const set = withBias({ ...c, flat: false }, steps, 0.3, { zLossCoef: 0.05 });
      expect([...set.layer.namedParameters()].map(([n]) => n)).toEqual(['router.weight', 'experts.wi', 'experts.wo']);
      const errors = gradientErrors(set, c, rSeed, { bias: set.layer.expertBias });
      fc.pre(errors !== null);
      for (const e of errors) expect(e).toEqual({ name: e.name, err: expect.toSatisfy((v: number) => v < 1e-6) });
    }), { numRuns: 40 });
  });

  it('evens out a skewed router\'s load without touching its weights', () => {
    const layer = new SwitchLayer({ dModel: 8, dFF: 8, numExperts: 4, balance: 'loss-free', biasUpdateRate: 0.01, initScale: 1, seed: 7 });
    const rng = new Rng(8);
    const x = tensor(Array.from({ length: 256 * 8 }, () => rng.normal() + 0.5), { shape: [4, 64, 8] });
    const imbalance = (): number => {
      const load = expertLoad(layer.forward(x).routing.expertIndex, 4);
      return Math.max(...load) / (load.reduce((a, b) => a + b, 0) / 4);
    };
    const before = imbalance();
    layer.updateBias();
    for (let step = 0; step < 60; step++) {
      imbalance();
      layer.updateBias();
    }
    expect(before).toBeGreaterThan(1.5);
    expect(imbalance()).toBeLessThan(1.2);
  });

  it('counts loads and updates b with the exported expertLoad and updatedBias, which check their input', () => {
    const expertIndex = tensor([[[0], [0], [2], [1]]], { dtype: 'int32' });
    expect(expertLoad(expertIndex, 3)).toEqual([2, 1, 1]);
    expect(expertLoad(expertIndex, 3, { mask: tensor([[1, 0, 1, 1]], { dtype: 'int32' }) })).toEqual([1, 1, 1]);
    expect(updatedBias([0, 0, 0], [2, 1, 1], 0.5)).toEqual([-0.5, 0.5, 0.5]);
    expect(() => updatedBias([0, 0], [1, 2, 3], 0.1)).toThrow('updatedBias: bias has 2 experts but load has 3');
    expect(() => updatedBias([0], [1], -1)).toThrow('updatedBias: rate γ must be a finite number ≥ 0, got -1');
    expect(() => expertLoad(tensor([0, 1], { dtype: 'int32' }), 2)).toThrow('expertLoad: expertIndex must be int32 [...groups, S, k], got int32 [2]');
  });

  it('rejects bad options, naming the option and its value', () => {
    const base = { dModel: 4, dFF: 8, numExperts: 4 };
    expect(() => new SwitchLayer({ ...base, balance: 'bias' as 'none' })).toThrow("SwitchLayer: balance must be one of aux-loss, loss-free, none, got 'bias'");
    expect(() => new SwitchLayer({ ...base, balance: 'loss-free', biasUpdateRate: -0.1 })).toThrow('SwitchLayer: biasUpdateRate must be a finite number ≥ 0, got -0.1');
    expect(() => new SwitchLayer({ ...base, biasUpdateRate: 0.01 })).toThrow("SwitchLayer: biasUpdateRate = 0.01 applies only to balance: 'loss-free', got balance: 'aux-loss'");
    expect(() => new SwitchLayer(base).updateBias()).toThrow("SwitchLayer.updateBias: balance is 'aux-loss'; only balance: 'loss-free' has a bias to update");
  });
});

describe("balanceScope: 'batch' (Qiu et al. 2025)", () => {
  const groupsCase = fc.record({
    groups: fc.integer({ min: 1, max: 4 }), S: fc.integer({ min: 1, max: 6 }), E: fc.integer({ min: 1, max: 4 }),
    kPick: fc.nat(), seed: fc.nat(), padding: fc.constantFrom(0, 0.4),
  }).map(({ groups, S, E, kPick, seed, padding }) => {
    const rng = new Rng(seed);
    const k = 1 + (kPick % E);
    const probs: Mat[] = Array.from({ length: groups }, () => Array.from({ length: S }, () => refSoftmax(Array.from({ length: E }, () => 2 * rng.normal()))));
    const choices = probs.map((g) => g.map((p) => refTopK(p, k)));
    const masks: Mat = probs.map((g) => g.map(() => (rng.next() < padding ? 0 : 1)));
    return { groups, S, E, k, probs, choices, masks };
  });

  it('counts f_i over every group of the call and keeps P_i per group: the paper\'s loss, with padding', () => {
    fc.assert(fc.property(groupsCase, ({ groups, S, E, k, probs, choices, masks }) => {
      const loss = loadBalancingLoss(tensor(probs.flat(2), { shape: [groups, S, E], dtype: 'float64' }), tensor(choices.flat(2), { shape: [groups, S, k], dtype: 'int32' }), {
        mask: tensor(masks.flat(), { shape: [groups, S], dtype: 'int32' }), scope: 'batch',
      });
      const expected = masks.flat().some((m) => m !== 0) ? refGlobalBatchBalance(probs, choices, masks) : 0;
      expect(loss.item()).toBeCloseTo(expected, 12);
    }));
  });

  it('equals the group loss for one group, and lets groups specialise: two collapsed groups on different experts are balanced as a batch', () => {
    fc.assert(fc.property(groupsCase, ({ S, E, k, probs, choices }) => {
      const p = tensor(probs[0]!.flat(), { shape: [1, S, E], dtype: 'float64' }), idx = tensor(choices[0]!.flat(), { shape: [1, S, k], dtype: 'int32' });
      expect(loadBalancingLoss(p, idx, { scope: 'batch' }).item()).toBeCloseTo(refGroupBalance(probs[0]!, choices[0]!, probs[0]!.map(() => 1)), 12);
    }));
    const probs = tensor([[[1, 0], [1, 0]], [[0, 1], [0, 1]]], { dtype: 'float64' });
    const expertIndex = tensor([[[0], [0]], [[1], [1]]], { dtype: 'int32' });
    expect(loadBalancingLoss(probs, expertIndex).item()).toBe(2);
    expect(loadBalancingLoss(probs, expertIndex, { scope: 'batch' }).item()).toBe(1);
  });

  it('in the layer, matches the reference\'s aux loss and finite-difference gradients', () => {
    fc.assert(fc.property(layerCase, fc.nat(), (c, rSeed) => {
      const set = setUp({ ...c, flat: false }, { balanceScope: 'batch', balanceCoef: 0.3, zLossCoef: 0.05 });
      const ref = refSwitchForward(set.xs, set.params, set.refOpts, set.masks);
      const { auxLoss, stats } = set.layer.forward(set.x, set.mask ? { mask: set.mask } : {});
      expectClose([auxLoss.item(), stats.balanceLoss], [ref.auxLoss, ref.balanceLoss]);
      const errors = gradientErrors(set, c, rSeed);
      fc.pre(errors !== null);
      for (const e of errors) expect(e).toEqual({ name: e.name, err: expect.toSatisfy((v: number) => v < 1e-6) });
    }), { numRuns: 40 });
  });

  it('rejects an unknown scope, naming it', () => {
    expect(() => new SwitchLayer({ dModel: 2, dFF: 2, numExperts: 2, balanceScope: 'global' as 'batch' })).toThrow("SwitchLayer: balanceScope must be one of group, batch, got 'global'");
    expect(() => loadBalancingLoss(tensor([[0.5, 0.5]]), tensor([[0]], { dtype: 'int32' }), { scope: 'all' as 'batch' })).toThrow("loadBalancingLoss: scope must be one of group, batch, got 'all'");
  });
});

describe('the loss-free bias as state', () => {
  it('is restored by setExpertBias, which checks its length and values', () => {
    const layer = new SwitchLayer({ dModel: 2, dFF: 4, numExperts: 3, balance: 'loss-free' });
    layer.setExpertBias([0.1, -0.2, 0]);
    expect(layer.expertBias).toEqual([0.1, -0.2, 0]);
    expect(() => layer.setExpertBias([0, 0])).toThrow('SwitchLayer.setExpertBias: expected 3 finite numbers (one per routed expert), got [0, 0]');
    expect(() => layer.setExpertBias([0, NaN, 0])).toThrow('SwitchLayer.setExpertBias: expected 3 finite numbers (one per routed expert), got [0, NaN, 0]');
  });
});

describe('route with a selection bias', () => {
  it('chooses by p + b, keeps the gates p, and rejects a bias of the wrong length or a non-finite one', () => {
    const x = tensor([[1, 0], [0, 1]], { dtype: 'float64' });
    const w = tensor([[2, 0, 0], [0, 2, 0]], { dtype: 'float64' });
    const plain = route(x, w), biased = route(x, w, { selectionBias: [0, 0, 1] });
    expect(plain.expertIndex.toArray()).toEqual([[0], [1]]);
    expect(biased.expertIndex.toArray()).toEqual([[2], [2]]);
    const p = biased.probs.toArray() as Mat;
    expect(biased.gates.toArray()).toEqual([[p[0]![2]], [p[1]![2]]]);
    expect(() => route(x, w, { selectionBias: [0, 0] })).toThrow('route: selectionBias must hold 3 finite numbers (one per expert), got [0, 0]');
    expect(() => route(x, w, { selectionBias: [0, Infinity, 0] })).toThrow('route: selectionBias must hold 3 finite numbers (one per expert), got [0, Infinity, 0]');
  });
});
