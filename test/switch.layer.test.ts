import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { Rng, profile, setDebug, tensor, tidy, zeros, type Tensor } from '@switch-ts/tensor';
import {
  DenseFFN, SwitchLayer, routingModes, type Assignment, type ExpertRunner, type RoutingMode, type SwitchLayerOptions,
} from '@switch-ts/switch';
import { entropy, expectClose, flatten, gradientErrors, layerCase, paramsOf, setUp } from './switch.cases.js';
import {
  refDenseEnsemble, refFFN, refLogits, refSoftmax, refSwitchForward, refTopK, type Mat,
} from './reference/switch.js';

afterEach(() => setDebug({ checkFinite: false }));

describe('SwitchLayer forward against the per-token reference', () => {
  it('matches the reference output, aux loss and stats in every routing mode, with drops, padding, groups and eval capacity', () => {
    fc.assert(fc.property(layerCase, (c) => {
      const { layer, x, xs, mask, masks, params, refOpts } = setUp(c);
      const { output, auxLoss, stats } = layer.forward(x, mask ? { mask } : {});
      const ref = refSwitchForward(xs, params, refOpts, masks);
      expect(output.shape).toEqual(x.shape);
      expectClose(output.dataSync(), flatten(ref.output));
      expectClose([auxLoss.item(), stats.balanceLoss, stats.zLoss], [ref.auxLoss, ref.balanceLoss, ref.zLoss]);
      expect(stats.expertCapacity).toBe(ref.capacity);
      const perExpert = new Array<number>(c.E).fill(0);
      ref.routes.flat().forEach(({ expert }) => perExpert[expert]!++);
      expect(stats.tokensPerExpert).toEqual(perExpert);
      const unmasked = masks.flat().filter((m) => m !== 0).length;
      const routed = ref.routes.reduce((n, routes) => n + new Set(routes.map((r) => r.token)).size, 0);
      expect(stats.droppedFraction).toBeCloseTo(unmasked === 0 ? 0 : (unmasked - routed) / unmasked, 14);
      const probs = xs.flatMap((g, gi) => g.filter((_, s) => masks[gi]![s] !== 0).map((t) => refSoftmax(refLogits(t, params.router))));
      const mean = (v: number[]): number => (v.length === 0 ? 0 : v.reduce((a, b) => a + b, 0) / v.length);
      expect(stats.meanTopProb).toBeCloseTo(mean(probs.map((p) => Math.max(...p))), 12);
      expect(stats.routerEntropy).toBeCloseTo(mean(probs.map(entropy)), 12);
    }), { numRuns: 200 });
  });

  it('computes the router distribution stats when read: after the forward\'s tensors are gone, in a spread and in JSON alike', () => {
    fc.assert(fc.property(layerCase, (c) => {
      const { layer, x, mask } = setUp(c);
      const now = layer.forward(x, mask ? { mask } : {}).stats;
      const [entropyNow, topNow] = [now.routerEntropy, now.meanTopProb];
      const later = tidy(() => layer.forward(x, mask ? { mask } : {}).stats);
      expect(later.routerEntropy).toBe(entropyNow);
      expect(later.meanTopProb).toBe(topNow);
      expect({ ...later }).toEqual({ ...now });
      const json = JSON.parse(JSON.stringify(later)) as Record<string, unknown>;
      expect([json.routerEntropy, json.meanTopProb]).toEqual([entropyNow, topNow]);
    }), { numRuns: 40 });
  });

  it('with capacity for every token, equals Σ over the chosen experts of gate·FFN_e(x), token by token', () => {
    fc.assert(fc.property(layerCase, fc.constantFrom<RoutingMode>('tokens-choose', 'batch-prioritized'), (c0, routing) => {
      const c = { ...c0, routing, capacityFactor: Infinity, evalCapacityFactor: Infinity };
      const { layer, x, xs, params } = setUp(c);
      const expected = xs.flatMap((g) => g.map((token) => {
        const p = refSoftmax(refLogits(token, params.router));
        const chosen = refTopK(p, c.topK);
        const total = c.topK > 1 && c.normalizeTopK ? chosen.reduce((s, e) => s + p[e]!, 0) : 1;
        const out = token.map(() => 0);
        for (const e of chosen) refFFN(token, params.wi[e]!, params.wo[e]!, c.activation).forEach((v, i) => (out[i]! += (p[e]! / total) * v));
        return out;
      }));
      const { output, stats } = layer.forward(x);
      expectClose(output.dataSync(), expected.flat());
      expect(stats.droppedFraction).toBe(0);
    }));
  });

  it('with k = E equals the dense MoE ensemble Σ_i p_i(x)·E_i(x)', () => {
    fc.assert(fc.property(layerCase, (c0) => {
      const c = { ...c0, topK: c0.E, routing: 'tokens-choose' as const, capacityFactor: 1, evalCapacityFactor: 1 };
      const { layer, x, xs, params } = setUp(c);
      const expected = xs.flatMap((g) => g.map((token) => refDenseEnsemble(token, params, c.activation)));
      expectClose(layer.forward(x).output.dataSync(), expected.flat());
    }));
  });

  it('outputs exactly zero for dropped tokens, which send no gradient to any expert, the router or their input', () => {
    const dropCase = layerCase.map((c) => ({
      ...c, topK: 1, S: c.E + 1 + (c.S % 3), capacityFactor: 0.01, evalCapacityFactor: 0.01, minCapacity: 1, padding: 0, flat: false,
    }));
    fc.assert(fc.property(dropCase, (c) => {
      const { layer, xs, params, refOpts } = setUp(c);
      const x = tensor(xs, { dtype: 'float64', requiresGrad: true });
      const ref = refSwitchForward(xs, params, refOpts);
      const dropped = ref.routes.flatMap((routes, g) => xs[g]!.map((_, s) => g * c.S + s).filter((t) => !routes.some((r) => r.token === t - g * c.S)));
      expect(dropped.length).toBeGreaterThan(0); // more tokens than slots: E·1 slots for S > E tokens
      const { output } = layer.forward(x);
      const rows = output.toArray() as Mat[];
      for (const t of dropped) expect(rows[Math.floor(t / c.S)]![t % c.S]!.every((v) => v === 0)).toBe(true);

      const onlyDropped = new Float64Array(output.size);
      for (const t of dropped) onlyDropped.fill(1, t * c.dModel, (t + 1) * c.dModel);
      output.mul(tensor(onlyDropped, { shape: output.shape, dtype: 'float64' })).sum().backward();
      for (const p of [...layer.parameters(), x]) expect(p.grad === null || p.grad.dataSync().every((v) => v === 0)).toBe(true);

      layer.parameters().forEach((p) => p.zeroGrad());
      x.zeroGrad();
      layer.forward(x).output.sum().backward();
      const gx = x.grad!.dataSync();
      for (const t of dropped) expect(gx.slice(t * c.dModel, (t + 1) * c.dModel).every((v) => v === 0)).toBe(true);
    }), { numRuns: 60 });
  });

  it('permuting the tokens of a group permutes the outputs when nothing is dropped', () => {
    fc.assert(fc.property(layerCase, fc.nat(), (c0, permSeed) => {
      const c = { ...c0, capacityFactor: Infinity, evalCapacityFactor: Infinity, flat: false };
      const { layer, xs, masks } = setUp(c);
      const perm = new Rng(permSeed).shuffle(Array.from({ length: c.S }, (_, s) => s));
      const run = (order: number[]): Mat[] => {
        const x = tensor(xs.map((g) => order.map((s) => g[s]!)), { dtype: 'float64' });
        const mask = tensor(masks.map((g) => order.map((s) => g[s]!)), { dtype: 'int32' });
        return layer.forward(x, c.padding > 0 ? { mask } : {}).output.toArray() as Mat[];
      };
      const identity = run(perm.map((_, s) => s));
      const permuted = run(perm);
      expectClose(permuted.flat(2), identity.map((g) => perm.map((s) => g[s]!)).flat(2));
    }));
  });

  it('gives zero output and zero aux loss when every token is padding, in every routing mode', () => {
    for (const routing of routingModes) {
      const layer = new SwitchLayer({ dModel: 3, dFF: 4, numExperts: 2, routing, dtype: 'float64', seed: 1 });
      const { output, auxLoss, stats } = layer.forward(tensor(new Float64Array(2 * 4 * 3).fill(1), { shape: [2, 4, 3] }), { mask: tensor(new Int32Array(8), { shape: [2, 4] }) });
      expect(output.dataSync().every((v) => v === 0)).toBe(true);
      expect([auxLoss.item(), stats.droppedFraction, stats.tokensPerExpert]).toEqual([0, 0, [0, 0]]);
    }
  });

  it('works on [S, dModel] input as one group and on [G1, G2, S, dModel] as G1·G2 groups', () => {
    const layer = new SwitchLayer({ dModel: 3, dFF: 4, numExperts: 2, dtype: 'float64', seed: 3, capacityFactor: 1 });
    const rng = new Rng(9);
    const xs = Array.from({ length: 2 * 3 * 5 * 3 }, () => rng.normal());
    const asGroups = layer.forward(tensor(xs, { shape: [6, 5, 3], dtype: 'float64' }));
    const nested = layer.forward(tensor(xs, { shape: [2, 3, 5, 3], dtype: 'float64' }));
    expect(nested.output.shape).toEqual([2, 3, 5, 3]);
    expect(Array.from(nested.output.dataSync())).toEqual(Array.from(asGroups.output.dataSync()));
    expect(nested.auxLoss.item()).toBe(asGroups.auxLoss.item());
    const one = layer.forward(tensor(xs.slice(0, 15), { shape: [5, 3], dtype: 'float64' }));
    expect(Array.from(one.output.dataSync())).toEqual(Array.from(asGroups.output.dataSync().slice(0, 15)));
  });
});

