// Parallel coordinates in SVG: one vertical axis per dimension, one polyline per item through its
// values, coloured from worse to better. Axes are linear, logarithmic, or categorical (one tick per
// value, in the order given).
import { svg } from './dom.js';
import { formatNumber } from './format.js';

const MARGIN = { top: 44, bottom: 34, left: 70, right: 70 };
/** Worse → better. */
const STOPS = ['#d1495b', '#ef8354', '#c9a227', '#2a9d8f', '#0b62c4'];
const UNSCORED = '#b8bec9';

const hex = (colour) => [1, 3, 5].map((i) => parseInt(colour.slice(i, i + 2), 16));
/** The colour at t in [0, 1] along STOPS. */
export function scoreColour(t) {
  const at = Math.min(Math.max(t, 0), 1) * (STOPS.length - 1);
  const i = Math.min(Math.floor(at), STOPS.length - 2);
  const [a, b] = [hex(STOPS[i]), hex(STOPS[i + 1])];
  return `rgb(${a.map((channel, k) => Math.round(channel + (b[k] - channel) * (at - i))).join(',')})`;
}

const sameValue = (a, b) => JSON.stringify(a) === JSON.stringify(b);
const shorten = (text, length = 16) => (text.length > length ? `${text.slice(0, length - 1)}…` : text);

/** Where a value sits on an axis, 0 (bottom) to 1 (top); null when it has none there. */
function position(axis, value) {
  if (value === undefined || value === null) return null;
  if (axis.kind === 'category') {
    const index = axis.values.findIndex((candidate) => sameValue(candidate, value));
    if (index < 0) return null;
    return axis.values.length > 1 ? index / (axis.values.length - 1) : 0.5;
  }
  if (typeof value !== 'number' || !Number.isFinite(value)) return null;
  const [low, high, v] = axis.kind === 'log' ? [Math.log(axis.low), Math.log(axis.high), Math.log(value)] : [axis.low, axis.high, value];
  if (!(high > low)) return 0.5;
  return Math.min(Math.max((v - low) / (high - low), 0), 1);
}

/** An axis's ticks as [value, label]: decades on a log axis, five steps on a linear one (whole numbers for integers), every value of a category. */
function ticks(axis) {
  if (axis.kind === 'category') return axis.values.map((value) => [value, shorten(axis.label ? axis.label(value) : JSON.stringify(value))]);
  const label = (value) => formatNumber(Number(value.toPrecision(3)));
  if (!(axis.high > axis.low)) return [[axis.low, label(axis.low)]];
  if (axis.kind === 'log') {
    const decades = [];
    for (let exponent = Math.ceil(Math.log10(axis.low)); 10 ** exponent <= axis.high; exponent += 1) decades.push(10 ** exponent);
    const values = decades.length >= 2 ? decades : [axis.low, Math.sqrt(axis.low * axis.high), axis.high];
    return values.map((value) => [value, label(value)]);
  }
  // About four steps of 1, 2 or 5 × a power of ten (whole numbers on an integer axis), and the ends.
  const rough = (axis.high - axis.low) / 4;
  const power = 10 ** Math.floor(Math.log10(rough));
  const step = Math.max([1, 2, 5, 10].map((m) => m * power).find((candidate) => candidate >= rough), axis.integer ? 1 : 0);
  const values = [axis.low];
  for (let value = Math.ceil(axis.low / step) * step; value < axis.high; value += step) {
    if (value - axis.low > step / 3 && axis.high - value > step / 3) values.push(value);
  }
  values.push(axis.high);
  return values.map((value) => [value, label(value)]);
}

/**
 * axes: [{ name, kind: 'linear' | 'log' | 'category', low, high, integer?, values?, label? }]
 * (`values` and `label(value)` for a category). lines: [{ key, values: one per axis (undefined where
 * it has none), score: 0 (worst) to 1 (best) or null, title }]. `legend`: the words at either end
 * of the colour bar.
 */
export function parallelCoordinates(axes, lines, { width = 600, height = 300, legend = ['worse', 'better'] } = {}) {
  const inner = { left: MARGIN.left, right: width - MARGIN.right, top: MARGIN.top, bottom: height - MARGIN.bottom };
  const xOf = (i) => (axes.length > 1 ? inner.left + ((inner.right - inner.left) * i) / (axes.length - 1) : (inner.left + inner.right) / 2);
  const yOf = (t) => inner.bottom - t * (inner.bottom - inner.top);
  const gradientId = `pc-gradient-${Math.random().toString(36).slice(2)}`;

  // Unscored lines underneath, then worse to better, so the best trials are drawn on top.
  const ordered = [...lines].sort((a, b) => (a.score ?? -1) - (b.score ?? -1));
  const polylines = ordered.map((line) => {
    const points = axes.flatMap((axis, i) => {
      const t = position(axis, line.values[i]);
      return t === null ? [] : [`${xOf(i).toFixed(1)},${yOf(t).toFixed(1)}`];
    });
    return svg(
      'polyline',
      { points: points.join(' '), 'data-line': line.key, stroke: line.score === null ? UNSCORED : scoreColour(line.score), 'stroke-dasharray': line.score === null ? '4 3' : null },
      svg('title', {}, line.title),
    );
  });

  const axisNodes = axes.map((axis, i) => {
    const x = xOf(i);
    return svg(
      'g',
      { class: 'pc-axis', 'data-axis': axis.name, 'data-kind': axis.kind },
      svg('line', { x1: x, x2: x, y1: inner.top, y2: inner.bottom }),
      svg('text', { x, y: inner.top - 22, 'text-anchor': 'middle', class: 'pc-name' }, shorten(axis.name, 24), svg('title', {}, axis.name)),
      svg('text', { x, y: inner.top - 10, 'text-anchor': 'middle', class: 'pc-kind' }, axis.kind === 'log' ? 'log' : axis.kind === 'category' ? 'choice' : ''),
      ...ticks(axis).flatMap(([value, text]) => {
        const y = yOf(position(axis, value) ?? 0);
        return [svg('line', { x1: x - 4, x2: x, y1: y, y2: y }), svg('text', { x: x - 7, y: y + 4, 'text-anchor': 'end', class: 'pc-tick' }, text)];
      }),
    );
  });

  const bar = { x: inner.left, y: height - 14, width: 160 };
  return svg(
    'svg',
    { class: 'pcoords', width, height, viewBox: `0 0 ${width} ${height}`, role: 'img' },
    svg('defs', {}, svg('linearGradient', { id: gradientId }, ...STOPS.map((colour, i) => svg('stop', { offset: `${(100 * i) / (STOPS.length - 1)}%`, 'stop-color': colour })))),
    svg('g', { class: 'pc-lines' }, ...polylines),
    ...axisNodes,
    svg('text', { x: bar.x - 6, y: bar.y + 4, 'text-anchor': 'end', class: 'pc-tick' }, legend[0]),
    svg('rect', { x: bar.x, y: bar.y - 4, width: bar.width, height: 8, fill: `url(#${gradientId})` }),
    svg('text', { x: bar.x + bar.width + 6, y: bar.y + 4, class: 'pc-tick' }, legend[1]),
  );
}
