import { heatmap, lineChart, loadBars, type Series } from './charts.js';
import { costTable } from './cost-view.js';
import { el, num, wideTable } from './dom.js';
import { backendChoices, trainDefaults, type BackendChoice, type FromWorker, type ModelName, type StepReport, type ToWorker, type TrainKnobs, type TrainMessage } from './protocol.js';
import { compute, latest, spawnWorker } from './workers.js';

const colors: Record<ModelName, string> = { switch: '#d62728', dense: '#555' };
/** The shown loss is the mean of the last few steps: one batch's loss is noisy. */
const smoothing = 10;
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
  const out = el('div', { class: 'train-out' });
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
    out.replaceChildren();
    paused = false;
    send({ type: 'start', knobs: { ...knobs }, backend });
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
