import { join } from 'node:path';
import { barChart, heatmap, lineChart, type Line } from '../shared/charts.js';
import { escape, pageHead, table } from '../shared/html.js';
import { verdictBlock, verdictStyle, verdictTable } from '../shared/verdicts.js';
import { busiestShare, judge, loadCV, nmi, randomRouterNMI, spread } from './claims.js';
import { experimentIds, experiments, type ExperimentId } from './experiments.js';
import { loadImbalance, movingAverage, smoothedLoss, type Results, type RunResult } from './results.js';
import { routingBase, routingRuns } from '../routing-study/experiments.js';
import { writeFileAtomic } from './store.js';
import { runId, type HistoryRow, type TrainedRun } from './train.js';

export { resultsOf, type Results, type RunResult } from './results.js';

function csvOf(history: HistoryRow[]): string {
  const experts = history[0]?.choices.length ?? 0;
  const header = ['step', 'tokens', 'seconds', 'flops', 'loss', 'aux_loss', 'dropped_fraction', 'router_entropy', ...Array.from({ length: experts }, (_, e) => `choices_e${e}`)];
  const rows = history.map((r) => [r.step, r.tokens, r.seconds.toFixed(3), r.flops, r.loss.toFixed(5), r.auxLoss.toFixed(5), r.droppedFraction.toFixed(4), r.routerEntropy.toFixed(4), ...r.choices]);
  return [header, ...rows].map((r) => r.join(',')).join('\n') + '\n';
}

/** Writes DIR/results.json, DIR/runs/NAME-sSEED.csv and DIR/index.html, each file whole or not at all. */
export function writeReport(dir: string, results: Results, trained: Map<string, TrainedRun>): void {
  writeFileAtomic(join(dir, 'results.json'), JSON.stringify(results, null, 1) + '\n');
  for (const [name, run] of trained) writeFileAtomic(join(dir, 'runs', `${name}.csv`), csvOf(run.history));
  const html = page(results, trained);
  writeFileAtomic(join(dir, 'index.html'), html);
  // Each section's first chart also as a file, for pages that cannot inline SVG (the README).
  for (const [, id, svg] of html.matchAll(/<section id="(\w+)">.*?(<svg[\s\S]*?<\/svg>)/g)) writeFileAtomic(join(dir, `${id}.svg`), svg!);
}

// ---------- the page ----------

const fmt = (x: number, digits = 3): string => (Number.isFinite(x) ? x.toFixed(digits) : String(x));
const int = (x: number): string => Math.round(x).toLocaleString('en-US');

/** A run's seeds, as results and as trained histories. */
interface Seeds { name: string; runs: RunResult[]; histories: HistoryRow[][] }

function seedsOf(runs: RunResult[], trained: Map<string, TrainedRun>): Seeds[] {
  const names = [...new Set(runs.map((r) => r.name))];
  return names.map((name) => {
    const mine = runs.filter((r) => r.name === name);
    return { name, runs: mine, histories: mine.map((r) => trained.get(runId(name, r.seed))!.history) };
  });
}

const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;

/**
 * A line per run: the mean over seeds of `y` at each step against the mean of `x`, with the
 * min–max band over seeds; at most ~150 points, so that the page stays light.
 */
function seedLines(seeds: Seeds[], x: (r: HistoryRow) => number, y: (h: HistoryRow[]) => number[]): Line[] {
  return seeds.map(({ name, histories }) => {
    const steps = Math.min(...histories.map((h) => h.length));
    const ys = histories.map(y);
    const every = Math.max(1, Math.ceil(steps / 150));
    const at = Array.from({ length: steps }, (_, i) => i).filter((i) => i % every === every - 1 || i === steps - 1);
    const points = at.map((i): [number, number] => [mean(histories.map((h) => x(h[i]!))), mean(ys.map((v) => v[i]!))]);
    if (histories.length === 1) return { name, points };
    return { name, points, band: { lower: at.map((i) => Math.min(...ys.map((v) => v[i]!))), upper: at.map((i) => Math.max(...ys.map((v) => v[i]!))) } };
  });
}