describe('SwitchLayer gradients', () => {
  it('match central finite differences of the reference for the router, the experts and the input (float64)', () => {
    fc.assert(fc.property(layerCase, fc.nat(), (c, rSeed) => {
      const errors = gradientErrors(setUp({ ...c, flat: false }, { balanceCoef: 0.3, zLossCoef: 0.05 }), c, rSeed);
      fc.pre(errors !== null);
      for (const e of errors) expect(e).toEqual({ name: e.name, err: expect.toSatisfy((v: number) => v < 1e-6) });
    }), { numRuns: 60 });
  });
});

describe('SwitchLayer determinism, jitter and dropout', () => {
  const noisy = { dModel: 4, dFF: 6, numExperts: 3, jitter: 0.3, expertDropout: 0.3, dtype: 'float64' as const, capacityFactor: 1 };
  const input = (seed: number) => {
    const rng = new Rng(seed);
    return tensor(Array.from({ length: 2 * 7 * 4 }, () => rng.normal()), { shape: [2, 7, 4], dtype: 'float64' });
  };

  it('gives bit-identical parameters, outputs, aux losses and gradients for the same seed', () => {
    fc.assert(fc.property(fc.nat(), fc.nat(), (seed, xSeed) => {
      const run = () => {
        const layer = new SwitchLayer({ ...noisy, seed });
        const results = [0, 1].map(() => {
          const { output, auxLoss, stats } = layer.forward(input(xSeed));
          output.sum().add(auxLoss).backward();
          return { output: Array.from(output.dataSync()), aux: auxLoss.item(), stats };
        });
        return { results, params: layer.parameters().map((p) => Array.from(p.dataSync())), grads: layer.parameters().map((p) => Array.from(p.grad!.dataSync())) };
      };
      expect(run()).toEqual(run());
    }), { numRuns: 20 });
    const a = new SwitchLayer({ ...noisy, seed: 1 }), b = new SwitchLayer({ ...noisy, seed: 2 });
    expect(Array.from(a.experts.wi.dataSync())).not.toEqual(Array.from(b.experts.wi.dataSync()));
  });

  it('turns jitter and expert dropout off in eval: the output is the reference\'s, call after call', () => {
    fc.assert(fc.property(layerCase, (c) => {
      const { layer, x, xs, params, refOpts } = setUp({ ...c, training: false, padding: 0 }, { jitter: 0.5, expertDropout: 0.5 });
      const first = Array.from(layer.forward(x).output.dataSync());
      expectClose(first, flatten(refSwitchForward(xs, params, refOpts).output));
      expect(Array.from(layer.forward(x).output.dataSync())).toEqual(first);
    }));
  });

  it('jitter changes only the router\'s input: each output row is a gate times FFN_e of the clean token', () => {
    fc.assert(fc.property(fc.nat(), fc.nat(), (seed, xSeed) => {
      const layer = new SwitchLayer({ dModel: 4, dFF: 6, numExperts: 3, jitter: 0.5, initScale: 2, dtype: 'float64', capacityFactor: Infinity, activation: 'gelu', seed });
      const x = input(xSeed);
      const params = paramsOf(layer);
      const jittered = layer.forward(x).output.toArray() as Mat[];
      let gatesMoved = false;
      (x.toArray() as Mat[]).forEach((g, gi) => g.forEach((token, s) => {
        const y = jittered[gi]![s]!;
        const p = refSoftmax(refLogits(token, params.router));
        const fits = params.wi.map((wi, e) => {
          const f = refFFN(token, wi, params.wo[e]!, 'gelu');
          const gate = y.reduce((a, v, i) => a + v * f[i]!, 0) / f.reduce((a, v) => a + v * v, 0);
          return { e, gate, residual: Math.hypot(...y.map((v, i) => v - gate * f[i]!)) };
        });
        const best = fits.reduce((a, b) => (b.residual < a.residual ? b : a));
        expect(best.residual).toBeLessThanOrEqual(1e-10 * Math.hypot(...y));
        expect(best.gate).toBeGreaterThan(0);
        expect(best.gate).toBeLessThanOrEqual(1);
        if (Math.abs(best.gate - p[best.e]!) > 1e-6) gatesMoved = true;
      }));
      expect(gatesMoved).toBe(true);
    }), { numRuns: 30 });
  });

  it('expert dropout changes the training output but not its shape, and needs no rescaling in eval', () => {
    const layer = new SwitchLayer({ ...noisy, jitter: 0, seed: 5 });
    const x = input(1);
    const clean = Array.from(layer.eval().forward(x).output.dataSync());
    const dropped = Array.from(layer.train().forward(x).output.dataSync());
    expect(dropped).not.toEqual(clean);
    expect(Array.from(layer.eval().forward(x).output.dataSync())).toEqual(clean);
  });
});

