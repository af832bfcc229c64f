import { join } from 'node:path';
import { barChart, heatmap, lineChart, type Line } from '../shared/charts.js';
import { escape, pageHead, table } from '../shared/html.js';
import type { Machine } from '../shared/machine.js';
import { experimentIds, experiments, type ExperimentId } from './experiments.js';
import { writeFileAtomic } from './store.js';
import type { HistoryRow, TrainSettings, TrainedRun } from './train.js';

/** One entry of results.json's `runs`, the fields docs/guide.md explains: readers of the file and the claims test rely on them. */
export interface RunResult {
  name: string;
  experiment: ExperimentId;
  numExperts: number;
  topK: number;
  capacityFactor: number | null;
  balanceCoef: number | null;
  params: number;
  flopsPerToken: number;
  finalLoss: number;
  tokensPerSecond: number;
  droppedFraction: number;
  tokensPerExpert: number[];
  wallSeconds: number;
}

export interface Results {
  version: 1;
  machine: Machine;
  /** What every run shared: model size, batch, steps, learning rate, seed, data; and the runs not finished yet. */
  settings: TrainSettings & { data: string; pending: string[] };
  runs: RunResult[];
  /** Profiled forward FLOPs per token of the layers in switch positions alone (the dense twin's FFNs there), per run name. */
  switchFlopsPerToken: Record<string, number>;
}

/** results.json's runs: each trained run once per experiment that uses it. */
export function resultsOf(trained: Map<string, TrainedRun>, ids: readonly ExperimentId[]): RunResult[] {
  return ids.flatMap((experiment) => experiments[experiment].runs.flatMap((spec): RunResult[] => {
    const run = trained.get(spec.name);
    if (!run) return [];
    const sw = spec.ffn.kind === 'switch' ? spec.ffn : null;
    return [{
      name: spec.name, experiment,
      numExperts: sw?.numExperts ?? 1, topK: sw?.topK ?? 1,
      capacityFactor: sw?.capacityFactor ?? null, balanceCoef: sw?.balanceCoef ?? null,
      params: run.params, flopsPerToken: run.flopsPerToken, finalLoss: run.finalLoss,
      tokensPerSecond: run.tokensPerSecond, droppedFraction: run.droppedFraction,
      tokensPerExpert: run.tokensPerExpert, wallSeconds: run.wallSeconds,
    }];
  }));
}

function csvOf(history: HistoryRow[]): string {
  const experts = history[0]?.choices.length ?? 0;
  const header = ['step', 'tokens', 'seconds', 'flops', 'loss', 'aux_loss', 'dropped_fraction', 'router_entropy', ...Array.from({ length: experts }, (_, e) => `choices_e${e}`)];
  const rows = history.map((r) => [r.step, r.tokens, r.seconds.toFixed(3), r.flops, r.loss.toFixed(5), r.auxLoss.toFixed(5), r.droppedFraction.toFixed(4), r.routerEntropy.toFixed(4), ...r.choices]);
  return [header, ...rows].map((r) => r.join(',')).join('\n') + '\n';
}

/** Writes DIR/results.json, DIR/runs/NAME.csv and DIR/index.html, each file whole or not at all. */
export function writeReport(dir: string, results: Results, trained: Map<string, TrainedRun>): void {
  writeFileAtomic(join(dir, 'results.json'), JSON.stringify(results, null, 2) + '\n');
  for (const [name, run] of trained) writeFileAtomic(join(dir, 'runs', `${name}.csv`), csvOf(run.history));
  const html = page(results, trained);
  writeFileAtomic(join(dir, 'index.html'), html);
  // Each section's first chart also as a file, for pages that cannot inline SVG (the README).
  for (const [, id, svg] of html.matchAll(/<section id="(\w+)">.*?(<svg[\s\S]*?<\/svg>)/g)) writeFileAtomic(join(dir, `${id}.svg`), svg!);
}

// ---------- the page ----------

const fmt = (x: number, digits = 3): string => (Number.isFinite(x) ? x.toFixed(digits) : String(x));
const int = (x: number): string => Math.round(x).toLocaleString('en-US');

