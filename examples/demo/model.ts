import { DenseFFN, SwitchLayer, type SwitchLayerOptions, type SwitchStats } from '@switch-ts/switch';
import { Embedding, Linear, Module, RMSNorm, Rng, arange, matmulTransposed, profile, tensor, type Tensor } from '@switch-ts/tensor';
import type { RoutingGroup } from '../routing-study/experiments.js';

/** The SwitchLayer options of the routing methods since Switch (docs/guide.md §7), passed to the layer as given. */
export type RoutingOptions = Partial<Pick<SwitchLayerOptions,
  'routing' | 'expertSegments' | 'sharedExperts' | 'balance' | 'biasUpdateRate' | 'balanceScope' | 'padToCapacity'>>;

/** The feed-forward of the layers that are not switch layers, and of every layer of the dense twin. */
export type FFNConfig =
  | { kind: 'dense' }
  | ({
    kind: 'switch'; numExperts: number; topK: number; capacityFactor: number; balanceCoef: number;
    /** The layer's initialization scale s (router and experts), default 0.1 (Switch §2.4). */
    initScale?: number;
    /** Weight of the router z-loss, default 0.001 (ST-MoE). */
    zLossCoef?: number;
    /**
     * The tokens the layer routes together, for capacity and the balance loss: the whole batch as
     * one group (the default, and every run outside the routing study) or one group per sequence.
     */
    group?: RoutingGroup;
    /** Loss-free balancing: call `updateBias()` on every switch layer after each optimizer step. */
    updateBias?: boolean;
  } & RoutingOptions);

export interface ModelConfig {
  vocabSize: number;
  seqLen: number;
  dModel: number;
  numHeads: number;
  numLayers: number;
  /** Hidden width of the dense FFN and of each expert: equal, so per-token FLOPs match. */
  dFF: number;
  ffn: FFNConfig;
  seed: number;
}

/**
 * Causal multi-head self-attention: softmax(Q·Kᵀ/√d_head + M)·V with M = −1e9 above the diagonal,
 * so that position s sees positions ≤ s only.
 */
class CausalSelfAttention extends Module {
  readonly query: Linear;
  readonly key: Linear;
  readonly value: Linear;
  readonly out: Linear;
  private readonly mask: Tensor;

  constructor(readonly dModel: number, readonly numHeads: number, seqLen: number, rng: Rng) {
    super();
    const linear = (): Linear => new Linear(dModel, dModel, { rng, bias: false });
    this.query = this.module('query', linear());
    this.key = this.module('key', linear());
    this.value = this.module('value', linear());
    this.out = this.module('out', linear());
    const future = Array.from({ length: seqLen }, (_, i) => Array.from({ length: seqLen }, (_, j) => (j > i ? -1e9 : 0)));
    this.mask = tensor(future);
  }

  forward(x: Tensor): Tensor {
    const [B, S, d] = x.shape as [number, number, number];
    const H = this.numHeads, dHead = d / H;
    const heads = (t: Tensor): Tensor => t.reshape([B, S, H, dHead]).transpose([0, 2, 1, 3]);
    const q = heads(this.query.forward(x)), k = heads(this.key.forward(x)), v = heads(this.value.forward(x));
    // Q·Kᵀ reads K transposed in place: no copy of K, and none of its gradient.
    const scores = matmulTransposed(q, k, false, true).mul(1 / Math.sqrt(dHead)).add(this.mask.slice([0, 0], [S, S]));
    const mixed = scores.softmax(-1).matmul(v).transpose([0, 2, 1, 3]).reshape([B, S, d]);
    return this.out.forward(mixed);
  }
}

/** What a switch layer reports for one forward pass, plus each token's chosen experts. */
export interface SwitchTrace {
  stats: SwitchStats;
  /** The router's choices before capacity, [B·S·k], highest probability first per token. */
  choices: Int32Array;
  /** Routed experts each token chooses (m·k − K_s with fine-grained and shared experts). */
  topK: number;
  /**
   * Tokens the routing gives each routed expert, before capacity: the tokens' choices, or with
   * expert choice the experts' own picks (there the capacity is the routing, and the tokens' top-k
   * choices route nothing).
   */
  load: number[];
}

interface FFNOutput {
  output: Tensor;
  auxLoss: Tensor | null;
  trace: SwitchTrace | null;
}

function countChoices(choices: Int32Array, experts: number): number[] {
  const counts = new Array<number>(experts).fill(0);
  for (const e of choices) counts[e]!++;
  return counts;
}

/**
 * A switch layer over x [B, S, d] in its routing groups (the batch's tokens as one group, or one
 * group per sequence), with its trace. The layer reports tokens per expert after capacity; the
 * router's own choices, which it returns too, show an imbalance even when capacity hides it.
 */
function traced(layer: SwitchLayer, x: Tensor, group: RoutingGroup): FFNOutput {
  const { output, auxLoss, routing, stats } = layer.forward(group === 'batch' ? x.reshape([1, -1, x.shape[2]!]) : x);
  const choices = routing.expertIndex.dataSync() as Int32Array;
  const load = layer.config.routing === 'experts-choose' ? stats.tokensPerExpert : countChoices(choices, layer.layout.routedExperts);
  return { output, auxLoss, trace: { stats, choices, topK: layer.layout.routedTopK, load } };
}

