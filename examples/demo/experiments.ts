import { routingBase, routingRuns, type RoutingRun } from '../routing-study/experiments.js';
import type { FFNConfig } from './model.js';
import type { RunSpec } from './train.js';

export const experimentIds = ['scaling', 'topk', 'balance', 'capacity', 'specialization', 'routing'] as const;
export type ExperimentId = (typeof experimentIds)[number];
/**
 * What plain `pnpm demo` runs: the Switch paper's claims, in about 6 minutes. The routing study
 * (issue 16) adds 8 runs per seed, so it runs when asked for (`--experiments routing`).
 */
export const defaultExperimentIds: readonly ExperimentId[] = ['scaling', 'topk', 'balance', 'capacity', 'specialization'];

/**
 * The Switch settings every run shares unless its experiment varies them. Capacity factor 1.25 is
 * the paper's training default: the routing group is the whole batch (512 tokens), and with E = 8
 * or 16 each expert's share of one batch fluctuates by ±20 % or more, so 1.0 drops about an eighth
 * of the tokens and hides the benefit of more experts behind drops (the capacity experiment shows it).
 */
const base = { topK: 1, capacityFactor: 1.25, balanceCoef: 0.01 };

export const dense: RunSpec = { name: 'dense', ffn: { kind: 'dense' } };

function moe(name: string, numExperts: number, overrides: Partial<typeof base> = {}): RunSpec {
  const ffn: FFNConfig = { kind: 'switch', numExperts, ...base, ...overrides };
  return { name, ffn };
}

/** A run of the routing study as the demo trains it: the study's shared base, then the run's options, group and bias updates. */
export function routingSpec(run: RoutingRun): RunSpec {
  return { name: run.name, ffn: { kind: 'switch', ...routingBase, ...run.layer, group: run.group, updateBias: run.updateBias } };
}

const switchE = (e: number): RunSpec => moe(`switch-e${e}`, e);
const e4cf1 = moe('e4-cf1', 4, { capacityFactor: 1 });

/**
 * The runs of each experiment. A run shared by two experiments (the same name) is trained once
 * and listed under both. The top-k runs use capacity factor 1.0: then the all-experts
 * ensemble has exactly C = S slots per expert (every expert sees every token, no empty slot) and
 * top-1's expert compute is exactly a quarter of it. At 1.25 the ensemble's capacity would be
 * capped at S (a token cannot enter an expert twice) while top-1's would not, and the ratio
 * (0.31) would measure the slack rather than the routing.
 */
export const experiments: Record<ExperimentId, { title: string; runs: RunSpec[] }> = {
  scaling: { title: 'Equal compute, more experts', runs: [dense, switchE(4), switchE(8), switchE(16)] },
  topk: { title: 'Top-1 vs top-2 vs all experts (E = 4)', runs: [e4cf1, moe('e4-top2', 4, { topK: 2, capacityFactor: 1 }), moe('e4-top4', 4, { topK: 4, capacityFactor: 1 })] },
  balance: { title: 'Balancing loss on and off (E = 8)', runs: [switchE(8), moe('e8-alpha0', 8, { balanceCoef: 0 })] },
  capacity: {
    title: 'Capacity factor (E = 4)',
    runs: [moe('e4-cf0.5', 4, { capacityFactor: 0.5 }), e4cf1, switchE(4), moe('e4-cf2', 4, { capacityFactor: 2 })],
  },
  specialization: { title: 'Expert specialization (E = 8)', runs: [switchE(8)] },
  routing: { title: 'Routing since Switch (E = 8, equal active FLOPs per token)', runs: routingRuns.map(routingSpec) },
};

/** The distinct runs the chosen experiments need, in a stable order. */
export function runsFor(ids: readonly ExperimentId[]): RunSpec[] {
  const byName = new Map<string, RunSpec>();
  for (const id of ids) for (const run of experiments[id].runs) byName.set(run.name, run);
  return [...byName.values()];
}
