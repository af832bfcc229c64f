import type { FFNConfig } from './model.js';
import type { RunSpec } from './train.js';

export const experimentIds = ['scaling', 'topk', 'balance', 'capacity', 'specialization'] as const;
export type ExperimentId = (typeof experimentIds)[number];

/** The Switch settings every run shares unless its experiment varies them. */
const base = { topK: 1, capacityFactor: 1.0, balanceCoef: 0.01 };

export const dense: RunSpec = { name: 'dense', ffn: { kind: 'dense' } };

function moe(name: string, numExperts: number, overrides: Partial<typeof base> = {}): RunSpec {
  const ffn: FFNConfig = { kind: 'switch', numExperts, ...base, ...overrides };
  return { name, ffn };
}

const switchE = (e: number): RunSpec => moe(`switch-e${e}`, e);

/**
 * The runs of each experiment (issue 5). A run shared by two experiments (the same name) is
 * trained once and listed under both. Capacity factor 1.0 everywhere except in `capacity`, so
 * that top-1's expert compute is exactly a quarter of the E = 4 ensemble's.
 */
export const experiments: Record<ExperimentId, { title: string; runs: RunSpec[] }> = {
  scaling: { title: 'Equal compute, more experts', runs: [dense, switchE(2), switchE(4), switchE(8), switchE(16)] },
  topk: { title: 'Top-1 vs top-2 vs all experts (E = 4)', runs: [switchE(4), moe('e4-top2', 4, { topK: 2 }), moe('e4-top4', 4, { topK: 4 })] },
  balance: { title: 'Balancing loss on and off (E = 8)', runs: [switchE(8), moe('e8-alpha0', 8, { balanceCoef: 0 })] },
  capacity: {
    title: 'Capacity factor (E = 4)',
    runs: [moe('e4-cf0.5', 4, { capacityFactor: 0.5 }), switchE(4), moe('e4-cf1.25', 4, { capacityFactor: 1.25 }), moe('e4-cf2', 4, { capacityFactor: 2 })],
  },
  specialization: { title: 'Expert specialization (E = 8)', runs: [switchE(8)] },
};

/** The distinct runs the chosen experiments need, in a stable order. */
export function runsFor(ids: readonly ExperimentId[]): RunSpec[] {
  const byName = new Map<string, RunSpec>();
  for (const id of ids) for (const run of experiments[id].runs) byName.set(run.name, run);
  return [...byName.values()];
}
