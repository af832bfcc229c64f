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

/** One trained run (a spec with a seed), listed once per experiment that uses it. */
export interface RunResult {
  name: string;
  seed: number;
  experiment: ExperimentId;
  numExperts: number;
  topK: number;
  capacityFactor: number | null;
  balanceCoef: number | null;
  params: number;
  /** Profiled forward FLOPs per token of the whole model, and of the layers in switch positions alone. */
  flopsPerToken: number;
  switchFlopsPerToken: number;
  /** Held-out cross-entropy (nats) after training. */
  finalLoss: number;
  tokensPerSecond: number;
  secondsPerStep: number;
  wallSeconds: number;
  /** Means over the last quarter of training. */
  droppedFraction: number;
  routerEntropy: number;
  /** Router choices per expert (before capacity) over the last quarter of training. */
  tokensPerExpert: number[];
  /** [group][expert]: each token group's top-1 router choices over the last quarter of training. */
  specialization: number[][];
  /** The training curve at up to 60 points: [step, seconds, FLOPs, training loss (moving average)]. */
  curve: [number, number, number, number][];
}

/** The training loss as a moving average over a twentieth of the run: per-batch noise hides the trend. */
export function smoothedLoss(history: HistoryRow[]): number[] {
  const window = Math.max(1, Math.round(history.length / 20));
  let sum = 0;
  return history.map((r, i) => {
    sum += r.loss - (i >= window ? history[i - window]!.loss : 0);
    return sum / Math.min(i + 1, window);
  });
}

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
    return {
      name: spec.name, seed: run.seed, experiment,
      numExperts: sw?.numExperts ?? 1, topK: sw?.topK ?? 1,
      capacityFactor: sw?.capacityFactor ?? null, balanceCoef: sw?.balanceCoef ?? null,
      params: run.params, flopsPerToken: run.flopsPerToken, switchFlopsPerToken: run.switchFlopsPerToken,
      finalLoss: run.finalLoss, tokensPerSecond: run.tokensPerSecond, secondsPerStep: run.wallSeconds / run.history.length,
      wallSeconds: run.wallSeconds, droppedFraction: run.droppedFraction, routerEntropy: run.routerEntropy,
      tokensPerExpert: run.tokensPerExpert, specialization: run.specialization, curve: curveOf(run.history),
    };
  })).sort((a, b) => a.seed - b.seed));
}
