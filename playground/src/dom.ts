type Attrs = Record<string, string>;

/** An element with attributes and children: the whole of the page's templating. */
export function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: (Node | string)[]): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  node.append(...children);
  return node;
}

/** Four decimals: what the page shows, and what the browser tests compare with Node's values. */
export const num = (v: number): string => v.toFixed(4);

const palette = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#17becf', '#8c564b', '#e377c2'];
export const expertColor = (e: number): string => palette[e % palette.length]!;
