import * as echarts from 'echarts';
import { si } from './si.js';

/**
 * Charts as inline SVG strings, drawn by Apache ECharts' server-side renderer (no browser, no
 * DOM): one function per kind of chart the reports use. Every chart has its title on the first
 * line, its legend on the second and the plot below both; one unit per axis, named on the axis.
 */

const width = 720, height = 360;
const titleStyle = { text: '', left: 'center', top: 4, textStyle: { fontSize: 14 } };
const legendStyle = { top: 30, type: 'scroll' as const, itemGap: 16 };
const plotTop = 76;
/** Two rows of legend, every name visible, for charts of more lines than one row holds (a scrolling legend hides some); the plot moves down by a row. */
const wrappedLegend = { top: 30, type: 'plain' as const, itemGap: 12, left: 'center', width: width - 60 };
const legendRow = 24;

function render(option: echarts.EChartsCoreOption, h = height): string {
  const chart = echarts.init(null, null, { renderer: 'svg', ssr: true, width, height: h });
  chart.setOption({ animation: false, textStyle: { fontFamily: 'system-ui, sans-serif' }, ...option });
  const svg = chart.renderToSVGString();
  chart.dispose();
  return svg;
}

interface Axis {
  /** The axis name, with its unit: "training FLOPs", "seconds", "cross-entropy (nats)". */
  name: string;
  /** Label ticks with SI prefixes (for counts in the millions and billions). */
  si?: boolean;
}

const valueAxis = (axis: Axis, gap: number, position?: 'left' | 'right') => ({
  type: 'value', name: axis.name, nameLocation: 'middle', nameGap: gap, scale: true, position,
  // At most 3 significant digits: an axis that ends at the data's maximum labels it too.
  axisLabel: { hideOverlap: true, formatter: axis.si ? si : (v: number) => String(Number(v.toPrecision(3))) },
});

export interface Line {
  name: string;
  /** The line itself: the mean over seeds, or the one run. */
  points: [number, number][];
  /** The min–max over seeds at the same x, drawn as a shaded band. */
  band?: { lower: number[]; upper: number[] };
}

const palette = ['#5470c6', '#91cc75', '#fac858', '#ee6666', '#73c0de', '#3ba272', '#fc8452', '#9a60b4'];

export function lineChart(opts: { title: string; x: Axis; y: Axis; lines: Line[] }): string {
  const wrap = opts.lines.length > 5;
  const series = opts.lines.flatMap((l, i) => {
    const color = palette[i % palette.length]!;
    const line = { type: 'line', name: l.name, data: l.points, showSymbol: false, lineStyle: { width: 1.5, color }, itemStyle: { color }, z: 3 };
    if (!l.band) return [line];
    // A band is two stacked series: an invisible lower edge, then the band's height on top of it.
    const stack = `band-${i}`;
    const edge = (values: number[]) => l.points.map(([x], j) => [x, values[j]!]);
    return [
      line,
      { type: 'line', name: l.name, stack, data: edge(l.band.lower), showSymbol: false, lineStyle: { opacity: 0 }, silent: true },
      { type: 'line', name: l.name, stack, data: edge(l.band.upper.map((u, j) => u - l.band!.lower[j]!)), showSymbol: false, lineStyle: { opacity: 0 }, areaStyle: { color, opacity: 0.18 }, silent: true },
    ];
  });
  return render({
    title: { ...titleStyle, text: opts.title },
    legend: { ...(wrap ? wrappedLegend : legendStyle), data: opts.lines.map((l) => l.name) },
    grid: { left: 72, right: 40, top: plotTop + (wrap ? legendRow : 0), bottom: 48 },
    xAxis: { ...valueAxis(opts.x, 28), max: 'dataMax' },
    yAxis: valueAxis(opts.y, 50),
    series,
  }, height + (wrap ? legendRow : 0));
}

