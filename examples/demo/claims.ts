import { Rng } from '@switch-ts/tensor';
import type { Verdict } from '../shared/verdicts.js';
import { routingRuns } from '../routing-study/experiments.js';
import { experiments, type ExperimentId } from './experiments.js';
import { loadImbalance, type Results, type RunResult } from './results.js';

/**
 * The claims the demo checks, each judged from results.json alone: a claim "holds" when its
 * measure goes the claimed way in every seed, so that a verdict is never a seed's luck; otherwise
 * it "does not hold at this scale". A quick run checks the plumbing and judges nothing.
 */

export { verdictText, type Verdict } from '../shared/verdicts.js';
/** Infinity is a loss never reached. */
const fmt = (x: number, digits = 3): string => (Number.isFinite(x) ? x.toFixed(digits) : x === Infinity ? 'never' : String(x));

/** "mean (min–max)" over the seeds, or the one value; each seed's value, in seed order, where one is not finite. */
export function spread(values: number[], digits = 3): string {
  if (values.length === 1) return fmt(values[0]!, digits);
  if (!values.every(Number.isFinite)) return values.map((v) => fmt(v, digits)).join(' / ');
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  return `${fmt(mean, digits)} (${fmt(Math.min(...values), digits)}–${fmt(Math.max(...values), digits)})`;
}

/** Training seconds until the smoothed training loss first reaches `target`, interpolated between curve points; Infinity if never. */
export function secondsToLoss(run: RunResult, target: number): number {
  const c = run.curve;
  for (let i = 0; i < c.length; i++) {
    const [, seconds, , loss] = c[i]!;
    if (loss > target) continue;
    if (i === 0) return seconds;
    const [, s0, , l0] = c[i - 1]!;
    return s0 + ((seconds - s0) * (l0 - target)) / (l0 - loss);
  }
  return Infinity;
}

const finalTrainingLoss = (run: RunResult): number => run.curve[run.curve.length - 1]![3];
const total = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);
export const busiestShare = (r: RunResult): number => Math.max(...r.tokensPerExpert) / Math.max(1, total(r.tokensPerExpert));

/** Coefficient of variation (σ/μ) of the router's choices per expert over the last quarter: 0 when perfectly even. */
export const loadCV = (r: RunResult): number => loadImbalance(r.tokensPerExpert).cv;

/** Each column's sum of a [group][expert] table: the experts' loads. */
const columnTotals = (counts: number[][]): number[] => counts[0]!.map((_, e) => total(counts.map((row) => row[e]!)));

const entropy = (counts: number[]): number => {
  const n = total(counts);
  return -total(counts.map((c) => (c > 0 ? (c / n) * Math.log(c / n) : 0)));
};

/**
 * Normalised mutual information between a token's group and its expert, 2·I(G;E) / (H(G) + H(E))
 * (scikit-learn's default normalisation): 0 when the expert says nothing about the group, 1 when
 * each group has its own experts.
 */
export function nmi(counts: number[][]): number {
  const rows = counts.map(total), columns = columnTotals(counts);
  const joint = entropy(counts.flat());
  const hg = entropy(rows), he = entropy(columns);
  return hg + he > 0 ? (2 * (hg + he - joint)) / (hg + he) : 0;
}

/**
 * The largest NMI of `draws` random routers with the run's own loads: each token goes to expert e
 * with probability load_e / N, whatever its group. A finite sample has some NMI by chance; an
 * NMI above every draw is specialisation, not chance.
 */
export function randomRouterNMI(counts: number[][], draws = 20, seed = 0): number {
  const rng = new Rng(seed);
  const columns = columnTotals(counts);
  const n = total(columns);
  const cumulative = columns.map((_, e) => total(columns.slice(0, e + 1)) / n);
  let best = 0;
  for (let d = 0; d < draws; d++) {
    const sample = counts.map((row) => {
      const out = new Array<number>(columns.length).fill(0);
      for (let t = total(row); t > 0; t--) {
        const u = rng.next();
        let e = 0;
        while (e < columns.length - 1 && u >= cumulative[e]!) e++;
        out[e]!++;
      }
      return out;
    });
    best = Math.max(best, nmi(sample));
  }
  return best;
}

/** The runs of `experiment` as one map per seed, name → run, for the seeds where all of its runs finished. */
function perSeed(results: Results, experiment: ExperimentId): Map<string, RunResult>[] {
  const all = results.runs.filter((r) => r.experiment === experiment);
  return results.settings.seeds.flatMap((seed) => {
    const runs = new Map(all.filter((r) => r.seed === seed).map((r) => [r.name, r]));
    return experiments[experiment].runs.every((spec) => runs.has(spec.name)) ? [runs] : [];
  });
}

