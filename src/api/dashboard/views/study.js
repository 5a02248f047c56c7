// One study: its status and reason, the best trial, the compute used against training every trial
// to the end, the actions its status allows, every trial's objective per epoch with the rungs or
// intervals marked, its parameters in parallel coordinates, and the trials table.
// Live: each event on the study's own stream reads the study again; its trials' jobs' epoch
// metrics and status changes arrive on /v1/stream.
import { api, openStream } from '../api.js';
import { studyActionRules, studyEndedStatuses, terminalStatuses } from '../contract.js';
import { el } from '../dom.js';
import { age, duration, formatNumber, shortener } from '../format.js';
import { markedLineChart, palette } from '../charts.js';
import { coalesced } from '../live.js';
import { parallelCoordinates } from '../parallel-coordinates.js';
import { compareValues } from '../sort.js';
import { algorithmText, computeText, judgementEpochs, latestResult, paramText, rangeText } from '../study-format.js';

const view = () => document.getElementById('view');
const ACTION_LABELS = { pause: 'Pause', resume: 'Resume', cancel: 'Cancel', 'train-best': 'Train best' };
const trialColour = (number) => palette[(number - 1) % palette.length];

/** The jobs a trial trained as, oldest first, and up to which epoch each one speaks for it (PBT: until it took another trial's checkpoint). */
function segmentsOf(trial) {
  if (trial.lineage.length === 0) return [{ job: trial.jobId, after: 0, until: Infinity }];
  return [trial.lineage[0].previousJob, ...trial.lineage.map((step) => step.job)].map((job, i) => ({
    job,
    after: i === 0 ? 0 : trial.lineage[i - 1].fromEpoch,
    until: trial.lineage[i]?.epoch ?? Infinity,
  }));
}

/** A parameter's axis in parallel coordinates: log for log-uniform values, one tick per value of a choice. */
function axisOf(path, param) {
  if (param.type === 'choice') return { name: path, kind: 'category', values: param.values, label: paramText };
  if (param.type === 'logUniform') return { name: path, kind: 'log', low: param.low, high: param.high };
  return { name: path, kind: param.type === 'int' && param.log ? 'log' : 'linear', low: param.low, high: param.high, integer: param.type === 'int' };
}

