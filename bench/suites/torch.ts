import { loadavg } from 'node:os';
import { Adam, matmul, randn, Rng, tidy, type Tensor } from '@switch-ts/tensor';
import { expertCapacity, SwitchLayer } from '@switch-ts/switch';
import { demoModel } from '../../examples/demo/cli.js';
import { syntheticCorpus } from '../../examples/demo/data.js';
import { experiments } from '../../examples/demo/experiments.js';
import { LanguageModel } from '../../examples/demo/model.js';
import { trainStep, type RunSpec } from '../../examples/demo/train.js';
import type { Figure, SelfTimedSuite, TimingOptions } from '../harness.js';
import { startTorch, type TorchBuild, type TorchPeer } from '../peers/torch.js';
import { COEFS, D_FF, D_MODEL, forwardOf, input, oursTrain, SCALING, TRAIN } from './switch.js';

/**
 * switch-ts against PyTorch (one thread, float32) on the same models with the same shapes, hence
 * the same FLOPs: the demo's training step (switch-e8 and its dense twin), the SwitchLayer train
 * step of the switch suite, that suite's E-scaling forward at E = 1 and 64 (each side's E = 64 ÷
 * E = 1), and square matmuls. PyTorch runs in a Python child
 * (bench/peers/torch_peer.py); rounds alternate one call of ours with one call of PyTorch's, so
 * that the machine's slow and fast phases hit both alike, and the ratio is of the two medians.
 * Without torch the suite says why and measures nothing.
 */

/** The targets, as our time ÷ PyTorch's. */
const TARGETS: Record<string, number> = { 'demo step switch-e8': 2, 'SwitchLayer train step': 2.5 };
/** The target for the SwitchLayer forward at E = 64 ÷ at E = 1 (each side's own ratio). */
const E_SCALING_TARGET = 1.15;

const DEMO = { batchSize: 16, lr: 1e-3, seed: 0 }; // a constant lr: the demo's schedule changes values, not work
const MATMUL_SIZES = [128, 256, 512, 1024];

interface TorchCase {
  name: string;
  flops?: number;
  /** One call of ours; returns the loss where there is one. */
  ours: () => number | null;
  /** The same case for the peer to build (bench/peers/torch_peer.py). */
  peer: Omit<TorchBuild, 'name'>;
}

/** The demo's language model and its batch on our side, and the same shapes (and tokens) in PyTorch. */
function demoCase(spec: RunSpec): TorchCase {
  // The demo's synthetic language: 16 task tokens + 64 words = 80 symbols.
  const corpus = syntheticCorpus({ languages: 16, words: 64, noise: 0.05, seed: DEMO.seed });
  const batch = corpus.batch(DEMO.batchSize, demoModel.seqLen, new Rng(DEMO.seed + 1));
  const model = new LanguageModel({ ...demoModel, vocabSize: corpus.vocabSize, ffn: spec.ffn, seed: DEMO.seed });
  const optimizer = new Adam(model.parameters(), { lr: DEMO.lr });
  const groupSize = DEMO.batchSize * demoModel.seqLen; // the demo routes the whole batch as one group
  const ffn = spec.ffn.kind === 'switch'
    ? {
      ...spec.ffn, zLossCoef: spec.ffn.zLossCoef ?? 0.001, // SwitchLayer's default
      capacity: expertCapacity({ groupSize, numExperts: spec.ffn.numExperts, capacityFactor: spec.ffn.capacityFactor }),
    }
    : spec.ffn;
  if (ffn.kind === 'switch' && ffn.topK !== 1) throw new Error('torch peer: top-1 routing only');
  return {
    name: `demo step ${spec.name}`,
    ours: () => tidy(() => trainStep(model, optimizer, batch).ce.item()),
    peer: {
      kind: 'lm',
      config: { ...demoModel, vocabSize: corpus.vocabSize, batchSize: DEMO.batchSize, lr: DEMO.lr, seed: DEMO.seed, ffn },
      inputs: Array.from(batch.inputs.dataSync()), targets: Array.from(batch.targets.dataSync()),
    },
  };
}

