// Runs side by side: any metric's curves, one distinct colour and label per run, and the spec
// fields that differ.
import { api } from '../api.js';
import { el } from '../dom.js';
import { runLabel, shortener } from '../format.js';
import { lineChart } from '../charts.js';

const view = () => document.getElementById('view');

function flatten(value, prefix = '', out = {}) {
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    for (const [key, inner] of Object.entries(value)) flatten(inner, prefix ? `${prefix}.${key}` : key, out);
  } else if (Array.isArray(value)) {
    value.forEach((inner, i) => flatten(inner, `${prefix}[${i}]`, out));
  } else out[prefix] = value;
  return out;
}

export async function compareView(ids, params) {
  const jobs = (await Promise.all(ids.map((id) => api(`/v1/jobs/${id}`)))).filter((r) => r.ok).map((r) => r.body);
  const short = shortener(jobs.map((job) => job.id));
  const label = (job) => runLabel(job, short);
  const series = new Map(await Promise.all(jobs.map(async (job) => [job.id, (await api(`/v1/jobs/${job.id}/metrics?scope=epoch&limit=10000`)).body?.data ?? []])));
  const names = [...new Set([...series.values()].flatMap((metrics) => metrics.flatMap((m) => Object.keys(m.values))))].sort();
  const chosen = [params.get('a'), params.get('b')];
  const first = names.includes(chosen[0]) ? chosen[0] : names.includes('val_loss') ? 'val_loss' : names[0];
  const second = names.includes(chosen[1]) ? chosen[1] : names.find((name) => /val_(accuracy|mae)$/.test(name)) ?? names.find((name) => name !== first);

  const chartOf = (metricName) => {
    const chart = lineChart(`${metricName} per epoch`, jobs.map(label), { width: 560, y: metricName === 'learning_rate' ? 'rate' : 'value' });
    for (const job of jobs) for (const m of series.get(job.id)) if (m.values[metricName] !== undefined) chart.set(m.epoch, { [label(job)]: m.values[metricName] });
    return chart;
  };
  const slot = (index, metricName) => {
    const holder = el('div', { class: 'chart-slot' });
    let chart = chartOf(metricName);
    const picker = el('select', { 'data-metric-picker': index, onchange: (event) => {
      chart.destroy();
      chart = chartOf(event.target.value);
      holder.replaceChildren(picker, chart.container);
    } }, ...names.map((name) => el('option', { value: name, selected: name === metricName }, name)));
    holder.append(picker, chart.container);
    return holder;
  };

  const flat = jobs.map((job) => flatten(job.spec));
  const keys = [...new Set(flat.flatMap((f) => Object.keys(f)))].sort();
  const differing = keys.filter((key) => new Set(flat.map((f) => JSON.stringify(f[key]))).size > 1);
  view().replaceChildren(
    el('h1', {}, `Compare ${jobs.length} runs`),
    el('div', { class: 'charts' }, ...(first ? [slot(0, first)] : []), ...(second ? [slot(1, second)] : [])),
    el('h2', {}, 'Spec differences'),
    el('table', { id: 'spec-diff' },
      el('thead', {}, el('tr', {}, el('th', {}, 'field'), ...jobs.map((job) => el('th', {}, el('a', { href: `#/jobs/${job.id}` }, label(job)))))),
      el('tbody', {}, ...(differing.length ? differing.map((key) => el('tr', { 'data-field': key }, el('td', {}, key), ...flat.map((f) => el('td', {}, f[key] === undefined ? '–' : JSON.stringify(f[key])))))
        : [el('tr', {}, el('td', { colspan: jobs.length + 1 }, 'the specs are identical'))]))),
  );
  return () => {};
}
