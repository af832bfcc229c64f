import type { Machine } from '../shared/machine.js';
import { experiments, type ExperimentId } from './experiments.js';
import type { HistoryRow, TrainSettings, TrainedRun } from './train.js';

/**
 * results.json: everything the report and its verdicts are computed from. docs/guide.md explains
 * the fields; the claims test and the verdicts read nothing else.
 */
export interface Results {
  version: 2;
  machine: Machine;
  /** What every run shared, the seeds each run was trained with, the data; and the runs not finished yet. */
  settings: TrainSettings & { seeds: number[]; quick: boolean; data: string; pending: string[] };
  runs: RunResult[];
}

/** The fields results.json takes from a trained run as they are (documented on TrainedRun, train.ts). */
const carried = [
  'seed', 'params', 'flopsPerToken', 'switchFlopsPerToken', 'evalSwitchFlopsPerToken', 'evalDroppedFraction', 'finalLoss',
  'tokensPerSecond', 'wallSeconds', 'droppedFraction', 'routerEntropy', 'tokensPerExpert', 'specialization',
] as const;

/** One trained run (a spec with a seed), listed once per experiment that uses it. */
export type RunResult = Pick<TrainedRun, (typeof carried)[number]> & {
  name: string;
  experiment: ExperimentId;
  numExperts: number;
  topK: number;
  capacityFactor: number | null;
  balanceCoef: number | null;
  secondsPerStep: number;
  /**
   * Each step's load imbalance, averaged over the last quarter of training: the coefficient of
   * variation σ/μ of the tokens per expert, and max/μ (Wang et al. 2024's MaxVio_batch + 1). Per
   * step, because a load that swings between experts from batch to batch sums to an even one.
   */
  stepLoadCV: number;
  stepLoadMaxOverMean: number;
  /** The training curve at up to 60 points: [step, seconds, FLOPs, training loss (moving average)]. */
  curve: [number, number, number, number][];
};

/** A moving average over a twentieth of the run: per-batch noise hides the trend. */
export function movingAverage(values: number[]): number[] {
  const window = Math.max(1, Math.round(values.length / 20));
  let sum = 0;
  return values.map((v, i) => {
    sum += v - (i >= window ? values[i - window]! : 0);
    return sum / Math.min(i + 1, window);
  });
}

/** The training loss as a moving average. */
export const smoothedLoss = (history: HistoryRow[]): number[] => movingAverage(history.map((r) => r.loss));

/** The load's coefficient of variation σ/μ over experts (0 when perfectly even) and its max/μ (1 when even). */
export function loadImbalance(load: number[]): { cv: number; maxOverMean: number } {
  const mean = load.reduce((a, b) => a + b, 0) / load.length;
  if (!(mean > 0)) return { cv: 0, maxOverMean: 1 };
  const variance = load.reduce((s, n) => s + (n - mean) ** 2, 0) / load.length;
  return { cv: Math.sqrt(variance) / mean, maxOverMean: Math.max(...load) / mean };
}

const lastQuarterMean = (history: HistoryRow[], f: (r: HistoryRow) => number): number => {
  const last = history.slice(-Math.max(1, Math.floor(history.length / 4)));
  return last.reduce((s, r) => s + f(r), 0) / last.length;
};

function curveOf(history: HistoryRow[], points = 60): RunResult['curve'] {
  const loss = smoothedLoss(history);
  const every = Math.max(1, Math.ceil(history.length / points));
  return history.flatMap((r, i) => (i % every === every - 1 || i === history.length - 1
    ? [[r.step, Number(r.seconds.toFixed(3)), r.flops, Number(loss[i]!.toFixed(5))] as [number, number, number, number]]
    : []));
}

/** results.json's runs: each trained run once per experiment that uses it, seed by seed. */
export function resultsOf(trained: Map<string, TrainedRun>, ids: readonly ExperimentId[]): RunResult[] {
  const runs = [...trained.values()];
  return ids.flatMap((experiment) => experiments[experiment].runs.flatMap((spec) => runs.filter((r) => r.spec.name === spec.name).map((run): RunResult => {
    const sw = spec.ffn.kind === 'switch' ? spec.ffn : null;
    const fields = Object.fromEntries(carried.map((k) => [k, run[k]])) as Pick<TrainedRun, (typeof carried)[number]>;
    return {
      name: spec.name, experiment, ...fields,
      numExperts: sw?.numExperts ?? 1, topK: sw?.topK ?? 1,
      capacityFactor: sw?.capacityFactor ?? null, balanceCoef: sw?.balanceCoef ?? null,
      secondsPerStep: run.wallSeconds / run.history.length,
      stepLoadCV: lastQuarterMean(run.history, (r) => loadImbalance(r.choices).cv),
      stepLoadMaxOverMean: lastQuarterMean(run.history, (r) => loadImbalance(r.choices).maxOverMean),
      curve: curveOf(run.history),
    };
  })).sort((a, b) => a.seed - b.seed));
}
