import { describe, expect, it } from 'vitest';
import { Rng, profile, randn } from '@switch-ts/tensor';
import { DenseFFN, SwitchLayer } from '@switch-ts/switch';
import { routingLayerOptions, routingRuns } from '../examples/routing-study/experiments.js';

describe('the routing study\'s runs (examples/routing-study/experiments.ts)', () => {
  it('are valid SwitchLayer options with unique names, each spending on its experts one dense FFN per token up to the capacity slack', () => {
    expect(new Set(routingRuns.map((r) => r.name)).size).toBe(routingRuns.length);
    const [G, S, dModel, dFF] = [4, 32, 8, 32];
    const x = randn([G, S, dModel], new Rng(1));
    const dense = profile(() => new DenseFFN({ dModel, dFF }).forward(x)).byOp.matmul!.flops;
    for (const run of routingRuns) {
      const layer = new SwitchLayer({ dModel, dFF, seed: 1, ...routingLayerOptions(run) });
      const router = 2 * G * S * dModel * layer.layout.routedExperts;
      const experts = profile(() => layer.forward(x)).byOp.matmul!.flops - router;
      const slack = layer.config.padToCapacity ? layer.config.capacityFactor : 1;
      expect({ run: run.name, ratio: experts / dense }).toEqual({ run: run.name, ratio: expect.toSatisfy((r: number) => r <= slack * 1.1 && r > 0) });
      if (!layer.config.padToCapacity) expect(experts).toBe(dense);
    }
  });
});
