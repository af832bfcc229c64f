import type { SwitchLayerOptions } from '@switch-ts/switch';

/**
 * The runs of the routing study (issue 16, `pnpm demo --experiments routing`), as plain data for
 * the demo to import: the methods after Switch side by side, on the same data and seeds, at equal
 * active FLOPs per token. Nothing here trains or reports; the demo owns that. See docs/guide.md §7.
 */

/** Where the balance loss and the capacity count tokens: the whole batch as one group (the demo's default) or each sequence. */
export type RoutingGroup = 'batch' | 'sequence';

export interface RoutingRun {
  /** Unique, file-name safe. */
  name: string;
  /** The label for charts and the verdict table. */
  label: string;
  /** The paper the run stands for. */
  paper: string;
  /** SwitchLayer options on top of `routingBase` (and the model's dModel, dFF, dtype, seed); the expert count is the base's. */
  layer: Partial<Omit<SwitchLayerOptions, 'dModel' | 'dFF' | 'numExperts'>>;
  group: RoutingGroup;
  /** Call `layer.updateBias()` on every switch layer after each optimizer step. */
  updateBias: boolean;
  /** What the run is expected to show, from its paper: a hypothesis for the verdict table, not a result. */
  claim: string;
  /** Caveats the report must state next to the run. */
  caveats: string[];
}

/**
 * What every run shares: Switch top-1 over 8 experts at the paper's training capacity factor. Each
 * run's active FLOPs per token equal one dense FFN of d_ff up to the capacity slack (1.25× on the
 * experts for the padded runs, 1× for the dropless one): fine-grained segments keep m·k − K_s routed
 * plus K_s shared experts of d_ff/m, and expert choice with c = 1 gives one expert per token on average.
 */
export const routingBase = { numExperts: 8, topK: 1, capacityFactor: 1.25, balanceCoef: 0.01 } as const satisfies Partial<SwitchLayerOptions>;

export const routingSeeds: readonly number[] = [0, 1, 2];

/** The measures the study charts, one chart each, and the verdict table's columns. */
export const routingMeasures = [
  { id: 'finalLoss', label: 'held-out loss (mean and spread over seeds)' },
  { id: 'loadImbalance', label: 'load imbalance over training: max / mean tokens per expert' },
  { id: 'loadCV', label: 'load imbalance over training: coefficient of variation of tokens per expert' },
  { id: 'droppedFraction', label: 'fraction of tokens dropped' },
  { id: 'flopsPerToken', label: 'profiled FLOPs per token' },
  { id: 'tokensPerSecond', label: 'tokens per second' },
] as const;

export const routingRuns: readonly RoutingRun[] = [
  {
    name: 'switch-aux', label: 'Switch top-1 + aux loss', paper: 'Fedus et al. 2021',
    layer: { balance: 'aux-loss' }, group: 'batch', updateBias: false,
    claim: 'the baseline: the balance loss keeps the load near even at a small cost in loss',
    caveats: [],
  },
  {
    name: 'loss-free', label: 'loss-free bias', paper: 'Wang et al. 2024',
    layer: { balance: 'loss-free', biasUpdateRate: 0.001 }, group: 'batch', updateBias: true,
    claim: 'a load as even as the aux loss gives, or more, with a lower loss (no interfering gradient)',
    caveats: ['γ = 0.001 is DeepSeek-V3\'s for long runs; a toy run of a few hundred steps may need a larger γ (the paper tunes u) — report the γ used'],
  },
  {
    name: 'loss-free-g0.01', label: 'loss-free bias, γ = 0.01', paper: 'Wang et al. 2024',
    layer: { balance: 'loss-free', biasUpdateRate: 0.01 }, group: 'batch', updateBias: true,
    claim: 'as loss-free, with the bias moving 10× faster: an 80-step run moves b by at most 80·γ, 0.08 at γ = 0.001, small against router probabilities near 1/8',
    caveats: ['γ = 0.01 is tuned to the demo\'s 80 steps (Wang et al. tune their update rate u too); the paper\'s 0.001 is the loss-free run'],
  },
  {
    name: 'expert-choice', label: 'expert choice (c = 1)', paper: 'Zhou et al. 2022',
    layer: { routing: 'experts-choose', capacityFactor: 1, balance: 'none' }, group: 'sequence', updateBias: false,
    claim: 'perfect load balance without any loss; some tokens get several experts and some none',
    caveats: [
      'not causal: in a decoder a token\'s routing depends on the later tokens of its group, so its training loss can use information from the future and is not comparable as is; the report must say so, or evaluate held-out loss with a causal router',
      'group = sequence, so that the leak stays within one sequence',
    ],
  },
  {
    name: 'fine-grained-shared', label: 'fine-grained (m = 4) + 1 shared', paper: 'Dai et al. 2024 (DeepSeekMoE)',
    layer: { expertSegments: 4, sharedExperts: 1 }, group: 'batch', updateBias: false,
    claim: 'a lower loss at the same FLOPs: 31 routed experts of d_ff/4 (3 per token) and 1 shared one',
    caveats: ['the router has 31 outputs instead of 8: its own FLOPs (2·dModel·E per token) grow, which the FLOPs column shows'],
  },
  {
    name: 'switch-aux-seq', label: 'Switch + aux loss, per-sequence groups', paper: 'Fedus et al. 2021',
    layer: { balance: 'aux-loss', balanceScope: 'group' }, group: 'sequence', updateBias: false,
    claim: 'the per-group baseline for the global-batch run: every sequence must balance on its own',
    caveats: ['with the demo\'s one group per batch, balanceScope batch and group are the same loss: this pair needs per-sequence groups'],
  },
  {
    name: 'global-batch', label: 'global-batch balance loss', paper: 'Qiu et al. 2025',
    layer: { balance: 'aux-loss', balanceScope: 'batch' }, group: 'sequence', updateBias: false,
    claim: 'a lower loss and more specialised experts than switch-aux-seq, at a batch load as even',
    caveats: ['the batch is the groups of one forward call; micro-batches are not synchronised'],
  },
  {
    name: 'dropless', label: 'dropless, padding-free', paper: 'Gale et al. 2023 (MegaBlocks)',
    layer: { capacityFactor: Infinity, padToCapacity: false }, group: 'batch', updateBias: false,
    claim: 'no dropped token, and FLOPs per token of exactly one FFN (the padded runs spend 1.25×)',
    caveats: ['tokens per second at toy scale measure the per-expert loop of packedExperts, not a block-sparse kernel'],
  },
];

/** The SwitchLayer options of a run: the shared base, then its own. */
export function routingLayerOptions(run: RoutingRun): Omit<SwitchLayerOptions, 'dModel' | 'dFF'> {
  return { ...routingBase, ...run.layer };
}
