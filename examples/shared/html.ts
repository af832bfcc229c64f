/** What both example reports (`pnpm demo`, `pnpm demo:devices`) build their self-contained HTML pages from. */

export const escape = (s: string): string => s.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);

export function table(head: string[], rows: (string | number)[][]): string {
  const cells = (tag: string, r: (string | number)[]): string => r.map((c) => `<${tag}>${typeof c === 'number' ? String(c) : escape(c)}</${tag}>`).join('');
  return `<table><thead><tr>${cells('th', head)}</tr></thead><tbody>${rows.map((r) => `<tr>${cells('td', r)}</tr>`).join('')}</tbody></table>`;
}

/** A page up to its `<body>`: the style both reports share, then the page's own `style` rules. */
export function pageHead(title: string, style: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escape(title)}</title>
<style>
body { font: 15px/1.5 system-ui, sans-serif; max-width: 980px; margin: 2em auto; padding: 0 1em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; font-size: 13px; } td, th { border: 1px solid #ccc; padding: 2px 8px; text-align: right; } th { white-space: nowrap; }
td:first-child, th:first-child { text-align: left; } .claim { color: #555; font-style: italic; } .headline { font-size: 16px; }
svg { display: block; margin: 1em 0; } ${style}
</style></head><body>`;
}
