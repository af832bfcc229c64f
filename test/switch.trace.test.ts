import { describe, expect, it } from 'vitest';
import { Rng, crossEntropy, profile, randn, tensor, type OpProfile, type Tensor } from '@switch-ts/tensor';
import { SwitchLayer, assignCapacity, expertCapacity } from '@switch-ts/switch';
import { LanguageModel, type FFNConfig } from '../examples/demo/model.js';

describe('SwitchOutput.routing: the routing behind the output, so that nobody routes again to trace it', () => {
  it('holds the router\'s probabilities and choices for this input, and the assignment its stats count', () => {
    const layer = new SwitchLayer({ dModel: 6, dFF: 8, numExperts: 4, topK: 2, capacityFactor: 1, dtype: 'float64', seed: 3 });
    const x = randn([2, 10, 6], new Rng(4), { dtype: 'float64' });
    const { routing, stats } = layer.forward(x);
    const router = layer.router.forward(x, { topK: 2 });
    expect(routing.probs.dataSync()).toEqual(router.probs.dataSync());
    expect(routing.expertIndex.shape).toEqual([2, 10, 2]);
    expect(routing.expertIndex.dataSync()).toEqual(router.expertIndex.dataSync());
    const capacity = expertCapacity({ groupSize: 10, numExperts: 4, topK: 2, capacityFactor: 1 });
    expect(routing.assignment).toEqual(assignCapacity({ probs: router.probs, expertIndex: router.expertIndex, capacity }));
    expect(routing.assignment.tokensPerExpert).toEqual(stats.tokensPerExpert);
  });
});

describe('the demo model traces its switch layers without routing again', () => {
  // E·C = T (capacity factor 1, T a multiple of E): the experts cost exactly the dense FFN's
  // matmuls, so every matmul the Switch model runs beyond its dense twin belongs to a router.
  const [B, S, dModel, E, switchLayers] = [2, 8, 8, 4, 2];
  const routerMatmulFlops = 2 * B * S * dModel * E;
  const switchFFN: FFNConfig = { kind: 'switch', numExperts: E, topK: 1, capacityFactor: 1, balanceCoef: 0.01 };

  const vocabSize = 11;
  const rng = new Rng(6);
  const randomTokens = (shape: number[]): Tensor =>
    tensor(Array.from({ length: shape.reduce((a, b) => a * b) }, () => Math.floor(rng.next() * vocabSize)), { shape, dtype: 'int32' });
  const tokens = randomTokens([B, S]), targets = randomTokens([B * S]);

  /** The matmuls of one training step's forward (with its traces) and of its backward. */
  function matmuls(ffn: FFNConfig): { forward: OpProfile; backward: OpProfile } {
    const model = new LanguageModel({ vocabSize, seqLen: S, dModel, numHeads: 2, numLayers: 2 * switchLayers, dFF: 16, ffn, seed: 5 });
    let out!: ReturnType<LanguageModel['forward']>;
    const forward = profile(() => { out = model.forward(tokens); });
    expect(out.traces).toHaveLength(ffn.kind === 'switch' ? switchLayers : 0);
    const loss = crossEntropy(out.logits, targets);
    const backward = profile(() => (out.auxLoss ? loss.add(out.auxLoss) : loss).backward());
    return { forward: forward.byOp.matmul!, backward: backward.byOp.matmul! };
  }

  it('runs one router matmul x·W_r per switch layer in the forward, and its two gradients in the backward', () => {
    const sparse = matmuls(switchFFN), dense = matmuls({ kind: 'dense' });
    expect(sparse.forward.calls - dense.forward.calls).toBe(switchLayers);
    expect(sparse.forward.flops - dense.forward.flops).toBe(switchLayers * routerMatmulFlops);
    expect(sparse.backward.calls - dense.backward.calls).toBe(2 * switchLayers);
    expect(sparse.backward.flops - dense.backward.flops).toBe(2 * switchLayers * routerMatmulFlops);
  });
});
