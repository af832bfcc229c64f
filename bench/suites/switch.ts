import { Adam, noGrad, profile, randn, Rng, tidy, type Tensor } from '@switch-ts/tensor';
import { SwitchLayer, type SwitchLayerOptions } from '@switch-ts/switch';
import { assertClose, type Case, type Suite } from '../harness.js';
import { switchPeer, type SwitchPeerConfig } from '../peers/switch-tfjs.js';
import { tf, usePeer, type PeerBackend } from '../peers/tfjs.js';

/**
 * The Switch layer's three claims, measured side by side:
 * 1. parameters grow with E, compute does not: forward at E = 1, 4, 16, 64, capacity factor 1;
 * 2. top-1 routing costs about a quarter of the dense MoE ensemble (E = 4, k = 4);
 * 3. a training step (forward, backward, Adam) against the same layer written with tfjs ops.
 * FLOPs and bytes come from profile(); the time ratios from interleaved runs in setup, next to the
 * table's per-case medians.
 */
export const D_MODEL = 128, D_FF = 512;
export const SCALING = { groups: 8, groupSize: 256 }; // 2048 tokens
const EXPERT_COUNTS = [1, 4, 16, 64];
export const TRAIN = { groups: 4, groupSize: 128, numExperts: 16, capacityFactor: 1.25, lr: 1e-3 };
export const COEFS = { balanceCoef: 0.01, zLossCoef: 0.001 };

export function input(shape: number[], seed: number): Tensor {
  return randn(shape, new Rng(seed));
}

export function forwardOf(layer: SwitchLayer, x: Tensor): () => void {
  return () => { tidy(() => noGrad(() => { layer.forward(x).output.dataSync(); })); };
}

function profiled(run: () => void): { flops: number; bytes: number } {
  const { flops, bytes } = profile(run);
  return { flops, bytes };
}

/**
 * Median wall time per function over rounds that interleave them, so that drift hits all alike,
 * after one untimed call of each: a first call compiles (V8, the kernels' loops) and grows the
 * matmul's wasm memory, which at a few rounds would otherwise decide the median.
 */
function interleavedMedians(fns: Record<string, () => void>, rounds: number): Record<string, number> {
  const times: Record<string, number[]> = Object.fromEntries(Object.keys(fns).map((k) => [k, []]));
  for (const fn of Object.values(fns)) fn();
  for (let r = 0; r < rounds; r++) {
    for (const [name, fn] of Object.entries(fns)) {
      const t0 = performance.now();
      fn();
      times[name]!.push(performance.now() - t0);
    }
  }
  return Object.fromEntries(Object.entries(times).map(([k, v]) => [k, v.sort((a, b) => a - b)[Math.floor(v.length / 2)]!]));
}

function report(what: string, value: number, limit: number): void {
  process.stderr.write(`  ${what}: ${value.toFixed(3)} (target ≤ ${limit}) ${value <= limit ? 'ok' : 'MISSED'}\n`);
}

function scalingCases(): Case[] {
  const x = input([SCALING.groups, SCALING.groupSize, D_MODEL], 1);
  const runs = EXPERT_COUNTS.map((E) => {
    const layer = new SwitchLayer({ dModel: D_MODEL, dFF: D_FF, numExperts: E, capacityFactor: 1, seed: E });
    const run = forwardOf(layer, x);
    return { E, run, cost: profiled(run) };
  });
  const first = runs[0]!, last = runs[runs.length - 1]!;
  const time = interleavedMedians({ first: first.run, last: last.run }, 9);
  process.stderr.write(`  E scaling, ${SCALING.groups * SCALING.groupSize} tokens, E=${last.E} vs E=${first.E}:\n`);
  report('time ratio', time.last! / time.first!, 1.3);
  report('FLOPs ratio', last.cost.flops / first.cost.flops, 1.3);
  report('bytes ratio', last.cost.bytes / first.cost.bytes, 1.5);
  return runs.map(({ E, run, cost }) => ({ name: `forward E=${E}, top-1, cf 1, ${SCALING.groups}×${SCALING.groupSize} tokens`, flops: cost.flops, run: { 'switch-ts': run } }));
}

function topOneVsDenseCases(): Case[] {
  const x = input([SCALING.groups, SCALING.groupSize, D_MODEL], 2);
  const make = (topK: number) => forwardOf(new SwitchLayer({ dModel: D_MODEL, dFF: D_FF, numExperts: 4, topK, capacityFactor: 1, seed: 4 }), x);
  const top1 = make(1), dense = make(4);
  const [c1, c4] = [profiled(top1), profiled(dense)];
  const time = interleavedMedians({ top1, dense }, 7);
  process.stderr.write('  top-1 vs dense MoE (E = 4, k = 4):\n');
  report('FLOPs ratio', c1.flops / c4.flops, 0.3);
  report('time ratio', time.top1! / time.dense!, 0.35);
  return [
    { name: 'forward E=4 top-1 (Switch)', flops: c1.flops, run: { 'switch-ts': top1 } },
    { name: 'forward E=4 top-4 (dense MoE)', flops: c4.flops, run: { 'switch-ts': dense } },
  ];
}

