import { availableParallelism } from 'node:os';
import { Bench } from 'tinybench';
import { randn, Rng, tidy, type Tensor } from '@switch-ts/tensor';
import { SwitchLayer, type SwitchLayerOptions } from '@switch-ts/switch';
import { ExpertParallelLayer } from '@switch-ts/switch/parallel';
import { assertClose, type Case, type Suite } from '../harness.js';

/**
 * Expert parallelism (Switch §5): the expert-parallel layer on D = 2 worker threads against the
 * single-thread SwitchLayer with the same weights, one forward + backward step each, E = 8,
 * 4096 tokens, dModel 256, dFF 1024, float32. Both run side by side in one tinybench instance in
 * setup (the ratio printed; target ≥ 1.6× on a 2-core machine), then once more as table rows.
 */
const OPTS: SwitchLayerOptions = { dModel: 256, dFF: 1024, numExperts: 8, seed: 21 };
const SHAPE = [8, 512, 256];
const DEVICES = 2;

function stepOf(layer: SwitchLayer, x: Tensor): () => void {
  return () => tidy(() => {
    const { output, auxLoss } = layer.forward(x);
    output.square().mean().add(auxLoss).backward();
    layer.zeroGrad();
  });
}

export const parallelSuite: Suite = {
  name: 'parallel',
  description: `expert-parallel layer on ${DEVICES} worker threads vs single-thread SwitchLayer: E = 8, ${SHAPE[0]! * SHAPE[1]!} tokens, dModel 256, dFF 1024, forward + backward`,
  async setup(): Promise<Case[]> {
    const x = randn(SHAPE, new Rng(22));
    const single = new SwitchLayer(OPTS);
    const parallel = await new ExpertParallelLayer({ ...OPTS, devices: DEVICES }).ready();
    const reference = single.forward(x);
    assertClose('expert-parallel output vs SwitchLayer', parallel.forward(x).output.dataSync(), reference.output.dataSync(), 1e-6);
    const slots = reference.stats.expertCapacity * OPTS.numExperts * SHAPE[0]!;
    const steps = { single: stepOf(single, x), parallel: stepOf(parallel, x) };

    const bench = new Bench({ name: 'parallel/side-by-side', throws: true, time: 1000, iterations: 6, warmupIterations: 1 });
    bench.add('SwitchLayer, 1 thread', steps.single).add(`ExpertParallelLayer, ${DEVICES} devices`, steps.parallel);
    await bench.run();
    const [t1, tD] = bench.tasks.map((t) => {
      if (t.result.state !== 'completed') throw new Error(`parallel/${t.name}: ${t.result.state}`);
      return t.result.latency.p50;
    });
    const filled = parallel.deviceStats().devices.reduce((s, d) => s + d.tokens, 0);
    process.stderr.write(`  ${availableParallelism()} cores; median step: 1 thread ${t1!.toFixed(0)} ms, ${DEVICES} devices ${tD!.toFixed(0)} ms: ` +
      `speed-up ${(t1! / tD!).toFixed(2)}× (target ≥ 1.6) ${t1! / tD! >= 1.6 ? 'ok' : 'MISSED'}\n` +
      `  the devices compute the ${filled} filled slots; the single thread all ${slots} (empty ones are zeros)\n`);
    return [
      { name: 'train step (fwd+bwd) E=8, 4096 tokens, 1 thread', run: { 'switch-ts': steps.single } },
      { name: `train step (fwd+bwd) E=8, 4096 tokens, ${DEVICES} devices`, run: { 'switch-ts': steps.parallel } },
    ];
  },
};
