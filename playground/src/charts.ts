import { BarChart, HeatmapChart, LineChart, type BarSeriesOption, type HeatmapSeriesOption, type LineSeriesOption } from 'echarts/charts';
import {
  GridComponent, LegendComponent, MarkLineComponent, VisualMapPiecewiseComponent,
  type GridComponentOption, type LegendComponentOption, type MarkLineComponentOption, type VisualMapComponentOption,
} from 'echarts/components';
import { init, use, type ComposeOption, type EChartsType } from 'echarts/core';
import { SVGRenderer } from 'echarts/renderers';
import { si } from '../../examples/shared/si.js';
import { expertColor } from './dom.js';

// Apache ECharts, as the report draws its charts (examples/shared/charts.ts), but in the browser and
// tree-shaken: only the chart types and components below are in echarts-*.js (vite.config.ts). The page
// imports this module dynamically (train-view.ts), so that its first view need not wait for it.
use([LineChart, BarChart, HeatmapChart, GridComponent, LegendComponent, MarkLineComponent, VisualMapPiecewiseComponent, SVGRenderer]);

type Option = ComposeOption<
  LineSeriesOption | BarSeriesOption | HeatmapSeriesOption | GridComponentOption | LegendComponentOption | MarkLineComponentOption | VisualMapComponentOption
>;

/**
 * One ECharts instance in `element` (a box as wide as its figure, see chartBox in dom.ts). It is
 * created at the first `set` (the box must be in the page by then, to have a size) and from then
 * on updated in place with setOption; it follows the box's width (a window resize, a phone turned).
 */
export class Chart {
  private chart: EChartsType | null = null;

  constructor(readonly element: HTMLElement) {}

  /** Draws `option` now (setOption renders synchronously): after this call the chart shows it. */
  set(option: Option): void {
    if (!this.chart) {
      this.chart = init(this.element, null, { renderer: 'svg' });
      const chart = this.chart, box = this.element;
      // Not while hidden (a run's first moments): a box of no width would draw nothing.
      new ResizeObserver(() => { if (box.clientWidth > 0) chart.resize(); }).observe(box);
    }
    this.chart.setOption({ animation: false, textStyle: { fontFamily: 'system-ui, sans-serif' }, ...option });
  }

  /** Empties the chart (a new run), keeping its instance. */
  clear(): void {
    this.chart?.clear();
  }
}

export interface Series {
  name: string;
  color: string;
  points: [number, number][];
}

export interface Axis {
  /** The axis name with its unit, named on the axis as in the report: "training FLOPs", "cross-entropy (nats)". */
  name: string;
  /** Tick labels with SI prefixes (for counts in the millions and billions). */
  si?: boolean;
}

const valueAxis = (axis: Axis, gap: number) => ({
  type: 'value' as const, name: axis.name, nameLocation: 'middle' as const, nameGap: gap, scale: true,
  axisLabel: { hideOverlap: true, formatter: axis.si ? si : (v: number) => String(Number(v.toPrecision(3))) },
});

/** Lines on shared value axes, the legend on top. A line of one point shows its point. */
export function lineOption(x: Axis, y: Axis, series: Series[]): Option {
  return {
    legend: { top: 0, data: series.map((s) => s.name) },
    grid: { left: 52, right: 18, top: 32, bottom: 44 },
    xAxis: { ...valueAxis(x, 26), max: 'dataMax' },
    yAxis: valueAxis(y, 38),
    series: series.map((s) => ({
      type: 'line', name: s.name, data: s.points, showSymbol: s.points.length < 2, symbolSize: 5,
      lineStyle: { width: 1.5, color: s.color }, itemStyle: { color: s.color },
    })),
  };
}

/** Tokens per expert as bars in the experts' colours, with the capacity as a dashed line (none before step 1). */
export function loadOption(tokensPerExpert: number[], capacity: number | null): Option {
  return {
    grid: { left: 44, right: 56, top: 16, bottom: 44 },
    xAxis: { type: 'category', data: tokensPerExpert.map((_, e) => `e${e}`), name: 'expert', nameLocation: 'middle', nameGap: 26 },
    // Room above the capacity line for its bars' labels; the top tick, not a round number, unlabelled.
    yAxis: { type: 'value', name: 'tokens', nameLocation: 'middle', nameGap: 30, max: (v: { max: number }) => Math.max(v.max, capacity ?? 1) * 1.15, axisLabel: { showMaxLabel: false } },
    series: [{
      type: 'bar', name: 'tokens', data: tokensPerExpert.map((n, e) => ({ value: n, itemStyle: { color: expertColor(e) } })),
      label: { show: true, position: 'top', fontSize: 10 },
      markLine: {
        symbol: 'none', silent: true, lineStyle: { color: '#222', type: 'dashed', width: 1.5 },
        label: { position: 'end', formatter: `C = ${capacity}` }, data: capacity === null ? [] : [{ yAxis: capacity }],
      },
    }],
  };
}

/**
 * values[row][column], shares of the row's tokens; rows top to bottom as in the table. The colour
 * scale is the report's: centred on the uniform share 1/columns, blue below, white at it, red
 * above, so that a pale map means an even spread.
 */
export function heatOption(columns: string[], rows: readonly string[], values: number[][]): Option {
  const u = 1 / columns.length;
  // Labelled in multiples of the uniform share (the figure's caption says so): short enough for a phone's width.
  const pieces = [
    { lt: 0.5 * u, color: '#4575b4', label: '< 0.5' },
    { gte: 0.5 * u, lt: 0.8 * u, color: '#abd9e9', label: '0.5–0.8' },
    { gte: 0.8 * u, lt: 1.25 * u, color: '#f7f7f7', label: '0.8–1.25' },
    { gte: 1.25 * u, lt: 2 * u, color: '#fdae61', label: '1.25–2' },
    { gte: 2 * u, color: '#d73027', label: '≥ 2' },
  ];
  return {
    grid: { left: 64, right: 12, top: 8, bottom: 72 },
    xAxis: { type: 'category', data: columns, name: 'expert', nameLocation: 'middle', nameGap: 24 },
    // ECharts draws the first category at the bottom: reversed, rows read top to bottom as the table's.
    yAxis: { type: 'category', data: [...rows], inverse: true },
    visualMap: { type: 'piecewise', pieces, orient: 'horizontal', left: 'center', bottom: 0, itemGap: 8, itemWidth: 12, textStyle: { fontSize: 10 } },
    series: [{
      type: 'heatmap', data: values.flatMap((row, r) => row.map((v, c) => [c, r, Number(v.toFixed(2))])),
      itemStyle: { borderColor: '#fff', borderWidth: 1 }, label: { show: true, fontSize: 10, formatter: (p) => (p.value as number[])[2]!.toFixed(2) },
    }],
  };
}