/** Grouped bars; with two y axes when the bars have two units (`axis: 1` bars on the right one). */
export function barChart(opts: { title: string; categories: string[]; y: Axis[]; bars: { name: string; values: number[]; axis?: 0 | 1; /** Decimals of the bar labels; default: the value as given. */ digits?: number; /** Labels with SI prefixes (527 k), for large counts side by side. */ si?: boolean }[] }): string {
  const slanted = opts.categories.length > 5;
  return render({
    title: { ...titleStyle, text: opts.title },
    legend: legendStyle,
    // Many categories: every label, slanted, rather than ECharts hiding the ones that would overlap.
    grid: { left: 72, right: opts.y.length > 1 ? 72 : 24, top: plotTop, bottom: slanted ? 76 : 40 },
    xAxis: { type: 'category', data: opts.categories, ...(slanted && { axisLabel: { interval: 0, rotate: 20, fontSize: 11 } }) },
    yAxis: opts.y.map((axis, i) => ({ ...valueAxis(axis, 50, i === 0 ? 'left' : 'right'), scale: false })),
    series: opts.bars.map((b) => ({
      type: 'bar', name: b.name, yAxisIndex: b.axis ?? 0, data: b.values,
      label: { show: true, position: 'top', fontSize: 10, formatter: (p: { value: number }) => (b.si ? si(p.value) : b.digits === undefined ? String(p.value) : p.value.toFixed(b.digits)) },
    })),
  });
}

/**
 * values[row][column], shares of the row's tokens, with rows bottom to top as ECharts draws them.
 * The colour scale is centred on the uniform share (1/columns for a row of shares over experts):
 * blue below it, white at it, red above, in steps of half the uniform share, so that a pale map
 * means an even spread, not a scale too wide for the data.
 */
export function heatmap(opts: { title: string; columns: string[]; rows: string[]; x: string; y: string; values: number[][]; uniform: number; labels?: boolean }): string {
  const data = opts.values.flatMap((row, r) => row.map((v, c) => [c, r, Number(v.toFixed(3))]));
  const u = opts.uniform, high = Math.max(...data.map((d) => d[2]!)) > 4 * u;
  const times = (from: number, to: number): string => `${from}–${to} ×`;
  const pieces = [
    { lt: 0.5 * u, color: '#4575b4', label: '< 0.5 ×' },
    { gte: 0.5 * u, lt: 0.8 * u, color: '#abd9e9', label: times(0.5, 0.8) },
    { gte: 0.8 * u, lt: 1.25 * u, color: '#f7f7f7', label: `${times(0.8, 1.25)} uniform (${si(u)})` },
    { gte: 1.25 * u, lt: 2 * u, color: '#fdae61', label: times(1.25, 2) },
    high ? { gte: 2 * u, lt: 4 * u, color: '#f46d43', label: times(2, 4) } : { gte: 2 * u, color: '#f46d43', label: '≥ 2 ×' },
    ...(high ? [{ gte: 4 * u, color: '#a50026', label: '≥ 4 ×' }] : []),
  ];
  return render({
    title: { ...titleStyle, text: opts.title },
    grid: { left: 80, right: 24, top: 40, bottom: 96 },
    xAxis: { type: 'category', data: opts.columns, name: opts.x, nameLocation: 'middle', nameGap: 26 },
    yAxis: { type: 'category', data: opts.rows, name: opts.y, nameLocation: 'middle', nameGap: 60 },
    visualMap: { type: 'piecewise', pieces, orient: 'horizontal', left: 'center', bottom: 4, itemGap: 18, itemWidth: 14, textStyle: { fontSize: 11 } },
    series: [{ type: 'heatmap', data, itemStyle: { borderColor: '#fff', borderWidth: 1 }, label: { show: opts.labels ?? false, fontSize: 9, formatter: (p: { value: number[] }) => p.value[2]!.toFixed(2) } }],
  }, Math.max(height, 140 + 22 * opts.rows.length));
}