interface ClaimCheck {
  experiment: ExperimentId;
  claim: string;
  measure: string;
  /** The numbers shown, from every seed's runs (and the settings every run shared). */
  value: (seeds: Map<string, RunResult>[], settings: Results['settings']) => string;
  /** Whether the claim goes the claimed way in one seed. */
  holdsIn: (runs: Map<string, RunResult>, settings: Results['settings']) => boolean;
}

const over = (seeds: Map<string, RunResult>[], name: string, f: (r: RunResult) => number, digits = 3): string => spread(seeds.map((s) => f(s.get(name)!)), digits);
/** The runs' names, once each, in increasing order of `key` (a setting the experiment varies). */
const namesBy = (key: (r: RunResult) => number) => (runs: RunResult[]): string[] =>
  [...new Map(runs.map((r) => [r.name, key(r)]))].sort(([, a], [, b]) => a - b).map(([name]) => name);
const capacityOrder = namesBy((r) => r.capacityFactor!);
const byTopK = namesBy((r) => r.topK);
/** A loss every run of the seed reaches: the highest of their final training losses. */
const commonTarget = (runs: RunResult[]): number => Math.max(...runs.map(finalTrainingLoss));

const checks: ClaimCheck[] = [
  {
    experiment: 'scaling',
    claim: 'More experts at equal FLOPs per token lower the loss.',
    measure: 'held-out loss after the same steps, dense vs the Switch runs with E ≥ 8, whose forward FLOPs per token are within 10 % of dense',
    value: (seeds) => [...seeds[0]!.keys()].filter((n) => n === 'dense' || seeds[0]!.get(n)!.numExperts >= 8).map((n) => `${n} ${over(seeds, n, (r) => r.finalLoss)}`).join('; '),
    holdsIn: (runs) => {
      const dense = runs.get('dense')!;
      return [...runs.values()].filter((r) => r.numExperts >= 8)
        .every((r) => r.finalLoss < dense.finalLoss && Math.abs(r.flopsPerToken / dense.flopsPerToken - 1) <= 0.1);
    },
  },
  {
    experiment: 'scaling',
    claim: 'More experts reach the dense model\'s loss sooner in wall time.',
    measure: 'training seconds until the moving-average training loss reaches the dense run\'s final one: dense vs switch-e8',
    value: (seeds) => ['dense', 'switch-e8'].map((n) => `${n} ${spread(seeds.map((s) => secondsToLoss(s.get(n)!, finalTrainingLoss(s.get('dense')!))), 1)} s`).join('; '),
    holdsIn: (runs) => {
      const target = finalTrainingLoss(runs.get('dense')!);
      return secondsToLoss(runs.get('switch-e8')!, target) < secondsToLoss(runs.get('dense')!, target);
    },
  },
  {
    experiment: 'topk',
    claim: 'Top-1 routing costs about a quarter of the expert compute of sending each token to all 4 experts.',
    measure: 'profiled forward FLOPs per token of the switch layers, top-1 ÷ top-4 (E = 4, capacity factor 1); "about a quarter" is 0.20–0.30',
    value: (seeds) => {
      const [top1, , top4] = byTopK([...seeds[0]!.values()]);
      return `${spread(seeds.map((s) => s.get(top1!)!.switchFlopsPerToken / s.get(top4!)!.switchFlopsPerToken))}`;
    },
    holdsIn: (runs) => {
      const names = byTopK([...runs.values()]);
      const ratio = runs.get(names[0]!)!.switchFlopsPerToken / runs.get(names[names.length - 1]!)!.switchFlopsPerToken;
      return ratio >= 0.2 && ratio <= 0.3;
    },
  },
  {
    experiment: 'topk',
    claim: 'Top-1 reaches a given loss sooner in wall time than top-2 and top-4.',
    measure: 'training seconds until the moving-average training loss reaches the highest final training loss of the three runs (a loss all of them reach)',
    value: (seeds) => byTopK([...seeds[0]!.values()]).map((n) => `${n} ${spread(seeds.map((s) => secondsToLoss(s.get(n)!, commonTarget([...s.values()]))), 1)} s`).join('; '),
    holdsIn: (runs) => {
      const target = commonTarget([...runs.values()]);
      const [top1, ...others] = byTopK([...runs.values()]).map((n) => secondsToLoss(runs.get(n)!, target));
      return others.every((t) => top1! < t);
    },
  },
  {
    experiment: 'capacity',
    claim: 'The capacity factor trades dropped tokens against time per step.',
    measure: 'dropped fraction (last quarter of training) falls and seconds per step rise from the smallest capacity factor to the largest',
    value: (seeds) => capacityOrder([...seeds[0]!.values()]).map((n) =>
      `cf ${seeds[0]!.get(n)!.capacityFactor}: dropped ${over(seeds, n, (r) => r.droppedFraction)}, ${over(seeds, n, (r) => 1000 * r.secondsPerStep, 0)} ms/step`).join('; '),
    holdsIn: (runs) => {
      const ordered = capacityOrder([...runs.values()]).map((n) => runs.get(n)!);
      const first = ordered[0]!, last = ordered[ordered.length - 1]!;
      const dropsFall = ordered.every((r, i) => i === 0 || r.droppedFraction <= ordered[i - 1]!.droppedFraction) && last.droppedFraction < first.droppedFraction;
      return dropsFall && last.secondsPerStep > first.secondsPerStep;
    },
  },
  {
    experiment: 'balance',
    claim: 'Without the balancing loss (α = 0) the router\'s load concentrates on fewer experts.',
    measure: 'busiest expert\'s share of the router\'s choices and the load\'s coefficient of variation over the last quarter of training, both higher at α = 0 than at α = 0.01',
    value: (seeds) => [...seeds[0]!.values()].map((r) =>
      `α = ${r.balanceCoef}: busiest share ${over(seeds, r.name, busiestShare)}, load CV ${over(seeds, r.name, loadCV, 2)}, router entropy ${over(seeds, r.name, (x) => x.routerEntropy, 2)} nats`).join('; '),
    holdsIn: (runs) => {
      const all = [...runs.values()];
      const off = all.find((r) => r.balanceCoef === 0)!, on = all.find((r) => r.balanceCoef !== 0)!;
      return busiestShare(off) > busiestShare(on) && loadCV(off) > loadCV(on);
    },
  },
  {
    experiment: 'specialization',
    claim: 'Experts specialise: a token\'s sub-language tells which expert it goes to.',
    measure: 'normalised mutual information between sub-language and expert (last quarter of training), against the largest of 20 random routers with the same loads',
    value: (seeds) => {
      const name = [...seeds[0]!.keys()][0]!;
      return `${name}: NMI ${over(seeds, name, (r) => nmi(r.specialization))}; random router ${over(seeds, name, (r) => randomRouterNMI(r.specialization))}`;
    },
    holdsIn: (runs) => {
      const run = [...runs.values()][0]!;
      return nmi(run.specialization) > randomRouterNMI(run.specialization);
    },
  },
  ...routingChecks(),
];

