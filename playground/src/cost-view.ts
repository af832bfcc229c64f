import { count, type ModelCost } from './cost.js';
import { el, wideTable } from './dom.js';
import type { ModelName, TrainKnobs } from './protocol.js';

const columns: { key: keyof ModelCost; title: string }[] = [
  { key: 'total', title: 'parameters' },
  { key: 'active', title: 'active parameters per token' },
  { key: 'flopsPerToken', title: 'forward FLOPs per token' },
  { key: 'switchFlopsPerToken', title: '… of it in the switch positions (blocks 1, 3, …)' },
];

/**
 * Parameters against compute for the live run's two models at the current knobs, as the worker
 * measured them (compute.ts modelCosts): Switch adds parameters with every expert, while a token's
 * share of them, and its FLOPs, follow k.
 */
export function costTable(knobs: TrainKnobs, costs: Record<ModelName, ModelCost>): HTMLElement {
  const row = (name: ModelName, label: string) => el('tr', {}, el('th', { scope: 'row' }, label),
    ...columns.map(({ key }) => el('td', { 'data-num': `cost:${name}:${key}` }, count(costs[name][key]))));
  const ratio = el('tr', { class: 'ratio' }, el('th', { scope: 'row' }, 'Switch ÷ dense'),
    ...columns.map(({ key }) => el('td', { 'data-num': `cost:ratio:${key}` }, `${(costs.switch[key] / costs.dense[key]).toFixed(2)}×`)));
  return wideTable(`Parameters against compute at E = ${knobs.numExperts}, k = ${knobs.topK}, capacity factor ${knobs.capacityFactor}`,
    el('table', { class: 'cost' },
      el('thead', {}, el('tr', {}, el('th', { scope: 'col' }, 'model'), ...columns.map(({ title }) => el('th', { scope: 'col' }, title)))),
      el('tbody', {}, row('switch', `Switch (E = ${knobs.numExperts}, k = ${knobs.topK})`), row('dense', 'dense twin'), ratio)),
    'A token goes through k of each switch layer\'s E experts, so more experts add parameters but not active ones. '
    + 'FLOPs are profiled on one forward pass of a batch, as the demo counts them: the experts compute all E·C capacity slots, '
    + 'empty ones too, so a capacity factor above 1 costs FLOPs (C = ⌈capacity factor · k · tokens / E⌉).');
}
