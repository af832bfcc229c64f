import { routeDefaults, routeShape, routingModes, textVocab, tokenize, type RouteKnobs, type RouteResult } from './route.js';
import { el, expertColor, num } from './dom.js';
import { compute, latest } from './workers.js';

/**
 * "Route a batch, step by step": one SwitchLayer forward pass on a small batch, each step of
 * the paper drawn with its equation, recomputed whenever a knob changes. The worker computes it
 * (compute.ts) and this view draws the numbers it sends back.
 */
export function mountRouteView(root: HTMLElement): void {
  const knobs: RouteKnobs = { ...routeDefaults };
  const out = el('div', { class: 'steps' }, el('p', { class: 'status' }, 'Computing the forward pass in the worker…'));
  const draw = latest((k: RouteKnobs) => compute({ kind: 'route', knobs: k }), (result: RouteResult | Error, k: RouteKnobs) => {
    // An impossible combination (k > E, say) is the layer's own error, and too long a text the
    // tokenizer's, shown where the steps would be.
    if (result instanceof Error) out.replaceChildren(el('p', { class: 'error', role: 'alert' }, result.message));
    else out.replaceChildren(...steps(k, result));
  });
  const form = el('form', { class: 'knobs', 'aria-label': 'Switch layer knobs' },
    select('E (experts)', 'numExperts', [2, 4, 8], knobs.numExperts),
    select('k (experts per token)', 'topK', [1, 2], knobs.topK),
    select('capacity factor', 'capacityFactor', [0.5, 1, 1.25, 2, Infinity], knobs.capacityFactor),
    select('routing', 'routing', routingModes, knobs.routing),
    select('seed', 'seed', [1, 2, 3], knobs.seed),
    el('label', { class: 'text' }, `your text (one token per character, at most ${routeShape.maxTextTokens}; empty: ${routeShape.tokens} random tokens)`,
      el('input', { type: 'text', name: 'text', value: knobs.text, placeholder: 'type here, e.g. Hello, MoE!', spellcheck: 'false' })),
  );
  // 'input' rather than 'change': the text routes as it is typed (selects send both).
  form.addEventListener('input', (e) => {
    const target = e.target as HTMLSelectElement | HTMLInputElement;
    const key = target.name as keyof RouteKnobs;
    (knobs as unknown as Record<string, unknown>)[key] = key === 'routing' || key === 'text' ? target.value : Number(target.value);
    render();
  });
  // Enter in the text field would submit the form and reload the page.
  form.addEventListener('submit', (e) => e.preventDefault());
  root.append(form, out);
  render();

  /** Asks the worker for the forward pass at the current knobs; the last drawing stays until the answer comes. */
  function render(): void {
    // A copy: the steps are drawn for the knobs the numbers were computed with.
    draw({ ...knobs });
  }
}

function select(label: string, name: string, options: readonly (number | string)[], value: number | string): HTMLElement {
  const s = el('select', { name }, ...options.map((o) => el('option', { value: String(o), ...(o === value && { selected: '' }) }, String(o))));
  return el('label', {}, label, s);
}

function step(title: string, formula: string, ...body: Node[]): HTMLElement {
  return el('section', { class: 'step' }, el('h3', {}, title), el('p', { class: 'formula' }, formula), ...body);
}

/** A [tokens][experts] table of numbers, chosen experts outlined, shading by probability. */
function table(name: string, tokenNames: string[], values: number[][], probs: number[][], choices: number[][]): HTMLElement {
  const E = values[0]!.length;
  const head = el('tr', {}, el('th', { scope: 'col' }, 'token'), ...Array.from({ length: E }, (_, e) => el('th', { scope: 'col', style: `color:${expertColor(e)}` }, `e${e}`)));
  const body = values.map((row, s) => el('tr', {}, el('th', { scope: 'row' }, tokenNames[s]!), ...row.map((v, e) => el('td', {
    'data-num': `${name}:${s}:${e}`,
    class: choices[s]!.includes(e) ? 'chosen' : '',
    style: `background:rgba(60,110,200,${(probs[s]![e]! * 0.6).toFixed(3)})`,
  }, num(v)))));
  return el('table', { class: 'matrix' }, el('thead', {}, head), el('tbody', {}, ...body));
}

/** What the steps call token s: t0, t1, … and, for typed text, its character (␣ for a space). */
function tokenNames(k: RouteKnobs, S: number): string[] {
  const chars = [...k.text];
  return Array.from({ length: S }, (_, s) => (k.text === '' ? `t${s}` : `t${s} ${chars[s] === ' ' ? '␣' : chars[s]}`));
}