/**
 * The routing study's claims (issue 16; runs in examples/routing-study/experiments.ts). Expert
 * choice's held-out loss enters none: its routing sees the later tokens of a sequence.
 */
function routingChecks(): ClaimCheck[] {
  const experiment = 'routing';
  const cv = (seeds: Map<string, RunResult>[], ...names: string[]): string => names.map((n) =>
    `${n}: load CV ${over(seeds, n, (r) => r.stepLoadCV)}, max/mean ${over(seeds, n, (r) => r.stepLoadMaxOverMean, 2)}`).join('; ');
  const loss = (seeds: Map<string, RunResult>[], ...names: string[]): string => names.map((n) => `${n} ${over(seeds, n, (r) => r.finalLoss)}`).join('; ');
  /** Switch-layer FLOPs per token at capacity factor 2 in units of one dense FFN's two matmuls, 2·2·d_model·d_ff per token. */
  const ffns = (r: RunResult, { model }: Results['settings']): number => r.evalSwitchFlopsPerToken / (4 * model.dModel * model.dFF);
  return [
    // One verdict per loss-free run of the study: the paper's γ and one tuned to the demo's run length.
    ...routingRuns.filter((r) => r.updateBias).map((run): ClaimCheck => ({
      experiment,
      claim: `Loss-free balancing (a bias on the selection, no loss) at γ = ${run.layer.biasUpdateRate} keeps the load at least as even as the auxiliary loss.`,
      measure: `each step's coefficient of variation of the tokens per expert (router choices, before capacity), averaged over the last quarter of training: ${run.name} ≤ switch-aux (max/mean shown too)`,
      value: (seeds) => cv(seeds, run.name, 'switch-aux'),
      holdsIn: (runs) => runs.get(run.name)!.stepLoadCV <= runs.get('switch-aux')!.stepLoadCV,
    })),
    {
      experiment,
      claim: 'Expert choice balances the load perfectly without any balancing loss: every expert takes the same number of tokens.',
      measure: 'each step\'s coefficient of variation of the tokens each expert picks, averaged over the last quarter of training, below 0.01 (the fraction of tokens no expert picked shown too)',
      value: (seeds) => `${cv(seeds, 'expert-choice')}; tokens no expert picked ${over(seeds, 'expert-choice', (r) => r.droppedFraction)}`,
      holdsIn: (runs) => runs.get('expert-choice')!.stepLoadCV < 0.01,
    },
    {
      experiment,
      claim: 'Fine-grained experts (m = 4) with a shared expert reach a lower held-out loss than Switch at equal FLOPs per token.',
      measure: 'held-out loss after the same steps, fine-grained-shared < switch-aux, with forward FLOPs per token of the model within 10 % of each other',
      value: (seeds) => `${loss(seeds, 'fine-grained-shared', 'switch-aux')}; FLOPs per token ratio ${over(seeds, 'fine-grained-shared', (r) => r.flopsPerToken / seeds[0]!.get('switch-aux')!.flopsPerToken)}`,
      holdsIn: (runs) => {
        const fine = runs.get('fine-grained-shared')!, base = runs.get('switch-aux')!;
        return fine.finalLoss < base.finalLoss && Math.abs(fine.flopsPerToken / base.flopsPerToken - 1) <= 0.1;
      },
    },
    {
      experiment,
      claim: 'A balance loss counted over the global batch reaches a lower held-out loss than one counted per sequence.',
      measure: 'held-out loss after the same steps, both with one routing group per sequence: global-batch < switch-aux-seq (their load CV shown too)',
      value: (seeds) => `${loss(seeds, 'global-batch', 'switch-aux-seq')}; ${cv(seeds, 'global-batch', 'switch-aux-seq')}`,
      holdsIn: (runs) => runs.get('global-batch')!.finalLoss < runs.get('switch-aux-seq')!.finalLoss,
    },
    {
      experiment,
      claim: 'At capacity factor 2, padding-free experts compute 1 FFN per token they process where padded ones compute 2 FFNs per token.',
      measure: 'profiled forward FLOPs of the switch layers in eval mode (capacity factor 2), in units of one dense FFN (2·2·d_model·d_ff): dropless (padding-free) per token it kept, within 0.9–1.1; switch-aux (padded) per token, within 1.8–2.2',
      value: (seeds, settings) => `dropless ${over(seeds, 'dropless', (r) => ffns(r, settings) / (1 - r.evalDroppedFraction))} FFN per kept token (${over(seeds, 'dropless', (r) => r.evalDroppedFraction)} dropped at capacity factor 2); ` +
        `switch-aux ${over(seeds, 'switch-aux', (r) => ffns(r, settings))} FFN per token`,
      holdsIn: (runs, settings) => {
        const free = runs.get('dropless')!, padded = ffns(runs.get('switch-aux')!, settings);
        const perKept = ffns(free, settings) / (1 - free.evalDroppedFraction);
        return perKept >= 0.9 && perKept <= 1.1 && padded >= 1.8 && padded <= 2.2;
      },
    },
    {
      experiment,
      claim: 'Dropless routing drops no token.',
      measure: 'fraction of tokens no expert processed, last quarter of training: 0 for dropless (switch-aux at capacity factor 1.25 shown too)',
      value: (seeds) => ['dropless', 'switch-aux'].map((n) => `${n} ${over(seeds, n, (r) => r.droppedFraction)}`).join('; '),
      holdsIn: (runs) => runs.get('dropless')!.droppedFraction === 0,
    },
  ];
}

/** Every claim whose experiment finished all its runs in at least one seed, judged over those seeds. */
export function judge(results: Results): Verdict[] {
  return checks.flatMap((c): Verdict[] => {
    const seeds = perSeed(results, c.experiment);
    if (seeds.length === 0) return [];
    return [{
      experiment: c.experiment, claim: c.claim, measure: c.measure, value: c.value(seeds, results.settings),
      holds: results.settings.quick ? null : seeds.every((runs) => c.holdsIn(runs, results.settings)),
    }];
  });
}
