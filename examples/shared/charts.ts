import * as echarts from 'echarts';

/**
 * Charts as inline SVG strings, drawn by Apache ECharts' server-side renderer (no browser, no
 * DOM): one function per kind of chart the reports use.
 */

const width = 720, height = 360;

function render(option: echarts.EChartsCoreOption, h = height): string {
  const chart = echarts.init(null, null, { renderer: 'svg', ssr: true, width, height: h });
  chart.setOption({ animation: false, textStyle: { fontFamily: 'system-ui, sans-serif' }, ...option });
  const svg = chart.renderToSVGString();
  chart.dispose();
  return svg;
}

export interface Line {
  name: string;
  points: [number, number][];
}

export function lineChart(opts: { title: string; x: string; y: string; lines: Line[]; logX?: boolean }): string {
  return render({
    title: { text: opts.title, left: 'center', textStyle: { fontSize: 14 } },
    legend: { top: 26, type: 'scroll' },
    grid: { left: 64, right: 24, top: 64, bottom: 48 },
    xAxis: { type: opts.logX ? 'log' : 'value', name: opts.x, nameLocation: 'middle', nameGap: 28, scale: true },
    yAxis: { type: 'value', name: opts.y, nameLocation: 'middle', nameGap: 44, scale: true },
    series: opts.lines.map((l) => ({ type: 'line', name: l.name, data: l.points, showSymbol: false, lineStyle: { width: 1.5 } })),
  });
}

export function barChart(opts: { title: string; categories: string[]; y: string; bars: { name: string; values: number[] }[] }): string {
  return render({
    title: { text: opts.title, left: 'center', textStyle: { fontSize: 14 } },
    legend: { top: 26 },
    grid: { left: 64, right: 24, top: 64, bottom: 40 },
    xAxis: { type: 'category', data: opts.categories },
    yAxis: { type: 'value', name: opts.y, nameLocation: 'middle', nameGap: 44 },
    series: opts.bars.map((b) => ({ type: 'bar', name: b.name, data: b.values, label: { show: true, position: 'top', fontSize: 10 } })),
  });
}

/** values[row][column] in [0, 1] (a share), drawn with rows bottom to top as ECharts does. */
export function heatmap(opts: { title: string; columns: string[]; rows: string[]; x: string; y: string; values: number[][]; labels?: boolean }): string {
  const data = opts.values.flatMap((row, r) => row.map((v, c) => [c, r, Number(v.toFixed(3))]));
  return render({
    title: { text: opts.title, left: 'center', textStyle: { fontSize: 14 } },
    grid: { left: 80, right: 24, top: 40, bottom: 84 },
    xAxis: { type: 'category', data: opts.columns, name: opts.x, nameLocation: 'middle', nameGap: 26, splitArea: { show: true } },
    yAxis: { type: 'category', data: opts.rows, name: opts.y, nameLocation: 'middle', nameGap: 60, splitArea: { show: true } },
    visualMap: { min: 0, max: 1, calculable: false, orient: 'horizontal', left: 'center', bottom: 4, itemHeight: 200, text: ['share 1', '0'] },
    series: [{ type: 'heatmap', data, label: { show: opts.labels ?? false, fontSize: 9, formatter: (p: { value: number[] }) => p.value[2]!.toFixed(2) } }],
  });
}
