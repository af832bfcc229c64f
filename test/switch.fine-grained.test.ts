import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Rng, profile, tensor } from '@switch-ts/tensor';
import { SwitchLayer, expertLayout, type SwitchLayerOptions } from '@switch-ts/switch';
import { expectClose, flatten, gradientErrors, layerCase, paramsOf, setUp, type Case } from './switch.cases.js';
import { refDeepSeekMoE, refExpertFlops } from './reference/routing.js';
import { refSwitchForward, type Mat } from './reference/switch.js';

// DeepSeekMoE (Dai et al. 2024), eqs. 9–11: each of N experts split into m of d_ff/m hidden units
// (expertSegments), K_s of the m·N serving every token outside the routing (sharedExperts), and
// the router choosing m·K − K_s of the other m·N − K_s.

/** A layer case with m segments (d_ff a multiple of m) and K_s shared experts, K_s ≤ m·k − 1. */
const fineCase = fc.tuple(layerCase, fc.integer({ min: 1, max: 3 }), fc.nat()).map(([c, m, sharedPick]) => ({
  c: { ...c, dFF: m * (1 + (c.dFF % 3)) } as Case,
  fine: { expertSegments: m, sharedExperts: sharedPick % (m * c.topK) } satisfies Partial<SwitchLayerOptions>,
}));