function batchNote(k: RouteKnobs, S: number): HTMLElement {
  if (k.text === '') return el('p', {}, `${S} tokens of width ${routeShape.dModel}, random vectors drawn with seed ${k.seed}.`);
  const ids = tokenize(k.text);
  return el('div', {},
    el('p', {}, `${S} tokens, one per character: a printable ASCII character (space to ~) is token code point − ${textVocab.first}, `
      + `any other character token ${textVocab.unknown}, "unknown". Each token is its row of an embedding table `
      + `[${textVocab.size}, ${routeShape.dModel}] drawn with seed ${k.seed}: the router sees only that row, so equal characters get equal routes, unless capacity drops one.`),
    el('p', { class: 'chips' }, ...tokenNames(k, S).map((name, s) => el('span', { class: 'chip' },
      `${name} → `, el('b', { 'data-num': `token:${s}` }, String(ids[s])), ids[s] === textVocab.unknown ? ' (unknown)' : ''))));
}

function steps(k: RouteKnobs, r: RouteResult): HTMLElement[] {
  const S = r.logits.length;
  const names = tokenNames(k, S);
  const chip = (s: number, extra = '') => el('span', { class: `chip ${extra}`, 'data-token': String(s) }, names[s]!);
  const matrix = (name: string, values: number[][]) => table(name, names, values, r.probs, r.choices);
  return [
    step('1. Router logits', 'h(x) = x · W_r, with W_r of shape [d_model, E] (Switch eq. 1)', batchNote(k, S), matrix('logit', r.logits)),
    step('2. Softmax', 'p_i(x) = e^{h_i(x)} / Σ_j e^{h_j(x)} (eq. 1)', matrix('p', r.probs)),
    step(`3. Top-${k.topK}`, k.topK === 1
      ? 'Switch routes each token to its single most probable expert: i = argmax_i p_i(x) (§2.1)'
      : `each token picks its ${k.topK} most probable experts; their gates are renormalized to sum to 1 (Shazeer et al. 2017)`,
      el('p', { class: 'chips' }, ...r.choices.map((c, s) => el('span', { class: 'choice', 'data-num': `choice:${s}` },
        `${names[s]}→`, ...c.map((e) => el('b', { style: `color:${expertColor(e)}` }, `e${e} `)))))),
    step('4. Capacity', `expert capacity C = ⌈capacity factor · k · S / E⌉ = ⌈${k.capacityFactor} · ${k.topK} · ${S} / ${k.numExperts}⌉ → ${r.capacity} slots per expert (eq. 3); routing: ${k.routing}`,
      el('div', { class: 'experts' }, ...r.slots.map((slots, e) => el('div', { class: 'expert', style: `border-color:${expertColor(e)}` },
        el('h4', { style: `color:${expertColor(e)}` }, `expert ${e}`),
        ...slots.map((s, c) => el('div', { class: 'slot', 'data-num': `slot:${e}:${c}` }, s === null ? '·' : chip(s))),
      ))),
      el('p', {}, 'dropped (no expert took them; their output is zero): ',
        el('span', { 'data-num': 'dropped' }, r.dropped.length === 0 ? 'none' : ''), ...r.dropped.map((s) => chip(s, 'dropped')))),
    step('5. Dispatch, experts, combine', 'y = Σ_{kept routes} g_i(x) · E_i(x), with E_i(x) = GELU(x W_i^in) W_i^out (eq. 2); gates drawn as widths',
      el('table', { class: 'combine' },
        el('thead', {}, el('tr', {}, el('th', { scope: 'col' }, 'token'), el('th', { scope: 'col' }, 'routes kept (expert: gate)'), el('th', { scope: 'col' }, '‖y‖'))),
        el('tbody', {}, ...r.kept.map((routes, s) => el('tr', {},
          el('th', { scope: 'row' }, names[s]!),
          el('td', { class: 'routes' }, ...routes.map(({ expert, gate }) => el('span', { class: 'route' },
            el('span', { class: 'gate', style: `width:${(gate * 6).toFixed(2)}em;background:${expertColor(expert)}` }),
            `e${expert}: `, el('span', { 'data-num': `gate:${s}:${expert}` }, num(gate))))),
          el('td', { 'data-num': `norm:${s}` }, num(r.outputNorms[s]!))))))),
    step('6. Losses', 'balance = E · Σ_i f_i · P_i (eqs. 4–6); z = mean (log Σ_j e^{h_j})² (ST-MoE eq. 5); aux = α·balance + 0.001·z with α = 0.01',
      el('dl', { class: 'losses' },
        el('dt', {}, 'balance loss (1 = even)'), el('dd', { 'data-num': 'balance' }, num(r.balanceLoss)),
        el('dt', {}, 'router z-loss'), el('dd', { 'data-num': 'z' }, num(r.zLoss)),
        el('dt', {}, 'aux loss'), el('dd', { 'data-num': 'aux' }, num(r.auxLoss)),
        el('dt', {}, 'router entropy (nats)'), el('dd', { 'data-num': 'entropy' }, num(r.routerEntropy)))),
  ];
}