const lossLines = (seeds: Seeds[], x: (r: HistoryRow) => number): Line[] => seedLines(seeds, x, smoothedLoss);
const over = (s: Seeds, f: (r: RunResult) => number, digits = 3): string => spread(s.runs.map(f), digits);
const bandNote = (seeds: Seeds[]): string => (seeds[0]!.runs.length > 1 ? `; line: mean over ${seeds[0]!.runs.length} seeds, band: min–max` : '');

const step: (r: HistoryRow) => number = (r) => r.step;
const lossAxis = { name: 'training loss, moving average (nats)' };

type Section = (seeds: Seeds[]) => string;

const sections: Record<ExperimentId, Section> = {
  scaling: (seeds) => {
    const dense = seeds.find((s) => s.name === 'dense');
    return lineChart({ title: `Training loss against steps${bandNote(seeds)}`, x: { name: 'step' }, y: lossAxis, lines: lossLines(seeds, step) }) +
      lineChart({ title: 'Training loss against training wall time', x: { name: 'training seconds' }, y: lossAxis, lines: lossLines(seeds, (h) => h.seconds) }) +
      table(['run', 'experts', 'parameters', 'forward FLOPs / token', 'vs dense', 'held-out loss (nats)', 'tokens / s'], seeds.map((s) => {
        const r = s.runs[0]!;
        return [s.name, r.numExperts, int(r.params), int(r.flopsPerToken), dense ? `${fmt(r.flopsPerToken / dense.runs[0]!.flopsPerToken)}×` : '—', over(s, (x) => x.finalLoss), over(s, (x) => x.tokensPerSecond, 0)];
      }));
  },
  topk: (seeds) =>
    lineChart({ title: `Training loss against training wall time${bandNote(seeds)}`, x: { name: 'training seconds' }, y: lossAxis, lines: lossLines(seeds, (h) => h.seconds) }) +
    lineChart({ title: 'Training loss against training FLOPs (forward, backward and optimizer)', x: { name: 'training FLOPs', si: true }, y: lossAxis, lines: lossLines(seeds, (h) => h.flops) }) +
    table(['run', 'top-k', 'forward FLOPs / token (model)', 'forward FLOPs / token (switch layers)', 'held-out loss (nats)', 'ms / step'], seeds.map((s) => {
      const r = s.runs[0]!;
      return [s.name, r.topK, int(r.flopsPerToken), int(r.switchFlopsPerToken), over(s, (x) => x.finalLoss), over(s, (x) => 1000 * x.secondsPerStep, 0)];
    })),
  balance: (seeds) =>
    seeds.map((s) => {
      const { columns, values } = choiceShares(s.histories[0]!);
      return heatmap({
        title: `${s.name} (α = ${s.runs[0]!.balanceCoef}), seed ${s.runs[0]!.seed}: each expert's share of the choices`,
        columns, rows: values.map((_, e) => `expert ${e}`), x: 'step', y: '', values, uniform: 1 / values.length,
      });
    }).join('') +
    lineChart({
      title: `Router entropy (ln E = uniform)${bandNote(seeds)}`, x: { name: 'step' }, y: { name: 'router entropy (nats)' },
      lines: seedLines(seeds, step, (h) => h.map((r) => r.routerEntropy)),
    }) +
    table(['run', 'α', 'busiest expert\'s share', 'load CV', 'router entropy (nats)', 'dropped fraction', 'held-out loss (nats)'], seeds.map((s) => [
      s.name, s.runs[0]!.balanceCoef ?? '—', over(s, busiestShare), over(s, loadCV, 2), over(s, (r) => r.routerEntropy, 2), over(s, (r) => r.droppedFraction), over(s, (r) => r.finalLoss),
    ])),
  capacity: (seeds) =>
    barChart({
      title: `Dropped tokens and time per step${seeds[0]!.runs.length > 1 ? ' (means over seeds)' : ''}`,
      categories: seeds.map((s) => `capacity factor ${s.runs[0]!.capacityFactor}`),
      y: [{ name: 'dropped fraction of tokens' }, { name: 'milliseconds per training step' }],
      bars: [
        { name: 'dropped fraction', digits: 3, values: seeds.map((s) => mean(s.runs.map((r) => r.droppedFraction))) },
        { name: 'ms per step', axis: 1, digits: 0, values: seeds.map((s) => mean(s.runs.map((r) => 1000 * r.secondsPerStep))) },
      ],
    }) +
    lineChart({ title: `Training loss against steps${bandNote(seeds)}`, x: { name: 'step' }, y: lossAxis, lines: lossLines(seeds, step) }) +
    table(['run', 'capacity factor', 'dropped fraction', 'ms / step', 'forward FLOPs / token', 'held-out loss (nats)'], seeds.map((s) => [
      s.name, s.runs[0]!.capacityFactor ?? '—', over(s, (r) => r.droppedFraction), over(s, (r) => 1000 * r.secondsPerStep, 0), int(s.runs[0]!.flopsPerToken), over(s, (r) => r.finalLoss),
    ])),
  specialization: (seeds) => seeds.map((s) => {
    const run = s.runs[0]!;
    const values = run.specialization.map((row) => row.map((n) => n / Math.max(1, row.reduce((a, b) => a + b, 0))));
    return heatmap({
      title: `${s.name}, seed ${run.seed}: each sub-language's tokens per expert, last quarter`, labels: true,
      columns: values[0]!.map((_, e) => `e${e}`), rows: values.map((_, g) => `lang ${g}`), x: 'expert', y: '', values, uniform: 1 / values[0]!.length,
    }) + table(['seed', 'NMI (sub-language; expert)', 'largest NMI of 20 random routers'], s.runs.map((r) => [r.seed, fmt(nmi(r.specialization)), fmt(randomRouterNMI(r.specialization))]));
  }).join(''),
  routing: (seeds) => routingSection(seeds),
};

