// The runs table: per job its final and best metrics, test scores, duration, speed, backend and main
// hyperparameters; sortable by any column, filtered by status and text; kept live by /v1/stream.
import { api, openStream } from '../api.js';
import { higherIsBetterPattern, jobStatuses } from '../contract.js';
import { el } from '../dom.js';
import { age, duration, metric, rate, shortener } from '../format.js';
import { compareValues } from '../sort.js';

const higherIsBetter = new RegExp(higherIsBetterPattern);

/** The columns; `value` gives what a cell shows and sorts by. */
function columns(metricNames, testNames) {
  const spec = (run) => run.spec;
  return [
    { key: 'name', title: 'Run', value: (run) => run.name ?? '', cell: (run, short) => el('a', { href: `#/jobs/${run.id}`, title: run.id }, el('span', { class: 'run-name' }, run.name ?? 'job'), ' ', el('code', {}, short(run.id))) },
    { key: 'status', title: 'Status', value: (run) => run.status, cell: (run) => el('span', { class: `status ${run.status}`, title: run.failureReason ?? run.waitingReason ?? '' }, run.status) },
    { key: 'epoch', title: 'Last epoch', value: (run) => run.summary.lastEpoch, cell: (run) => el('span', { class: 'last-epoch' }, run.summary.lastEpoch === null ? '–' : `${run.summary.lastEpoch}/${spec(run).epochs}`), numeric: true },
    ...metricNames.flatMap((name) => [
      { key: `final:${name}`, title: 'final', over: name, group: 'final', value: (run) => run.summary.final[name], cell: (run) => metric(run.summary.final[name]), numeric: true, higher: higherIsBetter.test(name) },
      { key: `best:${name}`, title: 'best', over: name, group: 'best', value: (run) => run.summary.best[name], cell: (run) => metric(run.summary.best[name]), numeric: true, higher: higherIsBetter.test(name) },
    ]),
    ...testNames.map((name) => ({ key: `test:${name}`, title: name.replace(/^test_/, ''), over: 'test', group: 'test', value: (run) => run.summary.test[name], cell: (run) => metric(run.summary.test[name]), numeric: true, higher: higherIsBetter.test(name) })),
    { key: 'duration', title: 'Duration', value: (run) => run.summary.durationMs, cell: (run) => duration(run.summary.durationMs), numeric: true },
    { key: 'speed', title: 'Samples/s', value: (run) => run.summary.samplesPerSecond, cell: (run) => rate(run.summary.samplesPerSecond).replace('/s', ''), numeric: true },
    { key: 'backend', title: 'Backend', value: (run) => run.backend ?? '', cell: (run) => run.backend ?? '' },
    { key: 'dataset', title: 'Data', value: (run) => spec(run).dataset.name, cell: (run) => spec(run).dataset.name },
    { key: 'optimizer', title: 'Optimizer', value: (run) => spec(run).optimizer.type, cell: (run) => spec(run).optimizer.type },
    { key: 'lr', title: 'LR', value: (run) => (typeof spec(run).learningRate === 'number' ? spec(run).learningRate : null), cell: (run) => (typeof spec(run).learningRate === 'number' ? spec(run).learningRate.toExponential(1) : spec(run).learningRate.type ?? 'schedule'), numeric: true },
    { key: 'batch', title: 'Batch', value: (run) => spec(run).batchSize, cell: (run) => String(spec(run).batchSize), numeric: true },
    { key: 'layers', title: 'Layers', value: (run) => spec(run).model.layers.length, cell: (run) => String(spec(run).model.layers.length), numeric: true },
    { key: 'created', title: 'Age', value: (run) => run.createdAt, cell: (run) => age(run.createdAt) },
  ];
}

/** The metrics a table of these runs shows: the validation loss and score when there are some, else the training ones. */
function objectiveMetrics(runs) {
  const seen = new Set(runs.flatMap((run) => [...Object.keys(run.summary.final), ...Object.keys(run.summary.best)]));
  const preferred = ['val_loss', 'val_accuracy', 'val_mae'].filter((name) => seen.has(name));
  return preferred.length ? preferred : ['loss', 'accuracy', 'mae'].filter((name) => seen.has(name));
}

