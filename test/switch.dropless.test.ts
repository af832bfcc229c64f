import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Rng, profile, tensor } from '@switch-ts/tensor';
import { DenseFFN, SwitchLayer, assignCapacity, packedExperts } from '@switch-ts/switch';
import { ExpertParallelLayer } from '@switch-ts/switch/parallel';
import { expectClose, flatten, gradientErrors, layerCase, setUp } from './switch.cases.js';
import { refExpertFlops } from './reference/routing.js';
import { refSwitchForward } from './reference/switch.js';

// MegaBlocks (Gale et al. 2023): the experts compute only the rows routed to them, not E × C
// padded slots, so the FLOPs follow the routed tokens. In the layer: padToCapacity: false.

describe('padToCapacity: false (MegaBlocks\' padding-free experts)', () => {
  it('gives the reference\'s outputs, losses and stats in every routing mode, like the padded layer', () => {
    fc.assert(fc.property(layerCase, (c) => {
      const { layer, x, xs, mask, masks, params, refOpts } = setUp(c, { padToCapacity: false });
      const padded = setUp(c).layer;
      const packed = layer.forward(x, mask ? { mask } : {});
      const ref = refSwitchForward(xs, params, refOpts, masks);
      expectClose(packed.output.dataSync(), flatten(ref.output));
      expectClose([packed.auxLoss.item()], [ref.auxLoss]);
      expect(packed.stats).toEqual(padded.forward(x, mask ? { mask } : {}).stats);
    }), { numRuns: 150 });
  });

  it('has the reference\'s gradients (central finite differences) for the router, the experts and the input', () => {
    fc.assert(fc.property(layerCase, fc.nat(), (c, rSeed) => {
      const errors = gradientErrors(setUp({ ...c, flat: false }, { padToCapacity: false, balanceCoef: 0.3, zLossCoef: 0.05 }), c, rSeed);
      fc.pre(errors !== null);
      for (const e of errors) expect(e).toEqual({ name: e.name, err: expect.toSatisfy((v: number) => v < 1e-6) });
    }), { numRuns: 40 });
  });

  it('packs the kept routes expert by expert in the padded order, leaving out the empty slots', () => {
    fc.assert(fc.property(layerCase, (c) => {
      const { layer, x, mask } = setUp(c);
      const { probs, expertIndex } = layer.forward(x, mask ? { mask } : {}).routing;
      const opts = { probs, expertIndex, capacity: 2, routing: c.routing, ...(mask && { mask }) };
      const padded = assignCapacity(opts), packed = assignCapacity({ ...opts, pad: false });
      expect([padded.padded, packed.padded, packed.rows]).toEqual([true, false, padded.token.length]);
      expect(padded.rows).toBe(padded.numExperts * padded.numGroups * padded.capacity);
      expect(Array.from(packed.token)).toEqual(Array.from(padded.token));
      const byPaddedSlot = Array.from(padded.slot.keys()).sort((a, b) => padded.slot[a]! - padded.slot[b]!);
      byPaddedSlot.forEach((route, row) => expect(packed.slot[route]).toBe(row));
      const expertOfRow = new Array<number>(packed.rows);
      padded.slot.forEach((s, route) => (expertOfRow[packed.slot[route]!] = Math.floor(s / (padded.numGroups * padded.capacity))));
      expect(expertOfRow).toEqual(packed.tokensPerExpert.flatMap((n, e) => new Array<number>(n).fill(e)));
    }));
  });

  it('spends on the experts the FLOPs of the routed rows: at capacity factor 2, top-1 costs 1× a dense FFN, not 2×', () => {
    const [G, S, dModel, dFF, E] = [2, 16, 8, 12, 4];
    const rng = new Rng(1);
    const x = tensor(Array.from({ length: G * S * dModel }, () => rng.normal()), { shape: [G, S, dModel] });
    const router = 2 * G * S * dModel * E;
    const dense = profile(() => new DenseFFN({ dModel, dFF, seed: 1 }).forward(x)).byOp.matmul!.flops;
    expect(dense).toBe(refExpertFlops(G * S, dModel, dFF));
    const flops = (padToCapacity: boolean) => {
      // initScale 0.01: a near-uniform router spreads the tokens, so that none is dropped at capacity factor 2.
      const layer = new SwitchLayer({ dModel, dFF, numExperts: E, capacityFactor: 2, initScale: 0.01, padToCapacity, seed: 1 });
      let dropped = -1;
      const matmul = profile(() => (dropped = layer.forward(x).stats.droppedFraction)).byOp.matmul!.flops;
      expect(dropped).toBe(0);
      return matmul - router;
    };
    expect(flops(true)).toBe(2 * dense);
    expect(flops(false)).toBe(dense);
  });

  it('counts exactly refExpertFlops(routed rows), where the padded layer counts refExpertFlops(E·G·C), in every mode and capacity', () => {
    fc.assert(fc.property(layerCase, fc.boolean(), (c, pad) => {
      const { layer, x, mask } = setUp(c, { padToCapacity: pad });
      let a: ReturnType<typeof layer.forward> | undefined;
      const matmul = profile(() => (a = layer.forward(x, mask ? { mask } : {}))).byOp.matmul?.flops ?? 0;
      const { assignment } = a!.routing;
      const router = 2 * c.groups * c.S * c.dModel * c.E;
      expect(matmul - router).toBe(refExpertFlops(pad ? assignment.rows : assignment.token.length, c.dModel, c.dFF));
    }));
  });

  it('rejects packed rows that do not fit the experts, naming the shapes', () => {
    const wi = tensor(new Float64Array(2 * 3 * 4), { shape: [2, 3, 4] }), wo = tensor(new Float64Array(2 * 4 * 3), { shape: [2, 4, 3] });
    expect(() => packedExperts(tensor(new Float64Array(5 * 3), { shape: [5, 3] }), wi, wo, [2, 2]))
      .toThrow("packedExperts: rows [5,3] must be [4, 3] for 2 experts' rows [2, 2] and wi [2,3,4]");
  });

  it('is rejected by ExpertParallelLayer, whose devices already skip the empty slots, and must be a boolean', () => {
    expect(() => new ExpertParallelLayer({ dModel: 2, dFF: 4, numExperts: 2, devices: 1, padToCapacity: false }))
      .toThrow('ExpertParallelLayer: padToCapacity: false does not apply: the devices already compute only the filled slots');
    expect(() => new SwitchLayer({ dModel: 2, dFF: 4, numExperts: 2, padToCapacity: 'no' as unknown as boolean }))
      .toThrow('SwitchLayer: padToCapacity must be true or false, got no');
  });
});