export interface TrainSetup {
  layer: SwitchLayer;
  loss: () => Tensor;
  step: () => number;
  weights: { router: Float32Array; wi: Float32Array; wo: Float32Array };
  x: Float32Array;
  target: Float32Array;
}

/** Our training step: MSE to a fixed target plus the layer's aux loss, then Adam. */
export function oursTrain(cfg: SwitchPeerConfig, lr: number, seed: number): TrainSetup {
  const opts: SwitchLayerOptions = { ...COEFS, dModel: cfg.dModel, dFF: cfg.dFF, numExperts: cfg.numExperts, capacityFactor: cfg.capacityFactor, seed };
  const layer = new SwitchLayer(opts);
  const shape = [cfg.groups, cfg.groupSize, cfg.dModel];
  const x = input(shape, seed + 1), target = input(shape, seed + 2);
  const optimizer = new Adam(layer.parameters(), { lr, eps: 1e-8 });
  const loss = () => {
    const { output, auxLoss } = layer.forward(x);
    return output.sub(target).square().mean().add(auxLoss);
  };
  const step = () => tidy(() => {
    const l = loss();
    l.backward();
    optimizer.step();
    optimizer.zeroGrad();
    return l.item();
  });
  const named = layer.namedParameters();
  const copy = (name: string) => Float32Array.from(named.get(name)!.dataSync());
  return {
    layer, loss, step,
    weights: { router: copy('router.weight'), wi: copy('experts.wi'), wo: copy('experts.wo') },
    x: x.dataSync() as Float32Array, target: target.dataSync() as Float32Array,
  };
}

/** On a small layer: the same loss and gradients as the peer, and the same losses over three Adam steps. */
async function checkAgainstPeer(backend: PeerBackend): Promise<void> {
  const cfg: SwitchPeerConfig = { groups: 2, groupSize: 16, dModel: 8, dFF: 16, numExperts: 4, capacityFactor: 1, ...COEFS };
  const ours = oursTrain(cfg, 0.01, 7);
  await usePeer(backend);
  const peer = switchPeer(cfg, ours.weights, ours.x, ours.target, 0.01, `check-${backend}`);
  tidy(() => {
    const l = ours.loss();
    l.backward();
    const { value, grads } = tf.variableGrads(peer.loss, [peer.vars.router, peer.vars.wi, peer.vars.wo]);
    assertClose(`switch loss vs tfjs-${backend}`, [l.item()], value.dataSync(), 1e-5);
    for (const [name, v] of [['router.weight', peer.vars.router], ['experts.wi', peer.vars.wi], ['experts.wo', peer.vars.wo]] as const) {
      assertClose(`switch grad ${name} vs tfjs-${backend}`, ours.layer.namedParameters().get(name)!.grad!.dataSync(), grads[v.name]!.dataSync(), 1e-4);
    }
    ours.layer.zeroGrad();
  });
  const oursLosses = [0, 1, 2].map(() => ours.step());
  const peerLosses = [0, 1, 2].map(() => peer.step());
  assertClose(`switch losses over 3 Adam steps vs tfjs-${backend}`, oursLosses, peerLosses, 1e-4);
}

async function trainStepCase(): Promise<Case> {
  const cfg: SwitchPeerConfig = { groups: TRAIN.groups, groupSize: TRAIN.groupSize, dModel: D_MODEL, dFF: D_FF, numExperts: TRAIN.numExperts, capacityFactor: TRAIN.capacityFactor, ...COEFS };
  const ours = oursTrain(cfg, TRAIN.lr, 11);
  const peerStep = async (backend: PeerBackend) => {
    await usePeer(backend);
    const peer = switchPeer(cfg, ours.weights, ours.x, ours.target, TRAIN.lr, `bench-${backend}`);
    return () => { peer.step(); };
  };
  return {
    name: `train step E=${TRAIN.numExperts} top-1, ${TRAIN.groups}×${TRAIN.groupSize} tokens, Adam`,
    run: { 'switch-ts': () => { ours.step(); }, 'tfjs-cpu': await peerStep('cpu') },
  };
}

export const switchSuite: Suite = {
  name: 'switch',
  description: `Switch layer, dModel ${D_MODEL}, dFF ${D_FF}, float32: E scaling, top-1 vs dense MoE, train step vs tfjs`,
  async setup() {
    // tfjs-cpu only: tfjs-backend-wasm has no UnsortedSegmentSum kernel, which tf.gather's gradient needs.
    await checkAgainstPeer('cpu');
    return [...scalingCases(), ...topOneVsDenseCases(), await trainStepCase()];
  },
};