/** A moving average, so that per-batch noise does not hide the trend. */
function smooth(history: HistoryRow[], x: (r: HistoryRow) => number, y: (r: HistoryRow) => number): [number, number][] {
  const window = Math.max(1, Math.round(history.length / 20));
  return history.map((r, i) => {
    const from = Math.max(0, i - window + 1);
    const slice = history.slice(from, i + 1);
    return [x(r), slice.reduce((s, h) => s + y(h), 0) / slice.length];
  });
}

/** Shares of each expert over training, in ~12 time buckets: [expert][bucket]. */
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

const busiestShare = (r: RunResult): number => Math.max(...r.tokensPerExpert) / Math.max(1, r.tokensPerExpert.reduce((a, b) => a + b, 0));

type Section = (runs: RunResult[], results: Results, trained: Map<string, TrainedRun>) => string;

const lossLines = (runs: RunResult[], trained: Map<string, TrainedRun>, x: (r: HistoryRow) => number): Line[] =>
  runs.map((r) => ({ name: r.name, points: smooth(trained.get(r.name)!.history, x, (h) => h.loss) }));

const sections: Record<ExperimentId, { claim: string; body: Section }> = {
  scaling: {
    claim: 'Adding experts adds parameters but not compute per token, and the extra parameters lower the loss (the paper\'s Figure 1, at toy scale).',
    body: (runs, _results, trained) => {
      const dense = runs.find((r) => r.name === 'dense');
      return lineChart({ title: 'Training loss (moving average) against steps', x: 'step', y: 'cross-entropy (nats)', lines: lossLines(runs, trained, (h) => h.step) }) +
        table(['run', 'experts', 'parameters', 'FLOPs / token (forward)', 'vs dense', 'held-out loss', 'tokens / s'], runs.map((r) => [
          r.name, r.numExperts, int(r.params), int(r.flopsPerToken), dense ? `${fmt(r.flopsPerToken / dense.flopsPerToken, 3)}×` : '—', fmt(r.finalLoss), int(r.tokensPerSecond),
        ]));
    },
  },
  topk: {
    claim: 'Top-1 routing (Switch) costs a fraction of a classic MoE: with E = 4, sending each token to all four experts costs four times the expert compute.',
    body: (runs, results, trained) => {
      const top1 = runs.find((r) => r.topK === 1), all = runs.find((r) => r.topK === r.numExperts);
      const ffn = results.switchFlopsPerToken;
      const ratio = top1 && all ? ffn[top1.name]! / ffn[all.name]! : NaN;
      return `<p class="headline">Measured expert-layer compute of top-1 ÷ the dense ensemble (top-4): <b>${fmt(ratio, 3)}</b> (the article's "one quarter").</p>` +
        lineChart({ title: 'Loss against training wall time', x: 'seconds', y: 'cross-entropy (nats)', lines: lossLines(runs, trained, (h) => h.seconds) }) +
        lineChart({ title: 'Loss against profiled training FLOPs', x: 'FLOPs', y: 'cross-entropy (nats)', lines: lossLines(runs, trained, (h) => h.flops) }) +
        table(['run', 'top-k', 'FLOPs / token (model)', 'FLOPs / token (switch layers)', 'held-out loss', 'tokens / s', 'wall s'], runs.map((r) => [
          r.name, r.topK, int(r.flopsPerToken), int(ffn[r.name] ?? NaN), fmt(r.finalLoss), int(r.tokensPerSecond), fmt(r.wallSeconds, 1),
        ]));
    },
  },
  balance: {
    claim: 'The balancing loss (α = 0.01) spreads the router\'s choices over the experts; without it (α = 0) the busiest expert takes a larger share.',
    body: (runs, _results, trained) => {
      const shares = runs.map((r) => `<b>${fmt(busiestShare(r))}</b> with α = ${r.balanceCoef}`).join(', ');
      return `<p class="headline">The busiest expert's share of the router's choices over the last quarter of training: ${shares} (uniform: ${fmt(1 / runs[0]!.numExperts)}).</p>` +
        runs.map((r) => {
          const { columns, values } = choiceShares(trained.get(r.name)!.history);
          return heatmap({
            title: `${r.name} (α = ${r.balanceCoef}): share of router choices per expert over training`,
            columns, rows: values.map((_, e) => `expert ${e}`), x: 'step', y: '', values,
          });
        }).join('') +
        lineChart({ title: 'Router entropy (nats; ln E = uniform)', x: 'step', y: 'entropy', lines: runs.map((r) => ({ name: r.name, points: smooth(trained.get(r.name)!.history, (h) => h.step, (h) => h.routerEntropy) })) }) +
        table(['run', 'α', 'busiest expert\'s share of tokens', 'router entropy (end)', 'dropped fraction', 'held-out loss'], runs.map((r) => {
          const h = trained.get(r.name)!.history;
          return [r.name, r.balanceCoef ?? '—', fmt(busiestShare(r)), fmt(h[h.length - 1]!.routerEntropy), fmt(r.droppedFraction), fmt(r.finalLoss)];
        }));
    },
  },
  capacity: {
    claim: 'The capacity factor trades dropped tokens against compute: a small one drops tokens (their layer output is zero), a large one spends FLOPs on empty slots.',
    body: (runs, _results, trained) =>
      barChart({ title: 'Dropped-token fraction and held-out loss', categories: runs.map((r) => `cf ${r.capacityFactor}`), y: '', bars: [
        { name: 'dropped fraction', values: runs.map((r) => Number(fmt(r.droppedFraction))) },
        { name: 'held-out loss', values: runs.map((r) => Number(fmt(r.finalLoss))) },
      ] }) +
      lineChart({ title: 'Training loss against steps', x: 'step', y: 'cross-entropy (nats)', lines: lossLines(runs, trained, (h) => h.step) }) +
      table(['run', 'capacity factor', 'dropped fraction', 'held-out loss', 'FLOPs / token', 'tokens / s'], runs.map((r) => [
        r.name, r.capacityFactor ?? '—', fmt(r.droppedFraction), fmt(r.finalLoss), int(r.flopsPerToken), int(r.tokensPerSecond),
      ])),
  },
  specialization: {
    claim: 'Experts specialize: tokens of different sub-languages go to different experts.',
    body: (runs, _results, trained) => runs.map((r) => {
      const run = trained.get(r.name)!;
      const values = run.specialization.map((row) => row.map((n) => n / Math.max(1, row.reduce((a, b) => a + b, 0))));
      return heatmap({
        title: `${r.name}: share of each group's tokens per expert (last quarter of training)`, labels: true,
        columns: values[0]!.map((_, e) => `e${e}`), rows: [...run.groupNames], x: 'expert', y: '', values,
      });
    }).join(''),
  },
};