/** A pre-norm Transformer block: x + attention(norm(x)), then x + ffn(norm(x)). */
class Block extends Module {
  readonly attentionNorm: RMSNorm;
  readonly attention: CausalSelfAttention;
  readonly ffnNorm: RMSNorm;
  readonly ffn: DenseFFN | SwitchLayer;
  private readonly group: RoutingGroup;

  constructor(config: ModelConfig, useSwitch: boolean, rng: Rng) {
    super();
    const { dModel, dFF, ffn } = config;
    this.attentionNorm = this.module('attentionNorm', new RMSNorm(dModel));
    this.attention = this.module('attention', new CausalSelfAttention(dModel, config.numHeads, config.seqLen, rng));
    this.ffnNorm = this.module('ffnNorm', new RMSNorm(dModel));
    const seed = rng.nextUint32();
    this.group = (ffn.kind === 'switch' && ffn.group) || 'batch';
    if (useSwitch && ffn.kind === 'switch') {
      // Everything but the demo's own fields is a SwitchLayer option; absent ones take the layer's defaults.
      const { kind: _kind, group: _group, updateBias: _updateBias, ...options } = ffn;
      this.ffn = this.module('ffn', new SwitchLayer({ dModel, dFF, ...options, seed }));
    } else {
      this.ffn = this.module('ffn', new DenseFFN({ dModel, dFF, seed }));
    }
  }

  forward(x: Tensor): Omit<FFNOutput, 'output'> & { y: Tensor; ffnFlops: number } {
    const h = x.add(this.attention.forward(this.attentionNorm.forward(x)));
    const normed = this.ffnNorm.forward(h);
    const ffn = this.ffn;
    let out!: FFNOutput;
    // A nested profile adds to any enclosing one, so this only isolates the FFN's share.
    const ffnFlops = profile(() => {
      out = ffn instanceof SwitchLayer ? traced(ffn, normed, this.group) : { output: ffn.forward(normed), auxLoss: null, trace: null };
    }).flops;
    return { y: h.add(out.output.reshape(h.shape)), auxLoss: out.auxLoss, trace: out.trace, ffnFlops };
  }
}

export interface ModelOutput {
  /** [B·S, vocabSize] */
  logits: Tensor;
  /** Σ over switch layers of each layer's α·balance + z-loss term (Switch §2.2: one term per layer). */
  auxLoss: Tensor | null;
  traces: SwitchTrace[];
  /** Profiled FLOPs of the FFNs in switch positions (blocks 1, 3, …): switch layers, or the dense twin's FFNs there. */
  switchFlops: number;
}

/**
 * A decoder-only language model: token + position embeddings, pre-norm blocks of causal
 * attention and FFN, a final RMSNorm and an output projection. With `ffn.kind === 'switch'` the
 * FFN of every other block (blocks 1, 3, …, the Switch paper's placement) is a SwitchLayer; the
 * dense twin has a DenseFFN of the same width there, hence the same FLOPs per token.
 */
export class LanguageModel extends Module {
  readonly tokenEmbedding: Embedding;
  readonly positionEmbedding: Embedding;
  readonly blocks: Block[];
  readonly finalNorm: RMSNorm;
  readonly head: Linear;

  constructor(readonly config: ModelConfig) {
    super();
    const { vocabSize, seqLen, dModel, numHeads, numLayers, seed } = config;
    if (!(dModel % numHeads === 0)) throw new Error(`LanguageModel: dModel ${dModel} is not a multiple of numHeads ${numHeads}`);
    const rng = new Rng(seed);
    this.tokenEmbedding = this.module('tokenEmbedding', new Embedding(vocabSize, dModel, { rng }));
    this.positionEmbedding = this.module('positionEmbedding', new Embedding(seqLen, dModel, { rng, initScale: 0.1 }));
    this.blocks = this.module('blocks', Array.from({ length: numLayers }, (_, i) => new Block(config, i % 2 === 1, rng)));
    this.finalNorm = this.module('finalNorm', new RMSNorm(dModel));
    this.head = this.module('head', new Linear(dModel, vocabSize, { rng, bias: false }));
  }

  /** tokens: int32 [B, S] with S ≤ seqLen. */
  forward(tokens: Tensor): ModelOutput {
    const [B, S] = tokens.shape as [number, number];
    let x = this.tokenEmbedding.forward(tokens).add(this.positionEmbedding.forward(arange(0, S)));
    let auxLoss: Tensor | null = null;
    const traces: SwitchTrace[] = [];
    let switchFlops = 0;
    for (const [i, block] of this.blocks.entries()) {
      const out = block.forward(x);
      x = out.y;
      if (i % 2 === 1) switchFlops += out.ffnFlops;
      if (out.auxLoss) auxLoss = auxLoss ? auxLoss.add(out.auxLoss) : out.auxLoss;
      if (out.trace) traces.push(out.trace);
    }
    const logits = this.head.forward(this.finalNorm.forward(x)).reshape([B * S, this.config.vocabSize]);
    return { logits, auxLoss, traces, switchFlops };
  }

  /** The switch layers, in block order. */
  switchLayers(): SwitchLayer[] {
    return this.blocks.flatMap((b) => (b.ffn instanceof SwitchLayer ? [b.ffn] : []));
  }

  parameterCount(): number {
    return this.parameters().reduce((n, p) => n + p.size, 0);
  }
}
