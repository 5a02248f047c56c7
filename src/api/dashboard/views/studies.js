// The studies table: per study its status, algorithm, trials, best value and the compute it used
// against training every trial to the end. Kept live by its trials' job events on /v1/stream, and
// read again every few seconds while a study runs (a study's own decisions are not on that stream).
import { api, openStream } from '../api.js';
import { studyEndedStatuses } from '../contract.js';
import { el } from '../dom.js';
import { age, formatNumber, shortener } from '../format.js';
import { coalesced } from '../live.js';
import { algorithmText, computeText } from '../study-format.js';

const view = () => document.getElementById('view');
const POLL_MS = 5_000;

function row(study, short) {
  const training = study.trials.filter((trial) => trial.state === 'training').length;
  const cells = {
    name: el('a', { href: `#/studies/${study.id}`, title: study.id }, study.name ?? 'study', ' ', el('code', {}, short(study.id))),
    status: el('span', { class: `status ${study.status}`, title: study.reason ?? '' }, study.status),
    algorithm: algorithmText(study.spec),
    objective: `${study.spec.objective.metric} ${study.spec.objective.mode === 'max' ? '↑' : '↓'}`,
    trials: `${study.trials.length}${training ? ` · ${training} training` : ''}`,
    best: study.best ? `${formatNumber(study.best.value)} (trial ${study.best.trial})` : '–',
    compute: computeText(study.compute),
    age: age(study.createdAt),
  };
  return el('tr', { 'data-study-row': study.id }, ...Object.entries(cells).map(([key, cell]) => el('td', { 'data-col': key, class: ['trials', 'best', 'compute'].includes(key) ? 'num' : false }, cell)));
}

export async function studiesView() {
  const table = el('table', { id: 'studies', class: 'runs' });
  const count = el('span', { class: 'muted', id: 'study-count' });
  view().replaceChildren(
    el('h1', {}, 'Studies'),
    el('div', { class: 'toolbar' }, count, el('span', { class: 'muted' }, 'Studies start with ', el('code', {}, 'POST /v1/studies'), ' (', el('a', { href: '/docs' }, 'API'), ').')),
    el('div', { class: 'table-scroll' }, table),
  );
  const head = ['Study', 'Status', 'Algorithm', 'Objective', 'Trials', 'Best', 'Compute', 'Age'];
  let studies = [];
  let trialJobs = new Set();

  const load = coalesced(async () => {
    const { body } = await api('/v1/studies?limit=100');
    studies = body?.data ?? [];
    trialJobs = new Set(studies.flatMap((study) => study.trials.map((trial) => trial.jobId)));
    const short = shortener(studies.map((study) => study.id));
    table.replaceChildren(
      el('thead', {}, el('tr', {}, ...head.map((title) => el('th', { class: ['Trials', 'Best', 'Compute'].includes(title) ? 'num' : false }, title)))),
      el('tbody', {}, ...studies.map((study) => row(study, short))),
    );
    count.textContent = `${studies.length} stud${studies.length === 1 ? 'y' : 'ies'}${body?.hasMore ? ' (the newest)' : ''}`;
  }, 1_000);
  await load();

  // A trial's job changing status is when the study moves: it started, reached a rung, ended.
  const stop = openStream('/v1/stream', (event) => {
    if (event.type === 'status' && (trialJobs.has(event.jobId) || event.data.status === 'queued')) void load();
  });
  const timer = setInterval(() => {
    if (studies.some((study) => !studyEndedStatuses.includes(study.status))) void load();
  }, POLL_MS);
  return () => {
    stop();
    clearInterval(timer);
  };
}