describe('SwitchLayer parameters, precision and compute', () => {
  it('names its parameters after its sub-modules (router.weight, experts.wi, experts.wo), with the paper\'s reduced init std √(0.1/fanIn)', () => {
    const layer = new SwitchLayer({ dModel: 64, dFF: 128, numExperts: 8, seed: 1 });
    const shapes = [...layer.namedParameters()].map(([name, p]) => [name, p.shape, p.dtype, p.requiresGrad]);
    expect(shapes).toEqual([
      ['router.weight', [64, 8], 'float32', true],
      ['experts.wi', [8, 64, 128], 'float32', true],
      ['experts.wo', [8, 128, 64], 'float32', true],
    ]);
    const std = (t: Tensor): number => Math.sqrt(Array.from(t.dataSync()).reduce((s, v) => s + v * v, 0) / t.size);
    // A normal truncated at ±2σ keeps 77.4% of the variance.
    expect(std(layer.experts.wi) / Math.sqrt(0.1 / 64)).toBeCloseTo(Math.sqrt(0.774), 1);
    expect(std(layer.experts.wo) / Math.sqrt(0.1 / 128)).toBeCloseTo(Math.sqrt(0.774), 1);
  });

  it('in float32 matches the float64 reference to float32 precision; routerDtype float64 keeps the router in float64', () => {
    fc.assert(fc.property(layerCase, fc.constantFrom<'float32' | 'float64'>('float32', 'float64'), (c, routerDtype) => {
      const { xs, masks, refOpts } = setUp(c);
      const layer = new SwitchLayer({
        dModel: c.dModel, dFF: c.dFF, numExperts: c.E, topK: c.topK, routing: c.routing, capacityFactor: c.capacityFactor,
        evalCapacityFactor: c.evalCapacityFactor, minCapacity: c.minCapacity, normalizeTopK: c.normalizeTopK,
        activation: c.activation, initScale: c.initScale, seed: c.seed, routerDtype,
      }).train(c.training);
      const params = paramsOf(layer);
      const ref = refSwitchForward(xs, params, refOpts, masks);
      fc.pre(ref.margin > 1e-3);
      const x = tensor(xs, { dtype: 'float32' });
      const { output, auxLoss } = layer.forward(x, c.padding > 0 ? { mask: tensor(masks) } : {});
      expect([output.dtype, auxLoss.dtype]).toEqual(['float32', 'float32']);
      expectClose(output.dataSync(), flatten(ref.output), 1e-4);
    }), { numRuns: 60 });
  });

  it('spends on the experts the matmul FLOPs of one dense FFN when E·C = T, whatever E (the router adds 2·T·dModel·E)', () => {
    for (const E of [1, 2, 4, 8]) {
      const [G, S, dModel, dFF] = [2, 16, 8, 12];
      const layer = new SwitchLayer({ dModel, dFF, numExperts: E, capacityFactor: 1, seed: 1 });
      const dense = new DenseFFN({ dModel, dFF, seed: 1 });
      const x = tensor(new Float32Array(G * S * dModel).fill(0.5), { shape: [G, S, dModel] });
      const sparse = profile(() => layer.forward(x)).byOp.matmul!.flops;
      const baseline = profile(() => dense.forward(x)).byOp.matmul!.flops;
      expect(baseline).toBe(4 * G * S * dModel * dFF);
      expect(sparse).toBe(baseline + 2 * G * S * dModel * E);
    }
  });
});

