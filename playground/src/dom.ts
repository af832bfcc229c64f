type Attrs = Record<string, string>;

/** An element with attributes and children: the whole of the page's templating. */
export function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: (Node | string)[]): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  node.append(...children);
  return node;
}

/**
 * A table under its title and above its note, in a box of its own that scrolls sideways on a
 * narrow screen, so that the page does not. The title is the table's accessible name.
 */
export function wideTable(title: string, table: HTMLTableElement, note: string): HTMLElement {
  table.setAttribute('aria-label', title);
  return el('div', {}, el('p', { class: 'table-title' }, title), el('div', { class: 'scroll' }, table), el('p', { class: 'note' }, note));
}

/**
 * The box a chart is drawn in (charts.ts), in the page from the start: an image named `label`,
 * described by the element `describedBy` (the chart's table), as wide as its container.
 */
export function chartBox(label: string, describedBy: string, height: number): HTMLDivElement {
  return el('div', { class: 'chart', role: 'img', 'aria-label': label, 'aria-describedby': describedBy, style: `height:${height}px` });
}

/** Four decimals: what the page shows, and what the browser tests compare with Node's values. */
export const num = (v: number): string => v.toFixed(4);

const palette = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#17becf', '#8c564b', '#e377c2'];
export const expertColor = (e: number): string => palette[e % palette.length]!;
