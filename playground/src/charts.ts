import { el, expertColor } from './dom.js';

const svgNS = 'http://www.w3.org/2000/svg';
function svg<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string | number>, ...children: (Node | string)[]): SVGElementTagNameMap[K] {
  const node = document.createElementNS(svgNS, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
  node.append(...children);
  return node;
}

export interface Series {
  name: string;
  color: string;
  points: [number, number][];
}

const [W, H, PAD] = [440, 200, 34];

/** Lines on shared axes; `label` is the chart's accessible name (its numbers are in the page's tables). */
export function lineChart(label: string, xName: string, series: Series[]): SVGSVGElement {
  const all = series.flatMap((s) => s.points);
  const xs = all.map((p) => p[0]), ys = all.map((p) => p[1]);
  const [x0, x1] = [Math.min(...xs, 0), Math.max(...xs, 1)];
  const [y0, y1] = [Math.min(...ys, 0), Math.max(...ys, 1e-9)];
  const X = (x: number) => PAD + ((x - x0) / (x1 - x0 || 1)) * (W - PAD - 8);
  const Y = (y: number) => H - PAD + 8 - ((y - y0) / (y1 - y0 || 1)) * (H - PAD - 8);
  return svg('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': label, class: 'chart' },
    svg('line', { x1: PAD, y1: Y(y0), x2: W - 8, y2: Y(y0), class: 'axis' }),
    svg('line', { x1: PAD, y1: Y(y0), x2: PAD, y2: Y(y1), class: 'axis' }),
    svg('text', { x: PAD - 4, y: Y(y1) + 4, 'text-anchor': 'end' }, y1.toPrecision(3)),
    svg('text', { x: PAD - 4, y: Y(y0), 'text-anchor': 'end' }, y0.toPrecision(2)),
    svg('text', { x: W - 8, y: H - 4, 'text-anchor': 'end' }, `${xName} → ${x1.toPrecision(3)}`),
    ...series.map((s, i) => svg('g', {},
      svg('polyline', { points: s.points.map(([x, y]) => `${X(x).toFixed(1)},${Y(y).toFixed(1)}`).join(' '), stroke: s.color, fill: 'none' }),
      svg('text', { x: W - 12, y: 16 + 14 * i, fill: s.color, 'text-anchor': 'end' }, s.name))),
  );
}

/** Per-expert load as bars in a table (the table is its own text alternative), with the capacity as a line. */
export function loadBars(tokensPerExpert: number[], capacity: number): HTMLTableElement {
  const top = Math.max(capacity, ...tokensPerExpert) * 1.1;
  return el('table', { class: 'bars' },
    el('caption', {}, `tokens per expert this step; the line is the capacity C = ${capacity}`),
    el('tbody', {}, ...tokensPerExpert.map((n, e) => el('tr', {},
      el('th', { scope: 'row', style: `color:${expertColor(e)}` }, `expert ${e}`),
      el('td', { class: 'bar-cell' },
        el('span', { class: 'bar', style: `width:${((n / top) * 100).toFixed(1)}%;background:${expertColor(e)}` }),
        el('span', { class: 'capacity', style: `left:${((capacity / top) * 100).toFixed(1)}%` })),
      el('td', { class: 'n' }, String(n))))));
}

/** A [row][expert] heatmap as a table whose cells carry both colour and number. */
export function heatmap(caption: string, rowNames: readonly string[], counts: number[][]): HTMLTableElement {
  const E = counts[0]?.length ?? 0;
  return el('table', { class: 'heat' },
    el('caption', {}, caption),
    el('thead', {}, el('tr', {}, el('th', {}, ''), ...Array.from({ length: E }, (_, e) => el('th', { scope: 'col', style: `color:${expertColor(e)}` }, `e${e}`)))),
    el('tbody', {}, ...counts.map((row, g) => {
      const total = row.reduce((a, b) => a + b, 0) || 1;
      return el('tr', {}, el('th', { scope: 'row' }, rowNames[g]!), ...row.map((v) => el('td', {
        style: `background:rgba(200,80,40,${(v / total).toFixed(3)})`,
      }, (v / total).toFixed(2))));
    })));
}