describe('SwitchLayer expertRunner', () => {
  it('runs the experts step through the injected runner: `place` gives the registered weights, `run` the outputs that are combined', () => {
    const opts: SwitchLayerOptions = { dModel: 4, dFF: 6, numExperts: 3, dtype: 'float64', seed: 2 };
    const placed = new Map<string, Tensor>();
    let assigned: Assignment | undefined;
    const doubling: ExpertRunner = {
      place: (weight, name) => {
        placed.set(name, weight.detach());
        return placed.get(name)!;
      },
      run: (experts, buffers, ffn, assignment) => {
        assigned = assignment;
        return experts.forward(buffers, ffn).mul(2);
      },
    };
    const layer = new SwitchLayer({ ...opts, expertRunner: doubling });
    expect([...placed.keys()]).toEqual(['wi', 'wo']);
    expect(layer.experts.wi).toBe(placed.get('wi'));
    expect(layer.experts.wo).toBe(placed.get('wo'));

    const x = tensor(Array.from({ length: 2 * 5 * 4 }, (_, i) => Math.sin(i)), { shape: [2, 5, 4], dtype: 'float64' });
    const { output, routing } = layer.forward(x);
    expect(assigned).toBe(routing.assignment);
    // The output is linear in the expert outputs, and doubling is exact in floating point.
    expect(output.dataSync()).toEqual(new SwitchLayer(opts).forward(x).output.mul(2).dataSync());
    expect(() => new SwitchLayer({ ...opts, expertRunner: {} as ExpertRunner })).toThrow('SwitchLayer: expertRunner must have a run(experts, buffers, opts, assignment) method');
  });
});

