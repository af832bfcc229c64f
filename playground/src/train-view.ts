import type * as ChartsModule from './charts.js';
import type { Chart, Series } from './charts.js';
import { costTable } from './cost-view.js';
import { chartBox, el, expertColor, num, wideTable } from './dom.js';
import { backendChoices, trainDefaults, type BackendChoice, type FromWorker, type ModelName, type StepReport, type ToWorker, type TrainKnobs, type TrainMessage } from './protocol.js';
import { compute, latest, spawnWorker } from './workers.js';

const colors: Record<ModelName, string> = { switch: '#d62728', dense: '#555' };
/** The shown loss is the mean of the last few steps: one batch's loss is noisy. */
const smoothing = 10;
/** The line charts' table lists step 1, every this many steps and the latest. */
const tableEvery = 10;
/**
 * The charts redraw at most this often (ms); the tables and captions every frame. An ECharts
 * update of the five charts took 100–200 ms of the page's thread here (headless Chromium, 2
 * shared cores), in every frame as steps arrive every few tens of ms.
 */
const chartInterval = 500;
const backendLabels: Record<BackendChoice, string> = { cpu: 'cpu', webgl2: 'gpu (webgl2)', webasm: 'gpu (webasm)' };

/** The last run on one backend, kept across resets so that a learner can compare backends. */
interface Measured {
  /** What getBackend() reported in the worker. */
  runsAs?: string;
  state: string;
  /** Step 1 of both models, which compiles the kernels. */
  firstStepSeconds?: number;
  tokensPerSecond?: Record<ModelName, number>;
  steps?: number;
}

/**
 * "Train live": a worker trains (a fresh instance per run, apart from the one that computes the
 * cost table and the route view), this view draws what it reports, at most once per frame.
 */
