// Line charts on uPlot (loaded by index.html as a global), with readable axes.
import { el } from './dom.js';
import { integerTicks, scientificTicks, valueTicks } from './format.js';

/** Distinct colours, in an order where neighbours differ most. */
export const palette = ['#0b62c4', '#d1495b', '#2a9d8f', '#8a6d00', '#6a4c93', '#ef8354', '#1b998b', '#c2185b', '#5c6bc0', '#7cb342'];

const wholeNumberAxis = (label) => ({ label, values: integerTicks, incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000] });

/**
 * A chart whose series grow as points arrive. `x`: 'epoch' or 'step' (whole numbers on the axis);
 * `y`: 'value' or 'rate' (learning rates in scientific notation).
 */
export function lineChart(title, seriesNames, { width = 520, x = 'epoch', y = 'value' } = {}) {
  const container = el('div', { class: 'chart', 'data-chart': title, 'data-points': 0 }, el('h3', {}, title));
  const data = [[], ...seriesNames.map(() => [])];
  const plot = new uPlot(
    {
      width,
      height: 220,
      scales: { x: { time: false } },
      axes: [
        wholeNumberAxis(x),
        { values: y === 'rate' ? scientificTicks : valueTicks, size: 64 },
      ],
      series: [{ label: x }, ...seriesNames.map((label, i) => ({ label, stroke: palette[i % palette.length], width: 1.5, spanGaps: true }))],
    },
    data,
    container,
  );
  return {
    container,
    /** Adds (or replaces) the point at x; values keyed by series name. */
    set(at, values) {
      let index = data[0].indexOf(at);
      if (index < 0) {
        index = data[0].findIndex((existing) => existing > at);
        if (index < 0) index = data[0].length;
        data.forEach((column) => column.splice(index, 0, null));
        data[0][index] = at;
      }
      seriesNames.forEach((name, i) => {
        if (values[name] !== undefined) data[i + 1][index] = values[name];
      });
      plot.setData(data);
      container.setAttribute('data-points', String(data[0].length));
    },
    destroy: () => plot.destroy(),
  };
}

/**
 * Curves of many series over epochs, with dashed vertical markers (a study's rungs or intervals)
 * drawn on uPlot's canvas after the series. `series`: [{ label, colour }]; `markers`: [{ at, label }];
 * `xMax` holds the axis at the whole run, so the markers show before any curve reaches them.
 * setData takes uPlot's columns: the epochs, then one column per series.
 */
export function markedLineChart(title, series, { markers = [], xMax, width = 560, height = 260 } = {}) {
  const container = el('div', { class: 'chart', 'data-chart': title, 'data-series': series.length, 'data-points': 0, 'data-markers': markers.map((marker) => marker.at).join(',') }, el('h3', {}, title));
  const drawMarkers = (u) => {
    const { ctx, bbox } = u;
    const ratio = window.devicePixelRatio || 1;
    ctx.save();
    ctx.strokeStyle = '#8a93a3';
    ctx.fillStyle = '#5a6270';
    ctx.lineWidth = ratio;
    ctx.setLineDash([4 * ratio, 4 * ratio]);
    ctx.font = `${11 * ratio}px system-ui, sans-serif`;
    for (const marker of markers) {
      const x = Math.round(u.valToPos(marker.at, 'x', true));
      if (x < bbox.left || x > bbox.left + bbox.width) continue;
      ctx.beginPath();
      ctx.moveTo(x, bbox.top);
      ctx.lineTo(x, bbox.top + bbox.height);
      ctx.stroke();
      if (marker.label) ctx.fillText(marker.label, x + 3 * ratio, bbox.top + 12 * ratio);
    }
    ctx.restore();
  };
  const plot = new uPlot(
    {
      width,
      height,
      // From 0, so a marker at epoch 1 stands clear of the value axis.
      scales: { x: { time: false, range: (_u, _min, max) => [0, Math.max(xMax ?? max ?? 1, 1)] } },
      axes: [wholeNumberAxis('epoch'), { values: valueTicks, size: 64 }],
      series: [{ label: 'epoch' }, ...series.map((s) => ({ label: s.label, stroke: s.colour, width: 1.5, spanGaps: true }))],
      hooks: { draw: [drawMarkers] },
    },
    [[], ...series.map(() => [])],
    container,
  );
  return {
    container,
    setData(data) {
      plot.setData(data);
      container.setAttribute('data-points', String(data[0].length));
    },
    destroy: () => plot.destroy(),
  };
}