export async function studyView(id) {
  const first = await api(`/v1/studies/${id}`);
  if (!first.ok) {
    view().replaceChildren(el('h1', {}, 'Study not found'), el('p', {}, first.body?.detail ?? ''));
    return () => {};
  }
  let study = first.body;
  const { spec } = study;
  const metric = spec.objective.metric;
  const maximize = spec.objective.mode === 'max';
  const paths = Object.keys(spec.space);
  const markers = judgementEpochs(spec);

  // data-study: which study's page this is, as a hash change keeps the previous page until the new one renders.
  const status = el('span', { id: 'study-status', 'data-study': id });
  const message = el('span', { class: 'muted', id: 'action-message' });
  const reason = el('div', { id: 'study-reason' });
  const facts = el('dl', { class: 'facts', id: 'study-summary' });
  const chartSlot = el('div', { id: 'study-chart' });
  const pcSlot = el('div', { class: 'chart', id: 'study-pcoords' });
  const table = el('table', { id: 'trials', class: 'runs' });
  const sort = { key: 'number', descending: false };

  const refresh = coalesced(async () => {
    const { ok, body } = await api(`/v1/studies/${id}`);
    if (ok) study = body;
    await loadMetrics();
    render();
  }, 300);

  const act = async (name) => {
    const { ok, status: code, body } = await api(`/v1/studies/${id}/${name}`, { method: 'POST', body: '{}' });
    if (!ok) message.textContent = body?.detail ?? `${name} failed (${code})`;
    else if (name === 'train-best') message.replaceChildren('The best trial trains to the end as ', el('a', { href: `#/jobs/${body.id}`, id: 'train-best-job' }, body.name ?? body.id));
    else message.textContent = `${name} requested`;
    await refresh();
  };
  const buttons = Object.fromEntries(Object.keys(studyActionRules).map((name) => [name, el('button', { id: `${name}-button`, onclick: () => act(name) }, ACTION_LABELS[name] ?? name)]));

  // Every trial's objective per epoch, from its jobs' epoch metrics: read once, then extended by
  // the live ones and, for a job that is still training, by reading after the last step seen.
  const jobMetrics = new Map();
  const entryOf = (job) => {
    if (!jobMetrics.has(job)) jobMetrics.set(job, { points: new Map(), lastStep: 0, done: false });
    return jobMetrics.get(job);
  };
  const addPoint = (entry, { epoch, step, values }) => {
    if (typeof values[metric] === 'number') entry.points.set(epoch, values[metric]);
    entry.lastStep = Math.max(entry.lastStep, step);
  };
  async function loadMetrics() {
    const wanted = study.trials.flatMap((trial) =>
      segmentsOf(trial).map(({ job }) => ({ job, ended: job !== trial.jobId || terminalStatuses.includes(trial.jobStatus) })),
    );
    await Promise.all(
      wanted
        .filter(({ job }) => !entryOf(job).done)
        .map(async ({ job, ended }) => {
          const entry = entryOf(job);
          const { body } = await api(`/v1/jobs/${job}/metrics?scope=epoch&after=${entry.lastStep}&limit=10000`);
          for (const record of body?.data ?? []) addPoint(entry, record);
          entry.done = ended;
        }),
    );
  }
  const curveOf = (trial) => {
    const curve = new Map();
    for (const { job, after, until } of segmentsOf(trial)) {
      for (const [epoch, value] of jobMetrics.get(job)?.points ?? []) if (epoch > after && epoch <= until) curve.set(epoch, value);
    }
    return curve;
  };

  let chart = null;
  function renderChart() {
    const trials = [...study.trials].sort((a, b) => a.number - b.number);
    if (!chart || Number(chart.container.getAttribute('data-series')) !== trials.length) {
      chart?.destroy();
      chart = markedLineChart(`${metric} per epoch`, trials.map((trial) => ({ label: `trial ${trial.number}`, colour: trialColour(trial.number) })), { markers, xMax: spec.maxEpochs, width: 600 });
      const caption =
        spec.algorithm.type === 'asha'
          ? `Dashed: the rungs (epochs ${markers.map((m) => m.at).join(', ') || 'none'}), where a trial pauses and is promoted or stopped.`
          : spec.algorithm.type === 'pbt'
            ? `Dashed: every ${spec.algorithm.perturbationInterval} epochs, where a trial may take a better one's weights and explore.`
            : 'Every trial trains to the end.';
      chartSlot.replaceChildren(chart.container, el('p', { class: 'muted chart-caption' }, caption));
    }
    const curves = trials.map(curveOf);
    const epochs = [...new Set(curves.flatMap((curve) => [...curve.keys()]))].sort((a, b) => a - b);
    chart.setData([epochs, ...curves.map((curve) => epochs.map((epoch) => curve.get(epoch) ?? null))]);
  }

  function renderParallel() {
    const latest = study.trials.map((trial) => latestResult(trial)?.value).filter((value) => Number.isFinite(value));
    const [low, high] = latest.length ? [Math.min(...latest), Math.max(...latest)] : [0, 1];
    const score = (value) => (!Number.isFinite(value) ? null : high > low ? (maximize ? value - low : high - value) / (high - low) : 1);
    const axes = [...paths.map((path) => axisOf(path, spec.space[path])), { name: metric, kind: 'linear', low, high }];
    const lines = study.trials.map((trial) => {
      const value = latestResult(trial)?.value;
      const values = paths.map((path) => `${path} ${paramText(trial.params[path])}`).join(', ');
      return {
        key: trial.number,
        values: [...paths.map((path) => trial.params[path]), value],
        score: score(value),
        title: `trial ${trial.number}: ${values} → ${Number.isFinite(value) ? `${metric} ${formatNumber(value)}` : 'no result yet'}`,
      };
    });
    pcSlot.setAttribute('data-lines', String(lines.length));
    pcSlot.replaceChildren(
      el('h3', {}, `Parameters and ${metric} (latest)`),
      parallelCoordinates(axes, lines, { width: Math.max(600, 150 * axes.length), legend: ['worse', 'better'] }),
    );
  }

  function renderTable() {
    const short = shortener(study.trials.map((trial) => trial.jobId));
    const columns = [
      { key: 'number', title: '#', value: (t) => t.number, numeric: true, cell: (t) => {
        const swatch = el('span', { class: 'swatch' });
        swatch.style.backgroundColor = trialColour(t.number);
        return [swatch, String(t.number)];
      } },
      ...paths.map((path) => ({ key: `param:${path}`, title: path, numeric: true, value: (t) => (typeof t.params[path] === 'number' ? t.params[path] : paramText(t.params[path])), cell: (t) => paramText(t.params[path]) })),
      { key: 'state', title: 'State', value: (t) => t.state, cell: (t) => el('span', { class: `state ${t.state}` }, t.state) },
      { key: 'job-status', title: 'Job', value: (t) => t.jobStatus, cell: (t) => el('span', { class: `status ${t.jobStatus}` }, t.jobStatus) },
      { key: 'epochs', title: 'Epochs', numeric: true, value: (t) => t.epochsTrained, cell: (t) => (t.state === 'training' ? `${t.epochsTrained} → ${t.targetEpoch}` : String(t.epochsTrained)) },
      { key: 'objective', title: `${metric} ${maximize ? '↑' : '↓'}`, numeric: true, higher: maximize, value: (t) => latestResult(t)?.value ?? null, cell: (t) => {
        const result = latestResult(t);
        return result ? [formatNumber(result.value), el('span', { class: 'muted' }, ` @${result.epoch}`)] : '–';
      } },
      { key: 'reason', title: 'Reason', value: (t) => t.reason ?? '', cell: (t) => el('span', { class: 'reason' }, t.reason ?? '') },
      { key: 'job', title: 'Job page', value: (t) => t.jobId, cell: (t) => el('a', { href: `#/jobs/${t.jobId}`, title: t.jobId }, el('code', {}, short(t.jobId))) },
    ];
    const column = columns.find((c) => c.key === sort.key) ?? columns[0];
    const rows = [...study.trials].sort((a, b) => compareValues(column.value(a), column.value(b)) * (sort.descending ? -1 : 1) || a.number - b.number);
    const header = (c) =>
      el('th', {
        'data-sort': c.key,
        class: [c.numeric ? 'num' : '', c === column ? (sort.descending ? 'sorted desc' : 'sorted asc') : ''].join(' ').trim(),
        title: 'sort',
        onclick: () => {
          sort.descending = sort.key === c.key ? !sort.descending : c.higher === true;
          sort.key = c.key;
          renderTable();
        },
      }, c.title);
    table.replaceChildren(
      el('thead', {}, el('tr', {}, ...columns.map(header))),
      el('tbody', {}, ...rows.map((t) => el('tr', { 'data-trial-row': t.number, class: study.best?.trial === t.number ? 'best-trial' : false },
        ...columns.map((c) => el('td', { 'data-col': c.key, class: c.numeric ? 'num' : false }, c.cell(t)))))),
    );
  }

  function renderFacts() {
    const counts = new Map();
    for (const trial of study.trials) counts.set(trial.state, (counts.get(trial.state) ?? 0) + 1);
    const byState = [...counts].map(([state, count]) => `${count} ${state}`).join(', ');
    const ended = study.finishedAt ? Date.parse(study.finishedAt) : Date.now();
    const { compute, best } = study;
    const entries = [
      ['Status', study.status],
      ['Objective', `${metric}, ${maximize ? 'higher' : 'lower'} is better`],
      ['Algorithm', algorithmText(spec)],
      ['Trials', `${study.trials.length} of at most ${spec.maxTrials}${byState ? ` (${byState})` : ''}`],
      ['Best', best ? [`${metric} ${formatNumber(best.value)}: trial ${best.trial} at epoch ${best.epoch} · `, el('a', { href: `#/jobs/${best.jobId}` }, 'its job')] : 'no result yet'],
      ['Compute', `${computeText(compute)} · ${duration(compute.trialSeconds * 1000) || '0 s'} of training; about ${duration(compute.fullTrainingSeconds * 1000) || '0 s'} for every trial to the end`],
      ...(spec.budget.trialEpochs || spec.budget.seconds
        ? [['Budget', [spec.budget.trialEpochs ? `${spec.budget.trialEpochs} trial-epochs` : '', spec.budget.seconds ? `${spec.budget.seconds} s` : ''].filter(Boolean).join(', ')]]
        : []),
      ...(study.finalJobId ? [['Best trained', el('a', { href: `#/jobs/${study.finalJobId}` }, 'its job')]] : []),
      ['Duration', `${duration(ended - Date.parse(study.createdAt))}, started ${age(study.createdAt)} ago`],
    ];
    facts.replaceChildren(...entries.flatMap(([term, value]) => [el('dt', {}, term), el('dd', { 'data-fact': term }, value)]));
  }

  function render() {
    status.textContent = study.status;
    status.className = `status ${study.status}`;
    // What the API would accept now (it answers 409 otherwise): the rule it serves in contract.js.
    for (const [name, button] of Object.entries(buttons)) {
      const rule = studyActionRules[name];
      button.disabled = !rule.from.includes(study.status) || (rule.needsBest && !study.best);
    }
    reason.textContent = study.reason ?? '';
    reason.className = study.status === 'failed' ? 'error-banner' : 'muted';
    renderFacts();
    renderChart();
    renderParallel();
    renderTable();
  }

  view().replaceChildren(
    el('h1', {}, `${study.name ?? 'Study'} `, el('span', { class: 'muted' }, id)),
    el('div', { class: 'toolbar' }, status, ...Object.values(buttons), message),
    reason,
    el('div', { class: 'summary' }, facts, el('dl', { class: 'facts', id: 'study-space' }, ...paths.flatMap((path) => [el('dt', {}, el('code', {}, path)), el('dd', {}, rangeText(spec.space[path]))]))),
    el('div', { class: 'charts' }, chartSlot, pcSlot),
    el('h2', {}, 'Trials'),
    el('div', { class: 'table-scroll' }, table),
    el('details', {}, el('summary', {}, 'Study spec'), el('pre', { id: 'study-spec' }, JSON.stringify(spec, null, 2))),
  );
  await loadMetrics();
  render();

  // The study's decisions: from the seq read, so none is missed between the read and the connection.
  const stops = [];
  if (!studyEndedStatuses.includes(study.status)) {
    const onStudyEvent = (event) => {
      onStudyEvent.lastSeq = event.seq;
      void refresh();
    };
    onStudyEvent.lastSeq = study.lastSeq;
    stops.push(openStream(`/v1/studies/${id}/stream`, onStudyEvent));
  }
  // Its trials' jobs: the curves grow epoch by epoch, and a job's status change shows at once.
  let frame = 0;
  stops.push(
    openStream('/v1/stream', (event) => {
      if (!jobMetrics.has(event.jobId)) return;
      if (event.type === 'metrics' && event.data.scope === 'epoch') {
        addPoint(jobMetrics.get(event.jobId), event.data);
        frame ||= requestAnimationFrame(() => {
          frame = 0;
          renderChart();
        });
      } else if (event.type === 'status') void refresh();
    }),
  );
  // The duration and ages move on between events.
  const timer = setInterval(renderFacts, 5_000);
  return () => {
    clearInterval(timer);
    stops.forEach((stop) => stop());
    cancelAnimationFrame(frame);
    chart?.destroy();
  };
}
