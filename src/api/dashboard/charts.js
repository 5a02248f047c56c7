// Line charts on uPlot (loaded by index.html as a global), with readable axes.
import { el } from './dom.js';
import { integerTicks, scientificTicks, valueTicks } from './format.js';

/** Distinct colours, in an order where neighbours differ most. */
export const palette = ['#0b62c4', '#d1495b', '#2a9d8f', '#8a6d00', '#6a4c93', '#ef8354', '#1b998b', '#c2185b', '#5c6bc0', '#7cb342'];

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
        { label: x, values: integerTicks, incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000] },
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