export function mountTrainView(root: HTMLElement): void {
  const knobs: TrainKnobs = { ...trainDefaults };
  let worker: Worker | null = null;
  let history: Record<ModelName, StepReport[]> = { switch: [], dense: [] };
  let heat: number[][] = [];
  let groupNames: readonly string[] = [];
  let ready: Extract<FromWorker, { type: 'ready' }> | null = null;
  let paused = false;
  let frame = 0;
  /** When the charts last drew (performance.now()), and the timer that draws the steps since, if any. */
  let chartsDrawn = -Infinity;
  let chartTimer = 0;
  /** Whether the charts show a step of this run yet (the first is drawn at once). */
  let chartsShowSteps = false;
  /** The knobs of the current run. */
  let runKnobs: TrainKnobs = { ...knobs };
  let backend: BackendChoice = 'cpu';
  /** The backend the current worker trains on. */
  let runOn: BackendChoice | null = null;
  const measured = Object.fromEntries(backendChoices.map((b) => [b, { state: 'not run yet' }])) as Record<BackendChoice, Measured>;

  const field = (label: string, name: keyof TrainKnobs, options: readonly number[]) =>
    el('label', {}, label, el('select', { name }, ...options.map((o) => el('option', { value: String(o), ...(o === knobs[name] && { selected: '' }) }, String(o)))));
  const form = el('form', { class: 'knobs', 'aria-label': 'training knobs' },
    field('E', 'numExperts', [2, 4, 8]), field('k', 'topK', [1, 2]), field('capacity factor', 'capacityFactor', [1, 1.25, 2]),
    field('α (balance)', 'balanceCoef', [0, 0.01, 0.1]), field('z-loss weight', 'zLossCoef', [0, 0.001, 0.01, 0.1]),
    field('learning rate', 'lr', [1e-3, 3e-3, 1e-2]));
  // Radio buttons: Tab reaches the group, the arrow keys move the choice, and a new choice restarts the run on it.
  const picker = el('fieldset', { class: 'knobs backends', id: 'train-backend' }, el('legend', {}, 'Backend (switching resets the run)'),
    ...backendChoices.map((b) => el('label', {}, el('input', { type: 'radio', name: 'backend', value: b, ...(b === backend && { checked: '' }) }), backendLabels[b])));
  const backends = el('div', { id: 'train-backends-box' });
  const start = el('button', { type: 'button', id: 'train-start' }, 'Start');
  const pause = el('button', { type: 'button', id: 'train-pause', disabled: '' }, 'Pause');
  const status = el('p', { class: 'status', role: 'status', id: 'train-status' }, 'Press Start: Switch and its dense twin train side by side in a Web Worker.');
  // The charts and their tables are made once and updated in place as steps arrive; a new run empties them.
  const boxes = {
    lossStep: chartBox('training loss against step, Switch and dense', 'train-numbers', 240),
    lossFlops: chartBox('training loss against training FLOPs, Switch and dense', 'train-numbers', 240),
    entropy: chartBox('router entropy of Switch against step', 'train-numbers', 220),
    load: chartBox('tokens per expert this step, with the capacity', 'train-load', 220),
    heat: chartBox('which expert each sub-language goes to', 'train-heat', 240),
  };
  // ECharts is a chunk of its own, loaded while the page starts; the charts are drawn once it is there.
  let echarts: typeof ChartsModule | null = null;
  let charts: Record<keyof typeof boxes, Chart> | null = null;
  let chartsFailed = false;
  const chartsNote = el('div', {});
  const chartsLoaded = import('./charts.js').then((m) => {
    echarts = m;
    charts = Object.fromEntries(Object.entries(boxes).map(([name, box]) => [name, new m.Chart(box)])) as Record<keyof typeof boxes, Chart>;
  }, (e: unknown) => {
    chartsFailed = true;
    chartsNote.replaceChildren(el('p', { class: 'error', role: 'alert' }, `The charts could not load (${String(e)}); their numbers are in the tables.`));
  });
  const summaryBox = el('div', {});
  const entropyCaption = el('figcaption', {});
  const loadCaption = el('figcaption', {});
  const numbersBody = el('tbody', {});
  const loadTable = el('div', {});
  const heatTable = el('div', {});
  const out = el('div', { class: 'train-out', hidden: '' },
    summaryBox,
    chartsNote,
    el('div', { class: 'charts' },
      figure(boxes.lossStep, el('figcaption', {}, 'Loss against step')),
      figure(boxes.lossFlops, el('figcaption', {}, 'Loss against training FLOPs')),
      figure(boxes.entropy, entropyCaption),
      figure(boxes.load, loadCaption, tableBox('Table of the expert load', loadTable)),
      figure(boxes.heat, el('figcaption', {}, 'Which expert each sub-language goes to (first choices, recent steps); colours: share ÷ the uniform share 1/E'),
        tableBox('Table of the shares', heatTable)),
    ),
    tableBox(`Table of the three line charts (step 1, every ${tableEvery}th step and the latest)`,
      el('table', { id: 'train-numbers', 'aria-label': 'loss, FLOPs and router entropy by step' },
        el('thead', {}, el('tr', {}, ...['step', 'loss Switch', 'loss dense', 'FLOPs Switch', 'FLOPs dense', 'router entropy'].map((t) => el('th', { scope: 'col' }, t)))),
        numbersBody)));
  const cost = el('div', {}, el('p', { class: 'note' }, 'Measuring the models\' parameters and FLOPs in the worker…'));
  // The cost table follows the knobs at once (the models in training change at the next Start); the last table stays until the next comes.
  const showCost = latest((k: TrainKnobs) => compute({ kind: 'cost', knobs: k }), (costs, k: TrainKnobs) => {
    cost.replaceChildren(costs instanceof Error ? el('p', { class: 'error', role: 'alert' }, costs.message) : costTable(k, costs));
  });
  root.append(form, cost, picker, backends, el('p', { class: 'buttons' }, start, pause), status, out);
  showCost({ ...knobs });
  showBackends();

  form.addEventListener('change', (e) => {
    const t = e.target as HTMLSelectElement;
    (knobs as unknown as Record<string, number>)[t.name] = Number(t.value);
    showCost({ ...knobs });
  });
  picker.addEventListener('change', (e) => {
    backend = (e.target as HTMLInputElement).value as BackendChoice;
    if (worker) startRun();
    else showBackends();
  });
  start.addEventListener('click', startRun);
  pause.addEventListener('click', () => {
    paused = !paused;
    send({ type: paused ? 'pause' : 'resume' });
    pause.textContent = paused ? 'Resume' : 'Pause';
    if (runOn !== null && measured[runOn].steps !== undefined) measured[runOn].state = paused ? 'paused' : 'running';
    showBackends();
  });

  function startRun(): void {
    // With 'first-chart' below, the page's timeline in DevTools (and the browser test) shows how long the first step takes.
    performance.mark('train-start');
    // A fresh worker per run: nothing of the last run's backend or tensors survives a reset.
    worker?.terminate();
    if (runOn !== null && /^(starting|compiling|running|paused)/.test(measured[runOn].state)) measured[runOn].state = 'reset';
    const w = spawnWorker();
    // A message the last worker sent before it was terminated is not this run's.
    w.onmessage = ({ data }: MessageEvent<FromWorker>) => { if (w === worker && data.type !== 'computed') receive(data); };
    w.onerror = (e) => { if (w === worker) receive({ type: 'error', message: e.message || 'the worker failed to load' }); };
    worker = w;
    runOn = backend;
    history = { switch: [], dense: [] };
    ready = null;
    // Nothing of the last run stays in the page, hidden or not.
    out.hidden = true;
    for (const c of Object.values(charts ?? {})) c.clear();
    for (const box of [summaryBox, numbersBody, loadTable, heatTable]) box.replaceChildren();
    clearTimeout(chartTimer);
    chartTimer = 0;
    chartsDrawn = -Infinity;
    chartsShowSteps = false;
    runKnobs = { ...knobs };
    paused = false;
    send({ type: 'start', knobs: { ...runKnobs }, backend });
    start.textContent = 'Reset';
    pause.textContent = 'Pause';
    pause.removeAttribute('disabled');
    status.textContent = `Starting on ${backendLabels[backend]}…`;
    measured[backend].state = 'starting…';
    showBackends();
  }

  function send(m: ToWorker): void {
    worker?.postMessage(m);
  }

  /** The backend table: the last run on each backend, whichever runs now. */
  function showBackends(): void {
    const row = (b: BackendChoice) => {
      const m = measured[b], tps = m.tokensPerSecond;
      return el('tr', { 'data-backend': b, ...(b === backend && { class: 'chosen' }) },
        el('th', { scope: 'row' }, backendLabels[b]), el('td', { class: 'runs-as' }, m.runsAs ?? '–'), el('td', { class: 'state' }, m.state),
        el('td', { class: 'first-step' }, m.firstStepSeconds !== undefined ? m.firstStepSeconds.toFixed(1) : '–'),
        el('td', { class: 'tps-switch' }, tps ? tps.switch.toFixed(0) : '–'), el('td', { class: 'tps-dense' }, tps ? tps.dense.toFixed(0) : '–'),
        el('td', { class: 'steps-run' }, String(m.steps ?? '–')));
    };
    backends.replaceChildren(wideTable('Backends: the last run on each', el('table', { class: 'backends', id: 'train-backends' },
      el('thead', {}, el('tr', {}, ...['backend', 'runs as', 'state', 'step 1 (s)', 'tokens/s Switch', 'tokens/s dense', 'steps'].map((t) => el('th', { scope: 'col' }, t)))),
      el('tbody', {}, ...backendChoices.map(row))),
    'runs as: what getBackend() reports in the worker (the mode read from a compiled kernel); step 1: both models\' first step, which compiles ' +
    'their kernels (on webgl2, every shader); tokens/s: from step 2 on, per model.'));
  }

  function receive(m: TrainMessage): void {
    const mine = measured[runOn!];
    if (m.type === 'error') {
      status.textContent = `Training stopped on ${backendLabels[runOn!]}: ${m.message}`;
      const steps = history.switch.length;
      mine.state = (steps === 0 ? 'cannot run here: ' : `stopped after step ${steps}: `) + m.message + knownCause(runOn!, m.message);
      showBackends();
      return;
    }
    if (m.type === 'ready') {
      ready = m;
      groupNames = m.groupNames;
      mine.runsAs = m.backend;
      mine.state = 'compiling kernels… (step 1)';
    } else {
      for (const r of m.reports) history[r.model].push(r);
      heat = m.heat;
      const step = m.reports[0]!.step;
      if (step === 1) mine.firstStepSeconds = m.reports.reduce((t, r) => t + r.seconds, 0);
      mine.tokensPerSecond = Object.fromEntries(m.reports.map((r) => [r.model, r.tokensPerSecond])) as Record<ModelName, number>;
      mine.steps = step;
      mine.state = paused ? 'paused' : 'running';
    }
    frame ||= requestAnimationFrame(() => { frame = 0; render(); showBackends(); });
  }

  function render(): void {
    if (!ready) return;
    const s = history.switch.at(-1);
    status.textContent = `backend: ${ready.backend} · ` + (s ? `step ${s.step}` : 'compiling kernels for step 1…') + (paused ? ' · paused' : '');
    const load = s?.load;
    summaryBox.replaceChildren(summary(ready.params));
    // Shown before drawing: a chart takes its box's size.
    out.hidden = false;
    entropyCaption.textContent = `Router entropy (nats) · now ${s ? num(s.load!.routerEntropy) : '–'}`;
    loadCaption.textContent = `Expert load · dropped ${num(load?.droppedFraction ?? 0)} of tokens`;
    // At 'ready' the charts are made with empty axes (while the worker runs step 1); then step 1 is
    // drawn at once, and later steps at most every chartInterval ms, the last of them always.
    const wait = chartsDrawn + chartInterval - performance.now();
    if (!chartsShowSteps || wait <= 0) drawCharts();
    else chartTimer ||= window.setTimeout(() => { chartTimer = 0; drawCharts(); }, wait);
    loadTable.replaceChildren(load ? loadNumbers(load.tokensPerExpert, load.capacity) : el('p', {}, '–'));
    heatTable.replaceChildren(heatNumbers(groupNames, heat));
    numbersBody.replaceChildren(...numberRows());
  }

  function drawCharts(): void {
    if (!echarts || !charts) {
      // Not loaded yet (a Start within the page's first moments): drawn once it is.
      if (!chartsFailed) void chartsLoaded.then(() => { frame ||= requestAnimationFrame(() => { frame = 0; render(); }); });
      return;
    }
    const { heatOption, lineOption, loadOption } = echarts;
    chartsDrawn = performance.now();
    const series = (y: (r: StepReport) => number, x: (r: StepReport) => number): Series[] =>
      (['switch', 'dense'] as const).map((name) => ({ name, color: colors[name], points: smoothed(history[name], y).map((v, i) => [x(history[name][i]!), v]) }));
    charts.lossStep.set(lineOption({ name: 'step' }, { name: 'cross-entropy (nats)' }, series((r) => r.loss, (r) => r.step)));
    charts.lossFlops.set(lineOption({ name: 'training FLOPs', si: true }, { name: 'cross-entropy (nats)' }, series((r) => r.loss, (r) => r.flops)));
    charts.entropy.set(lineOption({ name: 'step' }, { name: 'router entropy (nats)' },
      [{ name: 'switch', color: colors.switch, points: history.switch.map((r) => [r.step, r.load!.routerEntropy]) }]));
    const load = history.switch.at(-1)?.load;
    const E = runKnobs.numExperts;
    charts.load.set(loadOption(load?.tokensPerExpert ?? new Array<number>(E).fill(0), load?.capacity ?? null));
    charts.heat.set(heatOption(Array.from({ length: E }, (_, e) => `e${e}`), groupNames, load ? shares(heat) : []));
    chartsShowSteps = load !== undefined;
    if (load && performance.getEntriesByName('first-chart').length === 0) performance.mark('first-chart');
  }

  /** The line charts' numbers: step 1, every `tableEvery`th step and the latest, the losses smoothed as drawn. */
  function numberRows(): HTMLTableRowElement[] {
    const [sw, de] = [history.switch, history.dense];
    const [swLoss, deLoss] = [smoothed(sw, (r) => r.loss), smoothed(de, (r) => r.loss)];
    const n = Math.min(sw.length, de.length);
    const rows: HTMLTableRowElement[] = [];
    for (let i = 0; i < n; i++) {
      if (i !== 0 && (i + 1) % tableEvery !== 0 && i !== n - 1) continue;
      rows.push(el('tr', { 'data-step': String(sw[i]!.step) }, el('th', { scope: 'row' }, String(sw[i]!.step)),
        el('td', { class: 'loss-switch' }, num(swLoss[i]!)), el('td', { class: 'loss-dense' }, num(deLoss[i]!)),
        el('td', {}, sw[i]!.flops.toExponential(2)), el('td', {}, de[i]!.flops.toExponential(2)), el('td', {}, num(sw[i]!.load!.routerEntropy))));
    }
    return rows;
  }

  function summary(params: Record<ModelName, number>): HTMLElement {
    const row = (name: ModelName) => {
      const h = history[name], r = h.at(-1);
      return el('tr', { 'data-model': name },
        el('th', { scope: 'row' }, name), el('td', {}, params[name].toLocaleString('en')), el('td', { class: 'steps-done' }, String(r?.step ?? 0)),
        el('td', { class: 'first-loss', ...(h[0] && { 'data-loss': String(h[0].loss) }) }, h[0] ? num(h[0].loss) : '–'), el('td', { class: 'loss' }, r ? num(smoothed(h, (x) => x.loss).at(-1)!) : '–'),
        el('td', { class: 'first-aux' }, h[0]?.auxLoss !== undefined ? num(h[0].auxLoss) : '–'),
        el('td', { class: 'tps' }, r ? r.tokensPerSecond.toFixed(0) : '–'), el('td', {}, r ? r.flops.toExponential(2) : '–'));
    };
    return wideTable('Switch and its dense twin, on the same batches', el('table', { class: 'summary', id: 'train-summary' },
      el('thead', {}, el('tr', {}, ...['model', 'parameters', 'step', 'first loss', 'loss', 'first aux loss', 'tokens/s', 'FLOPs so far'].map((t) => el('th', { scope: 'col' }, t)))),
      el('tbody', {}, row('switch'), row('dense'))),
    `loss = cross-entropy, mean of the last ${smoothing} steps; tokens/s from step 2 on (step 1 compiles the kernels); aux loss = Σ over switch layers of α·balance + z-loss weight·z, which Switch adds to the loss it trains on.`);
  }
}