function page(results: Results, trained: Map<string, TrainedRun>): string {
  const { settings: s, machine: m } = results;
  const body = experimentIds.map((id) => {
    const runs = results.runs.filter((r) => r.experiment === id);
    if (runs.length === 0) return '';
    const { claim, body: render } = sections[id];
    return `<section id="${id}"><h2>${escape(experiments[id].title)}</h2><p class="claim">${escape(claim)}</p>${render(runs, results, trained)}</section>`;
  }).join('\n');
  const model = s.model;
  return `${pageHead('switch-ts demo report', '.warn { color: #a00; }')}
<h1>Switch Transformer claims, at toy scale</h1>
<p>Data: ${escape(s.data)}. Model: d<sub>model</sub> ${model.dModel}, ${model.numHeads} heads, ${model.numLayers} layers (switch FFN in layers 1, 3, …), d<sub>ff</sub> ${model.dFF}, ${model.seqLen} tokens per sequence;
batch ${s.batchSize}, ${s.steps} steps, Adam lr ${s.lr} (warmup, then linear decay), seed ${s.seed}. Machine: ${escape(m.cpu)} × ${m.cores}, Node ${escape(m.node)}, backend ${escape(m.backend)}.
Every number on this page comes from <a href="results.json">results.json</a>; per-step curves from <code>runs/*.csv</code>. How to read it: <code>docs/guide.md</code> (section "Reading the report").</p>
${s.pending.length > 0 ? `<p class="warn">Incomplete: ${s.pending.length} run${s.pending.length > 1 ? 's have' : ' has'} not finished (${escape(s.pending.join(', '))}): the demo is still running, or was stopped. Rerun the same command with <code>--resume</code> to finish them; finished runs are kept.</p>` : ''}
${body}
</body></html>
`;
}