/** A SwitchLayer option's value as written in experiments.ts. */
const optionText = (v: unknown): string => (v === Infinity ? 'Infinity' : typeof v === 'string' ? `'${v}'` : String(v));

/**
 * The routing study: what each run changes and its caveats (from examples/routing-study/experiments.ts,
 * beside the runs as that file asks), then one chart per measure and the numbers. A run's claim
 * there is a hypothesis; the claims stated here are the verdicts' at the top of the section.
 */
function routingSection(seeds: Seeds[]): string {
  const study = new Map(routingRuns.map((r) => [r.name, r]));
  /** The Switch baseline every other run is compared with. */
  const baseline = routingRuns[0]!.name;
  const perSeed = [...new Set(seeds.flatMap((s) => s.runs.map((r) => r.seed)))].sort((a, b) => a - b);
  const meanOf = (f: (r: RunResult) => number): number[] => seeds.map((s) => mean(s.runs.map(f)));
  const names = seeds.map((s) => s.name);
  const means = seeds[0]!.runs.length > 1 ? ' (means over seeds)' : '';
  const runs = '<div class="runs">' + table(['run', 'method', 'paper', 'SwitchLayer options on top of the base', 'routing group', 'caveats'], seeds.map((s) => {
    const run = study.get(s.name)!;
    const options = Object.entries(run.layer).map(([k, v]) => `${k}: ${optionText(v)}`).join(', ') || '—';
    return [s.name, run.label, run.paper, options + (run.updateBias ? '; updateBias() after each step' : ''), run.group === 'batch' ? 'the batch' : 'each sequence', run.caveats.join(' ') || '—'];
  })) + '</div>';
  // One line: writeReport takes the section's first chart from the section's first line.
  return [
    `<p>Every run: ${routingBase.numExperts} experts, top-${routingBase.topK}, capacity factor ${routingBase.capacityFactor}, α = ${routingBase.balanceCoef} unless its options say otherwise; ` +
    'the same data, seeds and batches as the rest of the demo, and one dense FFN of active expert FLOPs per token (up to the capacity slack). ' +
    'The load is the tokens each routed expert is given before capacity: the router\'s choices, or with expert choice the experts\' own picks.</p>',
    '<p class="warn"><b>Expert choice is not causal:</b> whether an expert takes a token depends on the later tokens of its sequence, so its training and held-out losses can use the future and are not comparable with the other runs\'. ' +
    'No verdict compares its loss; its bars are shown for completeness only.</p>',
    runs,
    // Against the baseline of the same seed: the runs differ by a few hundredths of a nat on a loss near 2, which bars from 0 would hide.
    barChart({
      title: `Held-out loss − ${baseline}'s, same seed (expert choice: not comparable)`, categories: names, y: [{ name: 'Δ held-out loss (nats), < 0: lower' }],
      bars: perSeed.map((seed) => {
        const loss = (s: Seeds): number => s.runs.find((r) => r.seed === seed)?.finalLoss ?? NaN;
        // The report is rewritten after each run: the baseline may not have finished yet (then no bars).
        const reference = seeds.find((s) => s.name === baseline);
        const base = reference ? loss(reference) : NaN;
        return { name: `seed ${seed}`, digits: 2, values: seeds.map((s) => loss(s) - base) };
      }),
    }),
    lineChart({ title: `Training loss against steps${bandNote(seeds)}`, x: { name: 'step' }, y: lossAxis, lines: lossLines(seeds, step) }),
    lineChart({
      title: `Load imbalance: CV of tokens per expert${bandNote(seeds)}`, x: { name: 'step' }, y: { name: 'coefficient of variation (moving average)' },
      lines: seedLines(seeds, step, (h) => movingAverage(h.map((r) => loadImbalance(r.choices).cv))),
    }),
    lineChart({
      title: `Load imbalance: busiest expert / mean${bandNote(seeds)}`, x: { name: 'step' }, y: { name: 'max / mean load (moving average)' },
      lines: seedLines(seeds, step, (h) => movingAverage(h.map((r) => loadImbalance(r.choices).maxOverMean))),
    }),
    barChart({ title: `Fraction of tokens dropped, last quarter of training${means}`, categories: names, y: [{ name: 'dropped fraction' }], bars: [{ name: 'dropped fraction', digits: 3, values: meanOf((r) => r.droppedFraction) }] }),
    barChart({
      title: 'Profiled forward FLOPs per token of the switch layers', categories: names, y: [{ name: 'FLOPs per token', si: true }],
      bars: [
        { name: 'training (its own capacity factor)', si: true, values: meanOf((r) => r.switchFlopsPerToken) },
        { name: 'eval (capacity factor 2)', si: true, values: meanOf((r) => r.evalSwitchFlopsPerToken) },
      ],
    }),
    barChart({ title: `Training tokens per second${means}`, categories: names, y: [{ name: 'tokens per second' }], bars: [{ name: 'tokens / s', digits: 0, values: meanOf((r) => r.tokensPerSecond) }] }),
    table(['run', 'held-out loss (nats)', 'load CV', 'max / mean load', 'dropped fraction', 'switch FLOPs / token (training)', 'at capacity factor 2', 'tokens / s'], seeds.map((s) => [
      s.name, over(s, (r) => r.finalLoss), over(s, (r) => r.stepLoadCV, 2), over(s, (r) => r.stepLoadMaxOverMean, 2), over(s, (r) => r.droppedFraction),
      int(mean(s.runs.map((r) => r.switchFlopsPerToken))), int(mean(s.runs.map((r) => r.evalSwitchFlopsPerToken))), over(s, (r) => r.tokensPerSecond, 0),
    ])),
    '<p>Load CV and max / mean: each step\'s, averaged over the last quarter of training. FLOPs per token are the same in every seed (the mean is shown).</p>',
  ].join('');
}