/** bench/suites/switch.ts's train step, with that suite's configuration. */
function switchLayerCase(): TorchCase {
  const cfg = { groups: TRAIN.groups, groupSize: TRAIN.groupSize, dModel: D_MODEL, dFF: D_FF, numExperts: TRAIN.numExperts, capacityFactor: TRAIN.capacityFactor, ...COEFS };
  const ours = oursTrain(cfg, TRAIN.lr, 11);
  const capacity = expertCapacity({ groupSize: cfg.groupSize, numExperts: cfg.numExperts, capacityFactor: cfg.capacityFactor });
  return {
    name: 'SwitchLayer train step',
    ours: ours.step,
    peer: { kind: 'switch', config: { ...cfg, capacity, lr: TRAIN.lr, seed: 11 } },
  };
}

/**
 * bench/suites/switch.ts's E-scaling forward (2048 tokens, capacity factor 1, no gradients) at
 * E experts: parameters grow with E, FLOPs barely do.
 */
function scalingCase(E: number): TorchCase {
  const layer = new SwitchLayer({ ...COEFS, dModel: D_MODEL, dFF: D_FF, numExperts: E, capacityFactor: 1, seed: E });
  const forward = forwardOf(layer, input([SCALING.groups, SCALING.groupSize, D_MODEL], 1));
  const capacity = expertCapacity({ groupSize: SCALING.groupSize, numExperts: E, capacityFactor: 1 });
  return {
    name: `SwitchLayer forward E=${E}`,
    ours: () => { forward(); return null; },
    peer: { kind: 'switchForward', config: { ...SCALING, ...COEFS, dModel: D_MODEL, dFF: D_FF, numExperts: E, capacity, seed: E } },
  };
}

function matmulCase(n: number): TorchCase {
  const rng = new Rng(n);
  const a: Tensor = randn([n, n], rng), b: Tensor = randn([n, n], rng);
  return {
    name: `matmul ${n}² float32`,
    flops: 2 * n ** 3,
    ours: () => { matmul(a, b).dispose(); return null; },
    peer: { kind: 'matmul', config: { n } },
  };
}

/** Both first losses finite and within a factor of 2: the same model, not the same numbers (other initial weights). */
function checkLosses(name: string, ours: number | null, theirs: number | null): void {
  if (ours === null && theirs === null) return;
  const ok = ours !== null && theirs !== null && Number.isFinite(ours) && Number.isFinite(theirs) && ours / theirs > 0.5 && ours / theirs < 2;
  if (!ok) throw new Error(`${name}: first losses differ in magnitude: switch-ts ${ours}, torch ${theirs}`);
  process.stderr.write(`  ${name}: first loss switch-ts ${ours!.toFixed(4)}, torch ${theirs!.toFixed(4)}\n`);
}

const median = (xs: number[]): number => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;

function figure(c: TorchCase, impl: Figure['impl'], ms: number[]): Figure {
  const mean = ms.reduce((s, x) => s + x, 0) / ms.length;
  const sd = Math.sqrt(ms.reduce((s, x) => s + (x - mean) ** 2, 0) / Math.max(1, ms.length - 1));
  const med = median(ms);
  return {
    suite: 'torch', case: c.name, impl, samples: ms.length,
    meanMs: mean, medianMs: med, minMs: Math.min(...ms), rmePercent: (100 * 1.96 * sd) / Math.sqrt(ms.length) / mean,
    opsPerSec: 1000 / mean, gflops: c.flops === undefined ? null : c.flops / (med * 1e6),
    vsTfjsCpu: null, vsTfjsWasm: null, vsTorch: null,
  };
}

/**
 * For each case in turn one call of ours, then one of PyTorch's (timed inside Python), round after
 * round: at least 9 rounds, and more until both sides together have run for 2 × `time` ms per
 * case (at most 300 rounds).
 */
