/**
 * A number with an SI prefix and at most 3 significant digits: 25 G, 700 M, 1.5 k, 0.25. The axis
 * labels of the report's charts (charts.ts) and of the playground's; no imports, so the page can
 * take it without the report's server-side ECharts.
 */
export function si(x: number): string {
  const prefixes: [number, string][] = [[1e12, 'T'], [1e9, 'G'], [1e6, 'M'], [1e3, 'k']];
  const [scale, prefix] = prefixes.find(([p]) => Math.abs(x) >= p) ?? [1, ''];
  return `${Number((x / scale).toPrecision(3))}${prefix ? ` ${prefix}` : ''}`;
}