describe('fine-grained and shared experts (DeepSeekMoE)', () => {
  it('with room for every token, is eq. 9 token by token: Σ of the shared FFNs plus the gated top-(mK − K_s) routed FFNs', () => {
    fc.assert(fc.property(fineCase, ({ c: c0, fine }) => {
      const c = { ...c0, routing: 'tokens-choose' as const, capacityFactor: Infinity, evalCapacityFactor: Infinity, padding: 0 };
      const { layer, x, xs, params } = setUp(c, fine);
      const { routedTopK } = expertLayout(layer.config);
      const p = { ...params, sharedWi: params.sharedWi ?? [], sharedWo: params.sharedWo ?? [] };
      const expected = xs.flatMap((g) => g.map((u) => refDeepSeekMoE(u, p, routedTopK, c.activation, c.normalizeTopK)));
      expectClose(layer.forward(x).output.dataSync(), expected.flat());
    }), { numRuns: 150 });
  });

  it('matches the layer reference with capacity, drops, padding and every routing mode (shared experts skip only padding)', () => {
    fc.assert(fc.property(fineCase, ({ c, fine }) => {
      const { layer, x, xs, mask, masks, params, refOpts } = setUp(c, fine);
      const { output, auxLoss, stats } = layer.forward(x, mask ? { mask } : {});
      const ref = refSwitchForward(xs, params, refOpts, masks);
      expectClose(output.dataSync(), flatten(ref.output));
      expectClose([auxLoss.item(), stats.balanceLoss], [ref.auxLoss, ref.balanceLoss]);
      expect(stats.expertCapacity).toBe(ref.capacity);
    }), { numRuns: 150 });
  });

  it('has the reference\'s gradients (central finite differences) for the router, routed and shared experts and the input', () => {
    fc.assert(fc.property(fineCase, fc.nat(), ({ c, fine }, rSeed) => {
      const errors = gradientErrors(setUp({ ...c, flat: false }, { ...fine, balanceCoef: 0.3, zLossCoef: 0.05 }), c, rSeed);
      fc.pre(errors !== null);
      for (const e of errors) expect(e).toEqual({ name: e.name, err: expect.toSatisfy((v: number) => v < 1e-6) });
    }), { numRuns: 40 });
  });

  it('keeps the parameters of the unsplit layer: m·N − K_s routed and K_s shared experts of d_ff/m', () => {
    const layer = new SwitchLayer({ dModel: 8, dFF: 12, numExperts: 4, topK: 2, expertSegments: 3, sharedExperts: 2, seed: 1 });
    expect([...layer.namedParameters()].map(([name, p]) => [name, p.shape])).toEqual([
      ['router.weight', [8, 10]],
      ['experts.wi', [10, 8, 4]],
      ['experts.wo', [10, 4, 8]],
      ['shared.wi', [2, 8, 4]],
      ['shared.wo', [2, 4, 8]],
    ]);
    expect(layer.layout).toEqual({ routedExperts: 10, routedTopK: 4, sharedExperts: 2, expertDFF: 4 });
    const experts = layer.parameters().filter((p) => p.rank === 3).reduce((n, p) => n + p.size, 0);
    expect(experts).toBe(2 * 4 * 8 * 12);
    // Without the new options the layer draws the same weights as before.
    const plain = new SwitchLayer({ dModel: 8, dFF: 12, numExperts: 4, seed: 1 });
    const same = new SwitchLayer({ dModel: 8, dFF: 12, numExperts: 4, expertSegments: 1, sharedExperts: 0, seed: 1 });
    expect(paramsOf(same)).toEqual(paramsOf(plain));
  });

  it('costs the FLOPs per token of the unsplit layer: m·k − K_s routed plus K_s shared rows of d_ff/m are k rows of d_ff', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 4 }), fc.nat(), fc.nat(), (E, m, kPick, sharedPick) => {
      const [G, S, dModel, dFF] = [2, 8, 4, 12];
      const topK = 1 + (kPick % E), sharedExperts = sharedPick % (m * topK);
      const layer = new SwitchLayer({ dModel, dFF: m * dFF, numExperts: E, topK, expertSegments: m, sharedExperts, capacityFactor: Infinity, padToCapacity: false, seed: 2 });
      const rng = new Rng(3);
      const x = tensor(Array.from({ length: G * S * dModel }, () => rng.normal()), { shape: [G, S, dModel] });
      const matmul = profile(() => layer.forward(x)).byOp.matmul!.flops;
      const router = 2 * G * S * dModel * layer.layout.routedExperts;
      expect(matmul - router).toBe(topK * refExpertFlops(G * S, dModel, m * dFF));
    }));
  });

  it('rejects a d_ff not divisible by m, and K_s that would leave a token no routed expert, naming the option and value', () => {
    const base = { dModel: 4, dFF: 6, numExperts: 2 };
    expect(() => new SwitchLayer({ ...base, expertSegments: 4 })).toThrow('SwitchLayer: dFF = 6 is not divisible by expertSegments = 4: each fine-grained expert has dFF / m hidden units');
    expect(() => new SwitchLayer({ ...base, expertSegments: 0 })).toThrow('SwitchLayer: expertSegments must be an integer ≥ 1, got 0');
    expect(() => new SwitchLayer({ ...base, expertSegments: 2, sharedExperts: 2 }))
      .toThrow('SwitchLayer: sharedExperts must be an integer in [0, 1] (expertSegments · topK − 1, leaving each token at least one routed expert), got 2');
    expect(() => new SwitchLayer({ ...base, sharedExperts: -1 })).toThrow('SwitchLayer: sharedExperts must be an integer in [0, 0]');
  });

  it('gives dropped tokens their shared experts\' output, and padding zero', () => {
    const layer = new SwitchLayer({ dModel: 3, dFF: 4, numExperts: 2, expertSegments: 2, sharedExperts: 1, capacityFactor: 0.01, dtype: 'float64', seed: 4 });
    const rng = new Rng(5);
    const xs: Mat = Array.from({ length: 6 }, () => Array.from({ length: 3 }, () => rng.normal()));
    const { output, routing } = layer.forward(tensor([xs], { dtype: 'float64' }), { mask: tensor([[1, 1, 1, 1, 1, 0]], { dtype: 'int32' }) });
    const rows = (output.toArray() as Mat[])[0]!;
    const p = paramsOf(layer);
    const kept = new Set(routing.assignment.token);
    const dropped = [0, 1, 2, 3, 4].filter((t) => !kept.has(t));
    expect(dropped.length).toBeGreaterThan(0);
    for (const t of dropped) expectClose(rows[t]!, refDeepSeekMoE(xs[t]!, { ...p, router: p.router.map((r) => r.map(() => 0)), wi: [], wo: [], sharedWi: p.sharedWi!, sharedWo: p.sharedWo! }, 0, 'relu', false));
    expect(rows[5]!.every((v) => v === 0)).toBe(true);
  });
});
