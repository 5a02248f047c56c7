// The Trainyard dashboard: no framework, no build step. Views by URL hash:
//   #/                      the runs table (live through /v1/stream)
//   #/jobs/<id>             one job: summary, curves that grow live, events, checkpoints, spec, actions
//   #/compare/<id>,<id>…    any metric's curves per run, and the spec fields that differ
//   #/submit                the spec editor, validated as you type
//   #/studies               the studies table
//   #/studies/<id>          one study: summary, actions, objective curves, parallel coordinates, trials
//   #/datasets              the uploaded data sets
//   #/datasets/<id>         one: rows of each class per split, sample images or rows
//   #/key                   the API key this browser sends
// What it knows of jobs and studies (statuses, the actions each allows) comes from
// /dashboard/contract.js, which the API writes from its own rules.
import { NeedsKey } from './api.js';
import { compareView } from './views/compare.js';
import { datasetsView, datasetView } from './views/datasets.js';
import { jobView } from './views/job.js';
import { keyView } from './views/key.js';
import { runsView } from './views/runs.js';
import { studiesView } from './views/studies.js';
import { studyView } from './views/study.js';
import { submitView } from './views/submit.js';

let cleanup = () => {};

const afterKey = () => {
  if (location.hash === '#/key') location.hash = '#/';
  else void route();
};

async function route() {
  cleanup();
  cleanup = () => {};
  const [path, query] = location.hash.slice(1).split('?');
  const params = new URLSearchParams(query ?? '');
  const parts = (path || '/').split('/').filter(Boolean);
  try {
    if (parts[0] === 'jobs' && parts[1]) cleanup = await jobView(parts[1]);
    else if (parts[0] === 'compare' && parts[1]) cleanup = await compareView(parts[1].split(','), params);
    else if (parts[0] === 'studies' && parts[1]) cleanup = await studyView(parts[1]);
    else if (parts[0] === 'studies') cleanup = await studiesView();
    else if (parts[0] === 'datasets' && parts[1]) cleanup = await datasetView(parts[1]);
    else if (parts[0] === 'datasets') cleanup = await datasetsView();
    else if (parts[0] === 'submit') cleanup = await submitView();
    else if (parts[0] === 'key') cleanup = keyView(undefined, afterKey);
    else cleanup = await runsView(params);
  } catch (error) {
    if (!(error instanceof NeedsKey)) throw error;
    cleanup();
    cleanup = keyView(`${error.message}.`, afterKey);
  }
}
window.addEventListener('hashchange', route);
// A key revoked while a page is open: its buttons' requests land here.
window.addEventListener('unhandledrejection', (event) => {
  if (!(event.reason instanceof NeedsKey)) return;
  event.preventDefault();
  cleanup();
  cleanup = keyView(`${event.reason.message}.`, afterKey);
});
route();
