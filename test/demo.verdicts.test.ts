import { describe, expect, it } from 'vitest';
import { judge, loadCV, nmi, randomRouterNMI, secondsToLoss, spread, verdictText } from '../examples/demo/claims.js';
import { experiments, type ExperimentId } from '../examples/demo/experiments.js';
import type { Results, RunResult } from '../examples/demo/results.js';

/**
 * The verdicts are computed from results.json alone. These results are made up: each claim is
 * given numbers that go its way in every seed, then numbers that contradict it in one seed,
 * and the verdict must follow the numbers, whatever the claim sentence says.
 */

/** A run whose loss falls linearly from 4 to `final` over `seconds`, with an even load. */
function run(name: string, experiment: ExperimentId, seed: number, over: Partial<RunResult> & { final?: number; seconds?: number } = {}): RunResult {
  const spec = experiments[experiment].runs.find((r) => r.name === name)!;
  const sw = spec.ffn.kind === 'switch' ? spec.ffn : null;
  const { final = 3, seconds = 10, ...fields } = over;
  const E = sw?.numExperts ?? 1;
  return {
    name, seed, experiment, numExperts: E, topK: sw?.topK ?? 1, capacityFactor: sw?.capacityFactor ?? null, balanceCoef: sw?.balanceCoef ?? null,
    params: 1000 * E, flopsPerToken: 1e6, switchFlopsPerToken: 3e5 * (sw?.topK ?? 1), evalSwitchFlopsPerToken: 6e5 * (sw?.topK ?? 1), evalDroppedFraction: 0,
    finalLoss: final, tokensPerSecond: 1000, secondsPerStep: seconds / 100, wallSeconds: seconds, droppedFraction: 0, routerEntropy: Math.log(E),
    tokensPerExpert: new Array<number>(E).fill(100), stepLoadCV: 0.1, stepLoadMaxOverMean: 1.2,
    specialization: Array.from({ length: 4 }, () => new Array<number>(E).fill(25)),
    curve: Array.from({ length: 11 }, (_, i) => [10 * i, (seconds * i) / 10, 1e8 * i, 4 - ((4 - final) * i) / 10] as [number, number, number, number]),
    ...fields,
  };
}

function results(runs: RunResult[], seeds = [0, 1, 2], quick = false): Results {
  return {
    version: 2,
    machine: { cpu: 'test', cores: 2, node: 'v20', platform: 'linux', arch: 'x64', backend: 'cpu' },
    settings: { model: { dModel: 8, numHeads: 1, numLayers: 2, dFF: 8, seqLen: 4 }, batchSize: 1, steps: 100, lr: 0.01, seed: 0, evalBatches: 1, seeds, quick, data: 'test', pending: [] },
    runs,
  };
}

const verdict = (r: Results, claim: RegExp) => {
  const found = judge(r).find((v) => claim.test(v.claim));
  if (!found) throw new Error(`no verdict for ${claim}`);
  return found;
};

/** The same runs in seeds 0–2, with `change` applied to seed 1's. */
function seeds(make: (seed: number) => RunResult[], change?: (r: RunResult) => RunResult): RunResult[] {
  return [0, 1, 2].flatMap((seed) => make(seed).map((r) => (seed === 1 && change ? change(r) : r)));
}