export async function runsView(params) {
  const state = {
    status: params.get('status') ?? '',
    text: params.get('q') ?? '',
    sort: params.get('sort') ?? 'created',
    descending: (params.get('order') ?? 'desc') === 'desc',
  };
  const selected = new Set();
  const runs = new Map();
  const compare = el('button', { disabled: true, id: 'compare', onclick: () => (location.hash = `#/compare/${[...selected].join(',')}`) }, 'Compare selected');
  const filter = el(
    'select',
    { id: 'status-filter', onchange: (event) => { state.status = event.target.value; void load(); } },
    el('option', { value: '' }, 'all statuses'),
    ...jobStatuses.map((s) => el('option', { value: s, selected: s === state.status }, s)),
  );
  const search = el('input', { id: 'run-filter', type: 'search', placeholder: 'filter: name, id, data, optimizer, backend', size: 36, value: state.text, oninput: (event) => { state.text = event.target.value; render(); } });
  const table = el('table', { id: 'runs', class: 'runs' });
  const count = el('span', { class: 'muted', id: 'run-count' });
  view().replaceChildren(el('h1', {}, 'Runs'), el('div', { class: 'toolbar' }, filter, search, compare, count, el('a', { href: '#/submit' }, 'Submit a job')), el('div', { class: 'table-scroll' }, table));

  const matches = (run) => {
    const text = state.text.trim().toLowerCase();
    if (!text) return true;
    return [run.id, run.name ?? '', run.status, run.backend ?? '', run.spec.dataset.name, run.spec.optimizer.type].some((field) => field.toLowerCase().includes(text));
  };

  function render() {
    const all = [...runs.values()];
    const metricNames = objectiveMetrics(all);
    const testNames = [...new Set(all.flatMap((run) => Object.keys(run.summary.test)))].sort();
    const cols = columns(metricNames, testNames);
    const sortColumn = cols.find((column) => column.key === state.sort) ?? cols.at(-1);
    const shown = all.filter(matches).sort((a, b) => compareValues(sortColumn.value(a), sortColumn.value(b)) * (state.descending ? -1 : 1));
    const short = shortener(all.map((run) => run.id));
    const header = (column, rows) =>
      el('th', { rowspan: rows > 1 ? rows : false, 'data-sort': column.key, class: [column.group ?? '', column.numeric ? 'num' : '', column === sortColumn ? (state.descending ? 'sorted desc' : 'sorted asc') : ''].join(' ').trim(), title: 'sort', onclick: () => {
        state.descending = state.sort === column.key ? !state.descending : column.higher === true || column.key === 'created';
        state.sort = column.key;
        render();
      } }, column.title);
    const row = (run) =>
      el('tr', { 'data-job-row': run.id },
        el('td', {}, el('input', { type: 'checkbox', 'data-job': run.id, checked: selected.has(run.id), onchange: (event) => {
          if (event.target.checked) selected.add(run.id); else selected.delete(run.id);
          compare.disabled = selected.size < 2;
        } })),
        ...cols.map((column) => el('td', { class: [column.group ?? '', column.numeric ? 'num' : ''].join(' ').trim(), 'data-col': column.key }, column.cell(run, short))),
      );
    // Two header rows: a metric (or "test") over its columns, and the sortable column titles.
    const groups = [];
    for (const column of cols) {
      const last = groups.at(-1);
      if (column.over && last?.over === column.over) last.span += 1;
      else groups.push({ over: column.over, span: 1, column });
    }
    const top = el('tr', {}, el('th', { rowspan: 2 }), ...groups.map((group) => (group.over ? el('th', { colspan: group.span, class: 'group' }, group.over) : header(group.column, 2))));
    const bottom = el('tr', {}, ...cols.filter((column) => column.over).map((column) => header(column, 1)));
    table.replaceChildren(el('thead', {}, top, bottom), el('tbody', {}, ...shown.map(row)));
    count.textContent = `${shown.length} of ${runs.size} runs`;
  }

  async function load() {
    const { body } = await api(`/v1/runs?limit=200${state.status ? `&status=${state.status}` : ''}`);
    runs.clear();
    for (const run of body?.data ?? []) runs.set(run.id, run);
    render();
  }
  await load();

  // Live: status changes and epoch metrics of every job of the project.
  const stop = openStream('/v1/stream', (event) => {
    const run = runs.get(event.jobId);
    if (!run) {
      if (event.type === 'status' && (!state.status || event.data.status === state.status)) void load();
      return;
    }
    if (event.type === 'status') {
      run.status = event.data.status;
      if (event.data.backend) run.backend = event.data.backend;
      if (event.data.status === 'succeeded') void load();
    }
    if (event.type === 'metrics' && event.data.scope === 'epoch') {
      const { values, epoch, samplesPerSecond } = event.data;
      run.progress = event.data.progress ?? run.progress;
      run.summary.lastEpoch = epoch;
      run.summary.final = values;
      if (samplesPerSecond !== undefined) run.summary.samplesPerSecond = samplesPerSecond;
      for (const [name, value] of Object.entries(values)) {
        if (name === 'learning_rate') continue;
        const best = run.summary.best[name];
        run.summary.best[name] = best === undefined ? value : higherIsBetter.test(name) ? Math.max(best, value) : Math.min(best, value);
      }
    }
    render();
  });
  const timer = setInterval(render, 10_000);
  return () => { stop(); clearInterval(timer); };
}

const view = () => document.getElementById('view');