describe('DenseFFN', () => {
  it('is act(x·W_i)·W_o per token, like one expert of the reference', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 6 }), fc.constantFrom('relu' as const, 'gelu' as const), fc.nat(),
      (T, dModel, dFF, activation, seed) => {
        const ffn = new DenseFFN({ dModel, dFF, activation, dtype: 'float64', seed, initScale: 2 });
        const rng = new Rng(seed + 1);
        const xs: Mat = Array.from({ length: T }, () => Array.from({ length: dModel }, () => rng.normal()));
        const wi = ffn.wi.toArray() as Mat, wo = ffn.wo.toArray() as Mat;
        expect([...ffn.namedParameters()].map(([n, p]) => [n, p.shape])).toEqual([['wi', [dModel, dFF]], ['wo', [dFF, dModel]]]);
        expectClose(ffn.forward(tensor(xs, { dtype: 'float64' })).dataSync(), xs.flatMap((t) => refFFN(t, wi, wo, activation)));
      }));
  });
});

describe('SwitchLayer bad input', () => {
  const base = { dModel: 4, dFF: 8, numExperts: 4 };
  it('rejects numExperts < 1, topK outside 1..E and capacityFactor ≤ 0, naming the option and the value', () => {
    expect(() => new SwitchLayer({ ...base, numExperts: 0 })).toThrow('SwitchLayer: numExperts must be an integer ≥ 1, got 0');
    expect(() => new SwitchLayer({ ...base, numExperts: 2.5 })).toThrow('SwitchLayer: numExperts must be an integer ≥ 1, got 2.5');
    expect(() => new SwitchLayer({ ...base, topK: 0 })).toThrow('SwitchLayer: topK must be an integer in [1, 4], got 0');
    expect(() => new SwitchLayer({ ...base, topK: 5 })).toThrow('SwitchLayer: topK must be an integer in [1, 4], got 5');
    expect(() => new SwitchLayer({ ...base, capacityFactor: 0 })).toThrow('SwitchLayer: capacityFactor must be > 0 (Infinity = dropless), got 0');
    expect(() => new SwitchLayer({ ...base, capacityFactor: -1 })).toThrow('SwitchLayer: capacityFactor must be > 0 (Infinity = dropless), got -1');
    expect(() => new SwitchLayer({ ...base, evalCapacityFactor: NaN })).toThrow('SwitchLayer: evalCapacityFactor must be > 0 (Infinity = dropless), got NaN');
    expect(() => new SwitchLayer({ ...base, jitter: 1 })).toThrow('SwitchLayer: jitter must be in [0, 1), got 1');
    expect(() => new SwitchLayer({ ...base, routing: 'random' as RoutingMode })).toThrow("SwitchLayer: routing must be one of tokens-choose, batch-prioritized, experts-choose, got 'random'");
    expect(() => new SwitchLayer({ ...base, routerDtype: 'int32' as 'float32' })).toThrow("SwitchLayer: routerDtype must be 'float32' or 'float64', got int32");
  });

  it('rejects an input whose last dimension is not dModel, and a mask of the wrong shape', () => {
    const layer = new SwitchLayer(base);
    expect(() => layer.forward(tensor(new Float32Array(30), { shape: [2, 3, 5] }))).toThrow('SwitchLayer.forward: input [2,3,5] must be [..., S, dModel] with dModel = 4; its last dimension is 5');
    expect(() => layer.forward(tensor(new Float32Array(4), { shape: [4] }))).toThrow('SwitchLayer.forward: input [4] must be [..., S, dModel]');
    expect(() => layer.forward(tensor(new Float32Array(24), { shape: [2, 3, 4] }), { mask: tensor([1, 1, 1]) })).toThrow('SwitchLayer.forward: mask [3] must have the token shape [2,3]');
  });

  it('rejects an input whose dtype is not the layer\'s, naming the layer and both dtypes', () => {
    const layer = new SwitchLayer(base);
    for (const dtype of ['float64', 'int32'] as const) {
      expect(() => layer.forward(zeros([2, 3, 4], dtype))).toThrow(`SwitchLayer.forward: input dtype ${dtype} does not match the layer's dtype float32; cast the input with x.cast('float32')`);
    }
    expect(() => new SwitchLayer({ ...base, dtype: 'float64' }).forward(zeros([3, 4]))).toThrow("SwitchLayer.forward: input dtype float32 does not match the layer's dtype float64");
  });

  it('stops at NaN router logits: at the producing op under checkFinite, and in route otherwise', () => {
    const layer = new SwitchLayer({ ...base, seed: 1 });
    const x = tensor([[1, 2, NaN, 4], [1, 1, 1, 1]]);
    expect(() => layer.forward(x)).toThrow('route: router logit is NaN for token 0, expert 0: the router input or weight is not finite');
    setDebug({ checkFinite: true });
    expect(() => layer.forward(x)).toThrow(/^matmul: produced NaN at flat index 0 of output \[2,4\] .*checkFinite is on/);
  });
});