/** Shares of each expert in the router's choices over training, in ~12 time buckets: [expert][bucket]. */
function choiceShares(history: HistoryRow[], buckets = 12): { columns: string[]; values: number[][] } {
  const size = Math.max(1, Math.ceil(history.length / buckets));
  const groups = Array.from({ length: Math.ceil(history.length / size) }, (_, b) => history.slice(b * size, (b + 1) * size));
  const experts = history[0]?.choices.length ?? 0;
  const totals = groups.map((g) => Array.from({ length: experts }, (_, e) => g.reduce((s, r) => s + r.choices[e]!, 0)));
  return {
    columns: groups.map((g) => `${g[g.length - 1]!.step}`),
    values: Array.from({ length: experts }, (_, e) => totals.map((t) => t[e]! / Math.max(1, t.reduce((a, b) => a + b, 0)))),
  };
}

const style = `.runs td { text-align: left; vertical-align: top; font-size: 12px; } .warn { color: #a00; } .banner { background: #fff4d6; border: 1px solid #e0b84c; padding: .6em 1em; }\n${verdictStyle}`;

function page(results: Results, trained: Map<string, TrainedRun>): string {
  const { settings: s, machine: m } = results;
  const verdicts = judge(results);
  const body = experimentIds.map((id) => {
    const runs = results.runs.filter((r) => r.experiment === id);
    if (runs.length === 0) return '';
    const mine = verdicts.filter((v) => v.experiment === id).map(verdictBlock).join('');
    return `<section id="${id}"><h2>${escape(experiments[id].title)}</h2>${mine}${sections[id](seedsOf(runs, trained))}</section>`;
  }).join('\n');
  const model = s.model;
  const seeds = s.seeds.length === 1 ? `seed ${s.seeds[0]}` : `seeds ${s.seeds.join(', ')}`;
  return `${pageHead('switch-ts demo report', style)}
<h1>Switch Transformer claims, at toy scale</h1>
${s.quick ? '<p class="banner"><b>Quick run:</b> one seed and a few steps. It checks that the demo works end to end (the plumbing), not the claims: the verdicts are not judged and the curves say nothing about the paper. Run <code>pnpm demo</code> without <code>--quick</code> for that.</p>' : ''}
<p>Data: ${escape(s.data)}. Model: d<sub>model</sub> ${model.dModel}, ${model.numHeads} heads, ${model.numLayers} layers (switch FFN in layers 1, 3, …), d<sub>ff</sub> ${model.dFF}, ${model.seqLen} tokens per sequence;
batch ${s.batchSize}, ${s.steps} steps, Adam lr ${s.lr} (warmup, then linear decay), ${seeds} (each seed draws its own synthetic language, initialization and batches). Machine: ${escape(m.cpu)} × ${m.cores}, Node ${escape(m.node)}, backend ${escape(m.backend)}.
Every number on this page comes from <a href="results.json">results.json</a>; per-step curves from <code>runs/*.csv</code>. How to read it: <a href="../../docs/guide.md#reading-the-report">docs/guide.md, "Reading the report"</a>.</p>
${s.pending.length > 0 ? `<p class="warn">Incomplete: ${s.pending.length} run${s.pending.length > 1 ? 's have' : ' has'} not finished (${escape(s.pending.join(', '))}): the demo is still running, or was stopped. Rerun the same command with <code>--resume</code> to finish them; finished runs are kept.</p>` : ''}
<h2>The claims and their verdicts</h2>
<p>A claim <b>holds</b> when its measure goes the claimed way in every seed; otherwise it <b>does not hold at this scale</b>.</p>
${verdictTable(verdicts, 'numbers (mean, min–max over seeds)')}
${body}
</body></html>
`;
}
