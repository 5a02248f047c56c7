// One job: a summary (status, best, final and test metrics, duration, time left), the advice its
// spec got at submission, curves that grow live, its events as sentences, its checkpoints, its spec,
// and the actions its status allows.
import { describeEvent } from '/dashboard/lib/event-sentences.js';
import { api, openStream } from '../api.js';
import { actionSources, higherIsBetterPattern, terminalStatuses } from '../contract.js';
import { el } from '../dom.js';
import { duration, metric, rate } from '../format.js';
import { lineChart } from '../charts.js';

const higherIsBetter = new RegExp(higherIsBetterPattern);
const view = () => document.getElementById('view');

let datasetTasks;
/** Whether a data set (by name) is a regression; uploads are classifications. */
async function isRegression(name) {
  datasetTasks ??= api('/v1/datasets').then(({ body }) => new Map((body?.data ?? []).map((d) => [d.name, d.task])));
  return (await datasetTasks).get(name) === 'regression';
}

/** The advice event's tips (docs/advice.md): field, reason, source, and the code that silences it. */
function adviceList(advice) {
  return [
    el('h2', {}, 'Advice'),
    el('p', { class: 'muted' }, 'Practical tips this spec goes against: warnings, not errors. List a code in the spec\'s silenceAdvice to stop one.'),
    el('ul', { class: 'advice' }, ...advice.map((a) => el('li', { 'data-advice': a.code },
      el('code', {}, a.field), ': ', a.reason, ' ',
      el('span', { class: 'muted' }, `— ${a.source} `), el('code', { class: 'advice-code' }, a.code)))),
  ];
}

/** A summary row per metric: the last epoch's value, the best epoch's, and the test score. */
function metricsTable(summary) {
  // Test scores have their own column.
  const names = [...new Set([...Object.keys(summary.final), ...Object.keys(summary.best)])].filter((name) => name !== 'learning_rate' && !name.startsWith('test_'));
  const tests = summary.test;
  return el('table', { class: 'metrics', id: 'summary-metrics' },
    el('thead', {}, el('tr', {}, el('th', {}, 'metric'), el('th', { class: 'num' }, 'final'), el('th', { class: 'num' }, 'best'), el('th', { class: 'num' }, 'test'))),
    el('tbody', {}, ...names.map((name) => el('tr', { 'data-metric': name },
      el('td', {}, name, el('span', { class: 'muted' }, higherIsBetter.test(name) ? ' ↑' : ' ↓')),
      el('td', { class: 'num' }, metric(summary.final[name])),
      el('td', { class: 'num' }, metric(summary.best[name])),
      el('td', { class: 'num' }, metric(tests[`test_${name}`])))),
    ),
  );
}