async function interleaved(cases: TorchCase[], peer: TorchPeer, time: number): Promise<{ ours: number[]; torch: number[] }[]> {
  const times = cases.map(() => ({ ours: [] as number[], torch: [] as number[] }));
  let spent = 0, rounds = 0;
  while (rounds < 300 && (rounds < 9 || spent < 2 * time * cases.length)) {
    for (const [i, c] of cases.entries()) {
      const t0 = performance.now();
      c.ours();
      times[i]!.ours.push(performance.now() - t0);
      times[i]!.torch.push(...(await peer.run(c.name, 1)));
      spent += times[i]!.ours.at(-1)! + times[i]!.torch.at(-1)!;
    }
    rounds++;
  }
  return times;
}

export const torchSuite: SelfTimedSuite = {
  name: 'torch',
  description: 'switch-ts vs PyTorch (1 thread, float32, a Python child): demo training step, SwitchLayer train step, SwitchLayer forward at E = 1 and 64, matmul; interleaved rounds, switch-ts ÷ torch',
  async run(opts: TimingOptions) {
    const started = await startTorch();
    if (!started.ok) {
      process.stderr.write(`  skipped: PyTorch is not available (${started.reason})\n`);
      return { figures: [], machine: { torch: null, torchSkipped: started.reason } };
    }
    const peer = started.peer;
    const { info } = peer;
    process.stderr.write(`  torch ${info.torch} (Python ${info.python}), ${info.threads} thread, BLAS: build ${info.blas.build}, loaded ${info.blas.libraries.join(', ') || 'none'}\n`);
    if (!info.blas.libraries.some((l) => /openblas/i.test(l))) process.stderr.write('  warning: OpenBLAS is not loaded; PyTorch runs on another BLAS\n');
    const loadBefore = loadavg()[0]!;
    const figures: Figure[] = [];
    try {
      const demoRuns = experiments.scaling.runs.filter((r) => r.name === 'switch-e8' || r.name === 'dense');
      // Each group is measured in the same rounds: the E = 1 and E = 64 forwards are compared with each other.
      const groups: (() => TorchCase[])[] = [
        ...demoRuns.map((r) => () => [demoCase(r)]), () => [switchLayerCase()], () => [scalingCase(1), scalingCase(64)],
        ...MATMUL_SIZES.map((n) => () => [matmulCase(n)]),
      ];
      for (const group of groups) {
        // Built, checked and warmed up one group at a time, so that the other cases' memory stays unallocated.
        const cases = group();
        for (const c of cases) {
          const ourLoss = c.ours();
          checkLosses(c.name, ourLoss, await peer.build({ name: c.name, ...c.peer }));
        }
        const measured = (await interleaved(cases, peer, opts.time)).map(({ ours, torch }, i) => {
          const c = cases[i]!;
          const [mine, theirs] = [figure(c, 'switch-ts', ours), figure(c, 'torch', torch)];
          mine.vsTorch = mine.medianMs / theirs.medianMs;
          const target = TARGETS[c.name];
          const verdict = target === undefined ? '' : ` (target ≤ ${target}: ${mine.vsTorch <= target ? 'met' : 'not met'})`;
          process.stderr.write(`  ${c.name}: switch-ts ${mine.medianMs.toFixed(2)} ms, torch ${theirs.medianMs.toFixed(2)} ms, ÷ ${mine.vsTorch.toFixed(2)}${verdict}, ${ours.length} rounds\n`);
          figures.push(mine, theirs);
          return { mine, theirs };
        });
        if (measured.length === 2) {
          const [e1, e64] = measured as [typeof measured[0], typeof measured[0]];
          const ours = e64.mine.medianMs / e1.mine.medianMs, theirs = e64.theirs.medianMs / e1.theirs.medianMs;
          process.stderr.write(`  SwitchLayer forward E=64 ÷ E=1: switch-ts ${ours.toFixed(3)} (target ≤ ${E_SCALING_TARGET}: ${ours <= E_SCALING_TARGET ? 'met' : 'not met'}), torch ${theirs.toFixed(3)}\n`);
        }
      }
    } finally {
      peer.close();
    }
    return { figures, machine: { torch: info, torchTargets: { ...TARGETS, 'SwitchLayer forward E=64 ÷ E=1': E_SCALING_TARGET }, loadavgBeforeTorch: loadBefore, loadavgAfterTorch: loadavg()[0] } };
  },
};