describe('demo verdicts follow the numbers in results.json', () => {
  const scaling = (seed: number): RunResult[] => [
    run('dense', 'scaling', seed, { final: 3.2, seconds: 10 }),
    ...[4, 8, 16].map((e) => run(`switch-e${e}`, 'scaling', seed, { final: 3.2 - 0.05 * Math.log2(e), seconds: 11 })),
  ];

  it('more experts: holds when every seed has E ≥ 8 below dense, does not hold when one seed has E = 16 above it', () => {
    expect(verdict(results(seeds(scaling)), /More experts at equal FLOPs/).holds).toBe(true);
    const worse = seeds(scaling, (r) => (r.name === 'switch-e16' ? { ...r, finalLoss: 3.3 } : r));
    const v = verdict(results(worse), /More experts at equal FLOPs/);
    expect(v.holds).toBe(false);
    expect(verdictText(v)).toBe('does not hold at this scale');
  });

  it('more experts: does not hold when the FLOPs per token are more than 10 % above dense', () => {
    const costly = seeds(scaling, (r) => (r.name === 'switch-e8' ? { ...r, flopsPerToken: 1.2e6 } : r));
    expect(verdict(results(costly), /More experts at equal FLOPs/).holds).toBe(false);
  });

  it('wall time: switch-e8 reaching dense\'s final loss later than dense does not hold', () => {
    expect(verdict(results(seeds(scaling)), /sooner in wall time\.$/).holds).toBe(true);
    const slow = seeds(scaling, (r) => (r.name === 'switch-e8' ? run('switch-e8', 'scaling', 1, { final: 3.15, seconds: 40 }) : r));
    expect(verdict(results(slow), /dense model's loss sooner/).holds).toBe(false);
  });

  const topk = (seed: number): RunResult[] => [
    run('e4-cf1', 'topk', seed, { final: 3.1, seconds: 10 }),
    run('e4-top2', 'topk', seed, { final: 3.0, seconds: 14 }),
    run('e4-top4', 'topk', seed, { final: 2.9, seconds: 20 }),
  ];

  it('top-k FLOPs: a ratio of 0.25 holds, 0.5 does not', () => {
    expect(verdict(results(seeds(topk)), /quarter of the expert compute/).holds).toBe(true);
    const half = seeds(topk, (r) => (r.name === 'e4-cf1' ? { ...r, switchFlopsPerToken: 6e5 } : r));
    expect(verdict(results(half), /quarter of the expert compute/).holds).toBe(false);
  });

  it('top-k wall time: top-1 reaching the common loss after top-4 does not hold', () => {
    expect(verdict(results(seeds(topk)), /Top-1 reaches a given loss sooner/).holds).toBe(true);
    const slowTop1 = seeds(topk, (r) => (r.name === 'e4-cf1' ? run('e4-cf1', 'topk', 1, { final: 3.1, seconds: 60 }) : r));
    expect(verdict(results(slowTop1), /Top-1 reaches a given loss sooner/).holds).toBe(false);
  });

  const capacity = (seed: number): RunResult[] => [
    run('e4-cf0.5', 'capacity', seed, { droppedFraction: 0.4, secondsPerStep: 0.1 }),
    run('e4-cf1', 'capacity', seed, { droppedFraction: 0.1, secondsPerStep: 0.11 }),
    run('switch-e4', 'capacity', seed, { droppedFraction: 0.05, secondsPerStep: 0.12 }),
    run('e4-cf2', 'capacity', seed, { droppedFraction: 0, secondsPerStep: 0.15 }),
  ];

  it('capacity: holds when drops fall and step time rises; not when cf 2 is the fastest (the first report\'s numbers)', () => {
    expect(verdict(results(seeds(capacity)), /capacity factor trades/).holds).toBe(true);
    const fastCf2 = seeds(capacity, (r) => (r.name === 'e4-cf2' ? { ...r, secondsPerStep: 0.09 } : r));
    expect(verdict(results(fastCf2), /capacity factor trades/).holds).toBe(false);
  });

  const balance = (share: number) => (seed: number): RunResult[] => [
    run('switch-e8', 'balance', seed, { tokensPerExpert: [110, 100, 100, 100, 100, 100, 100, 90] }),
    run('e8-alpha0', 'balance', seed, { tokensPerExpert: [share, ...new Array<number>(7).fill((800 - share) / 7)] }),
  ];

  it('balance: α = 0 with a busier top expert holds; the first report\'s seed-1 numbers (0.192 vs 0.204) do not', () => {
    expect(verdict(results(seeds(balance(400))), /Without the balancing loss/).holds).toBe(true);
    const contradicted = seeds(balance(400), (r) => (r.name === 'e8-alpha0'
      ? { ...r, tokensPerExpert: [192, 116, 116, 116, 115, 115, 115, 15] }
      : { ...r, tokensPerExpert: [204, 86, 86, 85, 85, 85, 85, 84] }));
    expect(verdict(results(contradicted), /Without the balancing loss/).holds).toBe(false);
  });

  const specialization = (counts: number[][]) => (seed: number): RunResult[] => [run('switch-e8', 'specialization', seed, { specialization: counts })];
  const diagonal = Array.from({ length: 8 }, (_, g) => Array.from({ length: 8 }, (_, e) => (e === g ? 300 : 5)));
  const even = Array.from({ length: 8 }, () => new Array<number>(8).fill(40));

  it('specialization: a diagonal table beats random routers; an even one does not', () => {
    expect(verdict(results(seeds(specialization(diagonal))), /Experts specialise/).holds).toBe(true);
    const oneEven = seeds(specialization(diagonal), (r) => ({ ...r, specialization: even }));
    expect(verdict(results(oneEven), /Experts specialise/).holds).toBe(false);
  });

  /**
   * The routing study's runs with numbers that go each claim's way: d_model 8 and d_ff 8 (the
   * settings above) make one dense FFN 2·2·8·8 = 256 FLOPs per token.
   */
  const ffn = 4 * 8 * 8;
  const routing = (seed: number): RunResult[] => [
    run('switch-aux', 'routing', seed, { final: 3.0, stepLoadCV: 0.3, droppedFraction: 0.05, evalSwitchFlopsPerToken: 2.02 * ffn }),
    run('loss-free', 'routing', seed, { final: 2.99, stepLoadCV: 0.2 }),
    run('loss-free-g0.01', 'routing', seed, { final: 2.98, stepLoadCV: 0.3 }),
    run('expert-choice', 'routing', seed, { final: 2.5, stepLoadCV: 0, stepLoadMaxOverMean: 1, droppedFraction: 0.3 }),
    run('fine-grained-shared', 'routing', seed, { final: 2.9, flopsPerToken: 1.02e6, stepLoadCV: 0.4 }),
    run('switch-aux-seq', 'routing', seed, { final: 3.05, stepLoadCV: 0.5 }),
    run('global-batch', 'routing', seed, { final: 3.0, stepLoadCV: 0.6 }),
    run('dropless', 'routing', seed, { final: 3.0, droppedFraction: 0, evalDroppedFraction: 0.2, evalSwitchFlopsPerToken: 0.8 * 1.01 * ffn }),
  ];
  /** Seed 1's `name` run with `change` applied: one seed against the claim. */
  const contradict = (name: string, change: Partial<RunResult>): RunResult[] => seeds(routing, (r) => (r.name === name ? { ...r, ...change } : r));

  const routingCases: [string, RegExp, RunResult[]][] = [
    ['loss-free: a load CV above the aux loss\'s', /Loss-free balancing .* at γ = 0.001 /, contradict('loss-free', { stepLoadCV: 0.31 })],
    ['loss-free at γ = 0.01: a load CV above the aux loss\'s', /Loss-free balancing .* at γ = 0.01 /, contradict('loss-free-g0.01', { stepLoadCV: 0.31 })],
    ['expert choice: a load CV of 0.05', /Expert choice balances/, contradict('expert-choice', { stepLoadCV: 0.05 })],
    ['fine-grained: a held-out loss above Switch\'s', /Fine-grained experts/, contradict('fine-grained-shared', { finalLoss: 3.01 })],
    ['fine-grained: a lower loss bought with 20 % more FLOPs per token', /Fine-grained experts/, contradict('fine-grained-shared', { flopsPerToken: 1.2e6 })],
    ['global batch: a held-out loss above per-sequence balance\'s', /global batch/, contradict('global-batch', { finalLoss: 3.06 })],
    ['padding-free: 2 FFNs per kept token (padded, in effect)', /padding-free experts compute/, contradict('dropless', { evalSwitchFlopsPerToken: 0.8 * 2 * ffn })],
    ['padding-free: the padded run at 1.25 FFNs, not 2', /padding-free experts compute/, contradict('switch-aux', { evalSwitchFlopsPerToken: 1.25 * ffn })],
    ['dropless: one token in a thousand dropped', /Dropless routing drops no token/, contradict('dropless', { droppedFraction: 0.001 })],
  ];

  it('routing study: every claim holds when every seed goes its way', () => {
    const verdicts = judge(results(seeds(routing))).filter((v) => v.experiment === 'routing');
    expect(verdicts).toHaveLength(7);
    expect(verdicts.filter((v) => v.holds !== true).map((v) => `${v.claim}: ${v.value}`)).toEqual([]);
  });

  it.each(routingCases)('routing study, one seed against the claim does not hold: %s', (_name, claim, runs) => {
    const v = verdict(results(runs), claim);
    expect(v.holds).toBe(false);
    expect(verdictText(v)).toBe('does not hold at this scale');
  });

  it('routing study: the padding-free numbers are FFNs per kept token and per token, as the measure says', () => {
    expect(verdict(results(seeds(routing)), /padding-free experts compute/).value)
      .toBe('dropless 1.010 (1.010–1.010) FFN per kept token (0.200 (0.200–0.200) dropped at capacity factor 2); switch-aux 2.020 (2.020–2.020) FFN per token');
  });

  it('routing study: a quick run judges none, and a seed without expert choice judges nothing', () => {
    expect(judge(results(seeds(routing), [0, 1, 2], true)).map((v) => v.holds)).toEqual(new Array(7).fill(null));
    expect(judge(results(seeds(routing).filter((r) => r.name !== 'expert-choice')))).toEqual([]);
  });

  it('a quick run judges nothing, and a claim whose experiment has no complete seed is not shown', () => {
    const quick = judge(results(seeds(topk), [0, 1, 2], true));
    expect(quick.map((v) => v.holds)).toEqual([null, null]);
    expect(quick.map(verdictText)).toEqual(['not judged (quick run)', 'not judged (quick run)']);
    expect(judge(results(seeds(topk).filter((r) => r.name !== 'e4-top4')))).toEqual([]);
  });
});

describe('the measures', () => {
  it('NMI is 1 for a one-to-one table and 0 for independent rows', () => {
    expect(nmi([[10, 0], [0, 10]])).toBeCloseTo(1, 12);
    expect(nmi([[10, 30], [5, 15]])).toBeCloseTo(0, 12);
  });

  it('random routers with the same loads stay near 0 for a large sample, and are seeded', () => {
    const table = Array.from({ length: 4 }, () => [500, 300, 200]);
    expect(randomRouterNMI(table)).toBeLessThan(0.01);
    expect(randomRouterNMI(table, 5, 7)).toBe(randomRouterNMI(table, 5, 7));
  });

  it('load CV is 0 for an even load and σ/μ otherwise', () => {
    expect(loadCV(run('switch-e8', 'balance', 0))).toBe(0);
    expect(loadCV(run('switch-e8', 'balance', 0, { tokensPerExpert: [2, 0] }))).toBeCloseTo(1, 12);
  });

  it('seconds to a loss interpolate between curve points, and are Infinity for a loss never reached', () => {
    const r = run('dense', 'scaling', 0, { final: 3, seconds: 10 });
    expect(secondsToLoss(r, 3.5)).toBeCloseTo(5, 12);
    expect(secondsToLoss(r, 2.9)).toBe(Infinity);
  });

  it('the spread over seeds is mean (min–max), or each seed\'s value where one never reached the loss', () => {
    expect(spread([1, 2, 6], 1)).toBe('3.0 (1.0–6.0)');
    expect(spread([1, Infinity, 2], 1)).toBe('1.0 / never / 2.0');
  });
});