export async function jobView(id) {
  const { ok, body: job } = await api(`/v1/runs/${id}`);
  if (!ok) {
    view().replaceChildren(el('h1', {}, 'Job not found'), el('p', {}, job?.detail ?? ''));
    return () => {};
  }
  const run = job;
  const summary = run.summary;
  let current = { status: job.status, backend: job.backend, device: job.device, attempts: job.attempts, progress: job.progress, startedAt: job.startedAt, finishedAt: job.finishedAt };

  const status = el('span', { class: `status ${job.status}`, id: 'job-status' }, job.status);
  const reason = el('div', { class: 'error-banner' }, job.failureReason ?? '');
  const message = el('span', { class: 'muted', id: 'action-message' });
  const action = (name) => el('button', { id: `${name}-button`, onclick: async () => {
    const { ok: done, body } = await api(`/v1/jobs/${id}/${name}`, { method: 'POST', body: '{}' });
    message.textContent = done ? `${name} requested` : body?.detail ?? `${name} failed`;
  } }, name[0].toUpperCase() + name.slice(1));
  const buttons = Object.fromEntries(Object.keys(actionSources).map((name) => [name, action(name)]));
  const facts = el('dl', { class: 'facts', id: 'job-summary' });
  const metricsBox = el('div', { id: 'job-metrics' }, metricsTable(summary));
  // Filled from the job's advice event (seq 2), which the stream replays.
  const adviceBox = el('div', { id: 'job-advice', hidden: true });

  // Time left at the pace so far: progress over training time.
  const timeLeft = () => {
    if (current.status !== 'running' || !current.startedAt || current.progress <= 0 || current.progress >= 1) return null;
    const elapsed = Date.now() - Date.parse(current.startedAt);
    return (elapsed * (1 - current.progress)) / current.progress;
  };
  const showFacts = () => {
    const running = !terminalStatuses.includes(current.status) && current.startedAt;
    const elapsedMs = running ? Date.now() - Date.parse(current.startedAt) : summary.durationMs;
    const left = timeLeft();
    const entries = [
      ['Status', current.status],
      ['Progress', `${Math.round(current.progress * 100)}%${summary.lastEpoch !== null ? ` · epoch ${summary.lastEpoch} of ${job.spec.epochs}` : ''}`],
      ['Duration', duration(elapsedMs) || '–'],
      ...(left !== null ? [['Time left', `about ${duration(left)}`]] : []),
      ['Speed', summary.samplesPerSecond !== null ? `${rate(summary.samplesPerSecond).replace('/s', '')} samples/s` : '–'],
      ['Backend', `${current.backend ?? '–'}${current.device ? ` (${current.device})` : ''}`],
      ['Attempts', String(current.attempts)],
      ['Model', `${job.spec.model.layers.length} layers · ${job.spec.optimizer.type} · lr ${typeof job.spec.learningRate === 'number' ? job.spec.learningRate.toExponential(1) : 'schedule'} · batch ${job.spec.batchSize}`],
    ];
    facts.replaceChildren(...entries.flatMap(([term, value]) => [el('dt', {}, term), el('dd', { 'data-fact': term }, value)]));
  };
  const showStatus = (next) => {
    current.status = next;
    status.textContent = next;
    status.className = `status ${next}`;
    // What the API would accept now (it answers 409 otherwise): the same rules, served by the API.
    for (const [name, button] of Object.entries(buttons)) button.disabled = !actionSources[name].includes(next);
    showFacts();
  };

  const regression = await isRegression(job.spec.dataset.name);
  const lossEpoch = lineChart('Loss per epoch', ['loss', 'val_loss']);
  const scoreEpoch = regression ? lineChart('Mean absolute error per epoch', ['mae', 'val_mae']) : lineChart('Accuracy per epoch', ['accuracy', 'val_accuracy']);
  const lossBatch = lineChart('Loss every N steps', ['loss'], { x: 'step' });
  const learningRate = lineChart('Learning rate', ['learning_rate'], { x: 'step', y: 'rate' });
  const events = el('tbody');
  const checkpoints = el('tbody');
  const loadCheckpoints = async () => {
    const { body } = await api(`/v1/jobs/${id}/checkpoints`);
    checkpoints.replaceChildren(...(body?.data ?? []).map((c) => el('tr', {},
      el('td', { class: 'num' }, String(c.epoch)), el('td', { class: 'num' }, String(c.step)), el('td', {}, c.reason + (c.isBest ? ' (best)' : '')),
      el('td', {}, Object.entries(c.metrics).map(([k, v]) => `${k} ${metric(v)}`).join(', ')),
      el('td', {}, el('a', { href: c.links.modelJson }, 'model.json'), ' ', el('a', { href: c.links.weights }, 'weights.bin')))));
  };

  view().replaceChildren(
    el('h1', {}, `${job.name ?? 'Job'} `, el('span', { class: 'muted' }, id)),
    el('div', { class: 'toolbar' }, status, ...Object.values(buttons), message),
    reason,
    el('div', { class: 'summary' }, facts, metricsBox),
    adviceBox,
    el('div', { class: 'charts' }, lossEpoch.container, scoreEpoch.container, lossBatch.container, learningRate.container),
    el('h2', {}, 'Events'), el('div', { class: 'events' }, el('table', {}, events)),
    el('h2', {}, 'Checkpoints'), el('table', {}, el('thead', {}, el('tr', {}, el('th', { class: 'num' }, 'Epoch'), el('th', { class: 'num' }, 'Step'), el('th', {}, 'Reason'), el('th', {}, 'Metrics'), el('th', {}, 'Download'))), checkpoints),
    el('h2', {}, 'Resolved spec'), el('pre', { id: 'spec' }, JSON.stringify(job.spec, null, 2)),
  );
  showStatus(job.status);
  await loadCheckpoints();

  const onEvent = (event) => {
    onEvent.lastSeq = event.seq;
    const d = event.data;
    if (event.type === 'metrics') {
      if (d.scope === 'epoch') {
        lossEpoch.set(d.epoch, d.values);
        scoreEpoch.set(d.epoch, d.values);
        learningRate.set(d.step, d.values);
        summary.lastEpoch = d.epoch;
        summary.final = d.values;
        if (d.samplesPerSecond !== undefined) summary.samplesPerSecond = d.samplesPerSecond;
        for (const [name, value] of Object.entries(d.values)) {
          const best = summary.best[name];
          summary.best[name] = best === undefined ? value : higherIsBetter.test(name) ? Math.max(best, value) : Math.min(best, value);
        }
        if (d.progress !== undefined) current.progress = d.progress;
        metricsBox.replaceChildren(metricsTable(summary));
        showFacts();
      } else {
        lossBatch.set(d.step, d.values);
        if (d.values.learning_rate !== undefined) learningRate.set(d.step, d.values);
        if (d.progress !== undefined) current.progress = d.progress;
      }
      return;
    }
    if (event.type === 'status') {
      if (d.status === 'running') {
        current = { ...current, backend: d.backend ?? current.backend, device: d.device ?? current.device, attempts: d.attempt ?? current.attempts, startedAt: current.startedAt ?? event.createdAt };
      }
      if (d.status === 'succeeded') {
        summary.test = Object.fromEntries(Object.entries(d.finalMetrics ?? {}).filter(([name]) => name.startsWith('test_')));
        if (d.durationMs !== undefined) summary.durationMs = d.durationMs;
        current.progress = 1;
        metricsBox.replaceChildren(metricsTable(summary));
      }
      if (terminalStatuses.includes(d.status) && summary.durationMs === null && current.startedAt) summary.durationMs = Date.parse(event.createdAt) - Date.parse(current.startedAt);
      showStatus(d.status);
      if (d.reason && d.status === 'failed') reason.textContent = d.reason;
    }
    if (event.type === 'checkpoint') void loadCheckpoints();
    if (event.type === 'advice') {
      adviceBox.replaceChildren(...adviceList(d.advice ?? []));
      adviceBox.hidden = false;
    }
    events.prepend(el('tr', { 'data-event': event.type },
      el('td', { class: 'muted num' }, String(event.seq)),
      el('td', { class: 'muted' }, new Date(event.createdAt).toLocaleTimeString()),
      el('td', {}, describeEvent(event.type, d))));
  };
  const stop = openStream(`/v1/jobs/${id}/stream`, onEvent);
  const timer = setInterval(showFacts, 5_000);
  return () => { stop(); clearInterval(timer); };
}