/**
 * What the page knows of an error's cause, measured in headless Chromium: gpu.js's webasm mode
 * makes one WebAssembly.Memory per compiled kernel, each reserving a large stretch of address
 * space, and Chromium allows about 124 of them at once in a page and its workers, while one step of
 * this model compiles about 270 kernels.
 */
function knownCause(b: BackendChoice, message: string): string {
  return b === 'webasm' && /WebAssembly\.Memory\(\): could not allocate memory/.test(message)
    ? ' (gpu.js\'s webasm makes one WebAssembly.Memory per kernel; Chromium holds about 124 at once, and a step of this model compiles about 270 kernels)'
    : '';
}

/** A chart, its caption and, unless it is the table below the charts (the line charts'), its table. */
function figure(chart: HTMLElement, caption: HTMLElement, table?: HTMLElement): HTMLElement {
  return el('figure', {}, chart, caption, ...(table ? [table] : []));
}

/** A chart's table, folded under a summary (Enter or Space opens it). */
function tableBox(summaryText: string, table: HTMLElement): HTMLElement {
  return el('details', {}, el('summary', {}, summaryText), el('div', { class: 'scroll' }, table));
}

/** Each row's counts as shares of the row. */
function shares(counts: number[][]): number[][] {
  return counts.map((row) => { const total = row.reduce((a, b) => a + b, 0) || 1; return row.map((v) => v / total); });
}

