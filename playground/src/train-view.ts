import { heatmap, lineChart, loadBars, type Series } from './charts.js';
import { costTable } from './cost-view.js';
import { el, num, wideTable } from './dom.js';
import { trainDefaults, type FromWorker, type ModelName, type StepReport, type ToWorker, type TrainKnobs } from './protocol.js';

const colors: Record<ModelName, string> = { switch: '#d62728', dense: '#555' };
/** The shown loss is the mean of the last few steps: one batch's loss is noisy. */
const smoothing = 10;

/** "Train live": the worker trains, this view draws what it reports, at most once per frame. */
export function mountTrainView(root: HTMLElement): void {
  const knobs: TrainKnobs = { ...trainDefaults };
  let worker: Worker | null = null;
  let history: Record<ModelName, StepReport[]> = { switch: [], dense: [] };
  let heat: number[][] = [];
  let groupNames: readonly string[] = [];
  let ready: Extract<FromWorker, { type: 'ready' }> | null = null;
  let paused = false;
  let frame = 0;

  const field = (label: string, name: keyof TrainKnobs, options: readonly number[]) =>
    el('label', {}, label, el('select', { name }, ...options.map((o) => el('option', { value: String(o), ...(o === knobs[name] && { selected: '' }) }, String(o)))));
  const form = el('form', { class: 'knobs', 'aria-label': 'training knobs' },
    field('E', 'numExperts', [2, 4, 8]), field('k', 'topK', [1, 2]), field('capacity factor', 'capacityFactor', [1, 1.25, 2]),
    field('α (balance)', 'balanceCoef', [0, 0.01, 0.1]), field('z-loss weight', 'zLossCoef', [0, 0.001, 0.01, 0.1]),
    field('learning rate', 'lr', [1e-3, 3e-3, 1e-2]));
  const start = el('button', { type: 'button', id: 'train-start' }, 'Start');
  const pause = el('button', { type: 'button', id: 'train-pause', disabled: '' }, 'Pause');
  const status = el('p', { class: 'status', role: 'status', id: 'train-status' }, 'Press Start: Switch and its dense twin train side by side in a Web Worker.');
  const out = el('div', { class: 'train-out' });
  const cost = el('div', {});
  root.append(form, cost, el('p', { class: 'buttons' }, start, pause), status, out);
  showCost();

  form.addEventListener('change', (e) => {
    const t = e.target as HTMLSelectElement;
    (knobs as unknown as Record<string, number>)[t.name] = Number(t.value);
    showCost();
  });
  start.addEventListener('click', () => {
    // With 'first-chart' below, the page's timeline in DevTools (and the browser test) shows how long the first step takes.
    performance.mark('train-start');
    // A fresh worker per run: nothing of the last run's backend or tensors survives a reset.
    worker?.terminate();
    worker = new Worker(new URL('./trainer.worker.ts', import.meta.url), { type: 'module' });
    worker.onmessage = ({ data }: MessageEvent<FromWorker>) => receive(data);
    history = { switch: [], dense: [] };
    ready = null;
    out.replaceChildren();
    paused = false;
    send({ type: 'start', knobs: { ...knobs } });
    start.textContent = 'Reset';
    pause.textContent = 'Pause';
    pause.removeAttribute('disabled');
    status.textContent = 'Starting…';
  });
  pause.addEventListener('click', () => {
    paused = !paused;
    send({ type: paused ? 'pause' : 'resume' });
    pause.textContent = paused ? 'Resume' : 'Pause';
  });

  /** The cost table follows the knobs at once; the models in training change at the next Start. */
  function showCost(): void {
    cost.replaceChildren(costTable(knobs));
  }

  function send(m: ToWorker): void {
    worker?.postMessage(m);
  }

  function receive(m: FromWorker): void {
    if (m.type === 'error') {
      status.textContent = `Training stopped: ${m.message}`;
      return;
    }
    if (m.type === 'ready') {
      ready = m;
      groupNames = m.groupNames;
    } else {
      for (const r of m.reports) history[r.model].push(r);
      heat = m.heat;
    }
    frame ||= requestAnimationFrame(() => { frame = 0; render(); });
  }

  function render(): void {
    if (!ready) return;
    const s = history.switch.at(-1);
    status.textContent = `backend: ${ready.backend} · step ${s?.step ?? 0}` + (paused ? ' · paused' : '');
    const series = (y: (r: StepReport) => number, x: (r: StepReport) => number): Series[] =>
      (['switch', 'dense'] as const).map((name) => ({ name, color: colors[name], points: smoothed(history[name], y).map((v, i) => [x(history[name][i]!), v]) }));
    const load = s?.load;
    out.replaceChildren(
      summary(ready.params),
      el('div', { class: 'charts' },
        figure('Loss against step', lineChart('training loss against step, Switch and dense', 'step', series((r) => r.loss, (r) => r.step))),
        figure('Loss against training FLOPs', lineChart('training loss against FLOPs, Switch and dense', 'FLOPs', series((r) => r.loss, (r) => r.flops))),
        figure(`Router entropy (nats) · now ${s ? num(s.load!.routerEntropy) : '–'}`, lineChart('router entropy against step', 'step', [{ name: 'switch', color: colors.switch, points: history.switch.map((r) => [r.step, r.load!.routerEntropy]) }])),
        figure(`Expert load · dropped ${num(load?.droppedFraction ?? 0)} of tokens`, load ? loadBars(load.tokensPerExpert, load.capacity) : el('p', {}, '–')),
        figure('Which expert each sub-language goes to (first choices, recent steps)', heatmap('share of each sub-language\'s tokens per expert', groupNames, heat)),
      ),
    );
    if (s && performance.getEntriesByName('first-chart').length === 0) performance.mark('first-chart');
  }

  function summary(params: Record<ModelName, number>): HTMLElement {
    const row = (name: ModelName) => {
      const h = history[name], r = h.at(-1);
      return el('tr', { 'data-model': name },
        el('th', { scope: 'row' }, name), el('td', {}, params[name].toLocaleString('en')), el('td', { class: 'steps-done' }, String(r?.step ?? 0)),
        el('td', { class: 'first-loss' }, h[0] ? num(h[0].loss) : '–'), el('td', { class: 'loss' }, r ? num(smoothed(h, (x) => x.loss).at(-1)!) : '–'),
        el('td', { class: 'first-aux' }, h[0]?.auxLoss !== undefined ? num(h[0].auxLoss) : '–'),
        el('td', { class: 'tps' }, r ? r.tokensPerSecond.toFixed(0) : '–'), el('td', {}, r ? r.flops.toExponential(2) : '–'));
    };
    return wideTable('Switch and its dense twin, on the same batches', el('table', { class: 'summary', id: 'train-summary' },
      el('thead', {}, el('tr', {}, ...['model', 'parameters', 'step', 'first loss', 'loss', 'first aux loss', 'tokens/s', 'FLOPs so far'].map((t) => el('th', { scope: 'col' }, t)))),
      el('tbody', {}, row('switch'), row('dense'))),
    `loss = cross-entropy, mean of the last ${smoothing} steps; aux loss = Σ over switch layers of α·balance + z-loss weight·z, which Switch adds to the loss it trains on.`);
  }
}

function figure(caption: string, chart: Element): HTMLElement {
  return el('figure', {}, chart, el('figcaption', {}, caption));
}

/** The running mean over the last `smoothing` values. */
function smoothed(rows: StepReport[], y: (r: StepReport) => number): number[] {
  let sum = 0;
  return rows.map((r, i) => {
    sum += y(r) - (i >= smoothing ? y(rows[i - smoothing]!) : 0);
    return sum / Math.min(i + 1, smoothing);
  });
}