/** The expert-load chart's table: tokens per expert, with the capacity. */
function loadNumbers(tokensPerExpert: number[], capacity: number): HTMLTableElement {
  return el('table', { id: 'train-load' },
    el('caption', {}, `tokens per expert this step; capacity C = ${capacity}`),
    el('thead', {}, el('tr', {}, el('th', { scope: 'col' }, 'expert'), el('th', { scope: 'col' }, 'tokens'), el('th', { scope: 'col' }, 'of capacity'))),
    el('tbody', {}, ...tokensPerExpert.map((n, e) => el('tr', {},
      el('th', { scope: 'row', style: `color:${expertColor(e)}` }, `e${e}`), el('td', {}, String(n)), el('td', {}, `${((n / capacity) * 100).toFixed(0)} %`)))));
}

/** The heatmap's table: a [sub-language][expert] table of shares, the cells tinted by share. */
function heatNumbers(rowNames: readonly string[], counts: number[][]): HTMLTableElement {
  const E = counts[0]?.length ?? 0;
  return el('table', { class: 'heat', id: 'train-heat' },
    el('caption', {}, 'share of each sub-language\'s tokens per expert'),
    el('thead', {}, el('tr', {}, el('th', {}, ''), ...Array.from({ length: E }, (_, e) => el('th', { scope: 'col', style: `color:${expertColor(e)}` }, `e${e}`)))),
    el('tbody', {}, ...shares(counts).map((row, g) => el('tr', {}, el('th', { scope: 'row' }, rowNames[g]!),
      ...row.map((v) => el('td', { style: `background:rgba(200,80,40,${v.toFixed(3)})` }, v.toFixed(2)))))));
}

/** The running mean over the last `smoothing` values. */
function smoothed(rows: StepReport[], y: (r: StepReport) => number): number[] {
  let sum = 0;
  return rows.map((r, i) => {
    sum += y(r) - (i >= smoothing ? y(rows[i - smoothing]!) : 0);
    return sum / Math.min(i + 1, smoothing);
  });
}
