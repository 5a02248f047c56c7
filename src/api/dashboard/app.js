// The Trainyard dashboard: no framework, no build step. Views by URL hash:
//   #/                      job list (live through /v1/stream)
//   #/jobs/<id>             one job: curves that grow live, events, checkpoints, spec, actions
//   #/compare/<id>,<id>…    overlaid curves and the spec fields that differ
//   #/submit                JSON spec editor with validation errors and examples
//   #/key                   the API key this browser sends (kept in localStorage)
const view = document.getElementById('view');
const connection = document.getElementById('connection');
let cleanup = () => {};

const el = (tag, attrs = {}, ...children) => {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else if (value !== undefined && value !== null && value !== false) node.setAttribute(key, value === true ? '' : String(value));
  }
  node.append(...children.flat().map((child) => (child instanceof Node ? child : document.createTextNode(child ?? ''))));
  return node;
};

const KEY_STORAGE = 'trainyard.apiKey';
const apiKey = () => localStorage.getItem(KEY_STORAGE);

/** Thrown by api() on a 401: the router shows the key form instead of the view. */
class NeedsKey extends Error {}

async function api(path, options = {}) {
  const key = apiKey();
  const headers = { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}) };
  const response = await fetch(path, { headers, ...options });
  const body = response.status === 204 ? null : await response.json().catch(() => null);
  if (response.status === 401) throw new NeedsKey(body?.detail ?? 'this server needs an API key');
  return { ok: response.ok, status: response.status, body };
}

function openStream(path, onEvent) {
  let socket;
  let closedByUs = false;
  const connect = (after) => {
    // Browsers cannot set headers on a WebSocket: the key goes as access_token (the server strips it before logging).
    const query = new URLSearchParams();
    if (after !== undefined) query.set('after', String(after));
    if (apiKey()) query.set('access_token', apiKey());
    const url = `${location.origin.replace(/^http/, 'ws')}${path}${query.size ? `?${query}` : ''}`;
    socket = new WebSocket(url);
    socket.onopen = () => connection.classList.add('live');
    socket.onmessage = (message) => {
      const data = JSON.parse(message.data);
      if (data.kind === 'event') onEvent(data);
    };
    socket.onclose = (event) => {
      connection.classList.remove('live');
      // 1000: the job finished; anything else: reconnect and continue after the last seq seen.
      if (!closedByUs && event.code !== 1000) setTimeout(() => connect(onEvent.lastSeq), 1000);
    };
  };
  connect(onEvent.lastSeq ?? (path.startsWith('/v1/jobs/') ? 0 : undefined));
  return () => {
    closedByUs = true;
    socket?.close();
  };
}

const age = (iso) => {
  const seconds = Math.round((Date.now() - Date.parse(iso)) / 1000);
  if (seconds < 60) return `${seconds}s`;
  if (seconds < 3600) return `${Math.round(seconds / 60)}m`;
  if (seconds < 86400) return `${Math.round(seconds / 3600)}h`;
  return `${Math.round(seconds / 86400)}d`;
};
const fmt = (value) => (typeof value === 'number' ? (Math.abs(value) >= 0.01 || value === 0 ? value.toFixed(4) : value.toExponential(2)) : String(value ?? ''));

// ---------------------------------------------------------------------------------------------
async function listView(params) {
  const status = params.get('status') ?? '';
  const selected = new Set();
  const tbody = el('tbody');
  const compare = el('button', { disabled: true, id: 'compare', onclick: () => (location.hash = `#/compare/${[...selected].join(',')}`) }, 'Compare selected');
  const filter = el(
    'select',
    { id: 'status-filter', onchange: (event) => (location.hash = event.target.value ? `#/?status=${event.target.value}` : '#/') },
    el('option', { value: '' }, 'all statuses'),
    ...['queued', 'running', 'pausing', 'paused', 'cancelling', 'cancelled', 'succeeded', 'failed'].map((s) => el('option', { value: s, selected: s === status }, s)),
  );
  view.replaceChildren(el('h1', {}, 'Jobs'), el('div', { class: 'toolbar' }, filter, compare, el('a', { href: '#/submit' }, 'Submit a job')),
    el('table', {}, el('thead', {}, el('tr', {}, el('th'), el('th', {}, 'Job'), el('th', {}, 'Name'), el('th', {}, 'Status'), el('th', {}, 'Progress'), el('th', {}, 'Backend'), el('th', {}, 'Last epoch'), el('th', {}, 'Age'))), tbody));

  const rows = new Map();
  const render = (job) => {
    const checkbox = el('input', { type: 'checkbox', 'data-job': job.id, checked: selected.has(job.id), onchange: (event) => {
      if (event.target.checked) selected.add(job.id); else selected.delete(job.id);
      compare.disabled = selected.size < 2;
    } });
    const row = el('tr', { 'data-job-row': job.id },
      el('td', {}, checkbox),
      el('td', {}, el('a', { href: `#/jobs/${job.id}` }, job.id.slice(0, 8))),
      el('td', {}, job.name ?? ''),
      el('td', {}, el('span', { class: `status ${job.status}`, title: job.failureReason ?? '' }, job.status)),
      el('td', {}, el('progress', { max: 1, value: job.progress })),
      el('td', {}, job.backend ?? ''),
      el('td', { class: 'last-epoch' }, job.lastEpoch ?? ''),
      el('td', {}, age(job.createdAt)),
    );
    const existing = rows.get(job.id);
    if (existing) existing.row.replaceWith(row); else tbody.append(row);
    rows.set(job.id, { job, row });
  };
  const load = async () => {
    const { body } = await api(`/v1/jobs?limit=100${status ? `&status=${status}` : ''}`);
    tbody.replaceChildren();
    rows.clear();
    body.data.forEach(render);
  };
  await load();
  const stop = openStream('/v1/stream', (event) => {
    const entry = rows.get(event.jobId);
    if (!entry) {
      // A job we do not show yet (new, or now matching the filter): reload the list.
      if (event.type === 'status' && (!status || event.data.status === status)) void load();
      return;
    }
    const job = { ...entry.job };
    if (event.type === 'status') job.status = event.data.status;
    if (event.type === 'metrics') {
      job.progress = event.data.progress ?? job.progress;
      const v = event.data.values;
      const score = v.val_accuracy !== undefined ? `, val acc ${fmt(v.val_accuracy)}` : v.val_mae !== undefined ? `, val mae ${fmt(v.val_mae)}` : '';
      job.lastEpoch = `epoch ${event.data.epoch}: loss ${fmt(v.loss)}${score}`;
    }
    render(job);
  });
  const timer = setInterval(() => { for (const { job } of rows.values()) render(job); }, 10_000);
  return () => { stop(); clearInterval(timer); };
}

// ---------------------------------------------------------------------------------------------
let datasetTasks;
/** Whether a data set (by name) is a regression; uploads are classifications. */
async function isRegression(name) {
  datasetTasks ??= api('/v1/datasets').then(({ body }) => new Map((body?.data ?? []).map((d) => [d.name, d.task])));
  return (await datasetTasks).get(name) === 'regression';
}

function lineChart(title, seriesNames, width = 520) {
  const container = el('div', { class: 'chart', 'data-chart': title, 'data-points': 0 }, el('h3', {}, title));
  const data = [[], ...seriesNames.map(() => [])];
  const colors = ['#0b62c4', '#d1495b', '#2a9d8f', '#8a6d00', '#6a4c93', '#ef8354'];
  const plot = new uPlot({
    width, height: 220,
    scales: { x: { time: false } },
    series: [{ label: 'step' }, ...seriesNames.map((label, i) => ({ label, stroke: colors[i % colors.length], width: 1.5, spanGaps: true }))],
  }, data, container);
  return {
    container,
    /** Adds (or replaces) the point at x; values keyed by series name. */
    set(x, values) {
      let index = data[0].indexOf(x);
      if (index < 0) {
        index = data[0].findIndex((existing) => existing > x);
        if (index < 0) index = data[0].length;
        data.forEach((column) => column.splice(index, 0, null));
        data[0][index] = x;
      }
      seriesNames.forEach((name, i) => { if (values[name] !== undefined) data[i + 1][index] = values[name]; });
      plot.setData(data);
      container.setAttribute('data-points', String(data[0].length));
    },
  };
}

async function jobView(id) {
  const { ok, body: job } = await api(`/v1/jobs/${id}`);
  if (!ok) { view.replaceChildren(el('h1', {}, 'Job not found'), el('p', {}, job?.detail ?? '')); return () => {}; }
  const status = el('span', { class: `status ${job.status}`, id: 'job-status' }, job.status);
  const reason = el('div', { class: 'error-banner' }, job.failureReason ?? '');
  const message = el('span', { class: 'muted', id: 'action-message' });
  const action = (name) => el('button', { id: `${name}-button`, onclick: async () => {
    const { ok, body } = await api(`/v1/jobs/${id}/${name}`, { method: 'POST', body: '{}' });
    message.textContent = ok ? `${name} requested` : body?.detail ?? `${name} failed`;
  } }, name[0].toUpperCase() + name.slice(1));

  // A regression reports mean absolute error where a classification reports accuracy.
  const regression = await isRegression(job.spec.dataset.name);
  const lossEpoch = lineChart('Loss per epoch', ['loss', 'val_loss']);
  const accuracyEpoch = regression
    ? lineChart('Mean absolute error per epoch', ['mae', 'val_mae'])
    : lineChart('Accuracy per epoch', ['accuracy', 'val_accuracy']);
  const lossBatch = lineChart('Loss every N steps', ['loss']);
  const rate = lineChart('Learning rate', ['learning_rate']);
  const events = el('tbody');
  const checkpoints = el('tbody');
  const loadCheckpoints = async () => {
    const { body } = await api(`/v1/jobs/${id}/checkpoints`);
    checkpoints.replaceChildren(...(body?.data ?? []).map((c) => el('tr', {},
      el('td', {}, String(c.epoch)), el('td', {}, String(c.step)), el('td', {}, c.reason + (c.isBest ? ' (best)' : '')),
      el('td', {}, Object.entries(c.metrics).map(([k, v]) => `${k} ${fmt(v)}`).join(', ')),
      el('td', {}, el('a', { href: c.links.modelJson }, 'model.json'), ' ', el('a', { href: c.links.weights }, 'weights.bin')))));
  };

  const buttons = { cancel: action('cancel'), pause: action('pause'), resume: action('resume') };
  const meta = el('span', { class: 'muted', id: 'job-meta' });
  const showStatus = (current) => {
    status.textContent = current;
    status.className = `status ${current}`;
    // What the API would accept now (it answers 409 otherwise).
    buttons.cancel.disabled = !['queued', 'running', 'pausing', 'paused'].includes(current);
    buttons.pause.disabled = !['queued', 'running'].includes(current);
    buttons.resume.disabled = current !== 'paused';
  };
  const showMeta = (backend, device, attempts) => (meta.textContent = `${backend ?? '–'}${device ? ` (${device})` : ''} · attempts ${attempts}`);
  showStatus(job.status);
  showMeta(job.backend, job.device, job.attempts);

  view.replaceChildren(
    el('h1', {}, `${job.name ?? 'Job'} `, el('span', { class: 'muted' }, id)),
    el('div', { class: 'toolbar' }, status, buttons.cancel, buttons.pause, buttons.resume, message, meta),
    reason,
    el('div', { class: 'charts' }, lossEpoch.container, accuracyEpoch.container, lossBatch.container, rate.container),
    el('h2', {}, 'Events'), el('div', { class: 'events' }, el('table', {}, events)),
    el('h2', {}, 'Checkpoints'), el('table', {}, el('thead', {}, el('tr', {}, el('th', {}, 'Epoch'), el('th', {}, 'Step'), el('th', {}, 'Reason'), el('th', {}, 'Metrics'), el('th', {}, 'Download'))), checkpoints),
    el('h2', {}, 'Resolved spec'), el('pre', { id: 'spec' }, JSON.stringify(job.spec, null, 2)),
  );
  await loadCheckpoints();

  const onEvent = (event) => {
    onEvent.lastSeq = event.seq;
    const d = event.data;
    if (event.type === 'metrics') {
      if (d.scope === 'epoch') {
        lossEpoch.set(d.epoch, d.values);
        accuracyEpoch.set(d.epoch, d.values);
        rate.set(d.step, d.values);
      } else {
        lossBatch.set(d.step, d.values);
        if (d.values.learning_rate !== undefined) rate.set(d.step, d.values);
      }
      return;
    }
    if (event.type === 'status') {
      showStatus(d.status);
      if (d.status === 'running' && d.backend) showMeta(d.backend, d.device, d.attempt);
      if (d.reason && d.status === 'failed') reason.textContent = d.reason;
    }
    if (event.type === 'checkpoint') void loadCheckpoints();
    const summary = event.type === 'status' ? d.status + (d.reason ? ` — ${d.reason}` : '')
      : event.type === 'divergence' ? `rate halved ${fmt(d.oldLearningRate)} → ${fmt(d.newLearningRate)} (${d.reason})`
      : event.type === 'resumed' ? `resumed from epoch ${d.fromEpoch}, step ${d.fromStep} (${d.reason})`
      : event.type === 'checkpoint' ? `checkpoint at epoch ${d.epoch} (${d.reason})`
      : event.type === 'optimizerPhase' ? `phase ${d.phase}: ${d.optimizer.type} from epoch ${d.fromEpoch}`
      : event.type === 'started' ? `started on ${d.backend}: ${d.trainRows} training rows, ${d.totalSteps} steps`
      : JSON.stringify(d);
    events.prepend(el('tr', {}, el('td', { class: 'muted' }, String(event.seq)), el('td', {}, event.type), el('td', {}, summary), el('td', { class: 'muted' }, new Date(event.createdAt).toLocaleTimeString())));
  };
  return openStream(`/v1/jobs/${id}/stream`, onEvent);
}

// ---------------------------------------------------------------------------------------------
function flatten(value, prefix = '', out = {}) {
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    for (const [key, inner] of Object.entries(value)) flatten(inner, prefix ? `${prefix}.${key}` : key, out);
  } else if (Array.isArray(value)) {
    value.forEach((inner, i) => flatten(inner, `${prefix}[${i}]`, out));
  } else out[prefix] = value;
  return out;
}

async function compareView(ids) {
  const jobs = (await Promise.all(ids.map((id) => api(`/v1/jobs/${id}`)))).filter((r) => r.ok).map((r) => r.body);
  const label = (job) => `${job.name ?? 'job'} ${job.id.slice(0, 8)}`;
  const valLoss = lineChart('val_loss per epoch', jobs.map(label), 560);
  const loss = lineChart('loss per epoch', jobs.map(label), 560);
  await Promise.all(jobs.map(async (job) => {
    const { body } = await api(`/v1/jobs/${job.id}/metrics?scope=epoch&limit=10000`);
    for (const m of body.data) {
      valLoss.set(m.epoch, { [label(job)]: m.values.val_loss });
      loss.set(m.epoch, { [label(job)]: m.values.loss });
    }
  }));
  const flat = jobs.map((job) => flatten(job.spec));
  const keys = [...new Set(flat.flatMap((f) => Object.keys(f)))].sort();
  const differing = keys.filter((key) => new Set(flat.map((f) => JSON.stringify(f[key]))).size > 1);
  view.replaceChildren(
    el('h1', {}, `Compare ${jobs.length} jobs`),
    el('div', { class: 'charts' }, loss.container, valLoss.container),
    el('h2', {}, 'Spec differences'),
    el('table', { id: 'spec-diff' },
      el('thead', {}, el('tr', {}, el('th', {}, 'field'), ...jobs.map((job) => el('th', {}, el('a', { href: `#/jobs/${job.id}` }, label(job)))))),
      el('tbody', {}, ...(differing.length ? differing.map((key) => el('tr', { 'data-field': key }, el('td', {}, key), ...flat.map((f) => el('td', {}, f[key] === undefined ? '–' : JSON.stringify(f[key])))))
        : [el('tr', {}, el('td', { colspan: jobs.length + 1 }, 'the specs are identical'))]))),
  );
  return () => {};
}

// ---------------------------------------------------------------------------------------------
async function submitView() {
  const { body } = await api('/v1/examples');
  const examples = body?.data ?? [];
  const editor = el('textarea', { id: 'spec-editor', spellcheck: false });
  editor.value = JSON.stringify(examples[0]?.spec ?? { dataset: { name: 'iris' }, model: { layers: [{ type: 'dense', units: 16, activation: 'relu' }, { type: 'dense', units: 3 }] } }, null, 2);
  const errors = el('ul', { class: 'errors', id: 'spec-errors' });
  const picker = el('select', { id: 'example-picker', onchange: (event) => {
    const example = examples.find((e) => e.name === event.target.value);
    if (example) editor.value = JSON.stringify(example.spec, null, 2);
  } }, ...examples.map((e) => el('option', { value: e.name }, e.name)));
  const submit = async () => {
    errors.replaceChildren();
    let spec;
    try { spec = JSON.parse(editor.value); } catch (error) { errors.append(el('li', {}, `not JSON: ${error.message}`)); return; }
    const { ok, body } = await api('/v1/jobs', { method: 'POST', body: JSON.stringify(spec) });
    if (ok) { location.hash = `#/jobs/${body.id}`; return; }
    const problems = body?.errors?.length ? body.errors.map((e) => `${e.field}: ${e.message}`) : [body?.detail ?? 'submission failed'];
    errors.append(...problems.map((p) => el('li', {}, p)));
  };
  view.replaceChildren(
    el('h1', {}, 'Submit a job'),
    el('div', { class: 'toolbar' }, 'Start from an example:', picker, el('button', { class: 'primary', id: 'submit-button', onclick: submit }, 'Submit')),
    el('div', { class: 'submit-grid' }, editor, el('div', {}, el('h2', {}, 'Problems'), errors)),
  );
  return () => {};
}

// ---------------------------------------------------------------------------------------------
function keyView(reason) {
  const input = el('input', { id: 'api-key-input', type: 'password', size: 60, placeholder: 'ty_…', autocomplete: 'off' });
  const save = () => {
    const value = input.value.trim();
    if (value) localStorage.setItem(KEY_STORAGE, value);
    else localStorage.removeItem(KEY_STORAGE);
    if (location.hash === '#/key') location.hash = '#/';
    else route();
  };
  view.replaceChildren(
    el('h1', {}, 'API key'),
    el('p', { class: reason ? 'error-banner' : 'muted' }, reason ?? (apiKey() ? 'This browser sends a key; enter another to replace it, or nothing to forget it.' : 'This browser sends no key.')),
    el('p', { class: 'muted' }, 'Keys belong to a project; you see its jobs and uploads only. On the server, ', el('code', {}, 'npm run keys -- create --project <name>'), ' makes one.'),
    el('div', { class: 'toolbar' }, input, el('button', { class: 'primary', id: 'api-key-save', onclick: save }, 'Use this key')),
  );
  return () => {};
}

async function route() {
  cleanup();
  cleanup = () => {};
  const [path, query] = location.hash.slice(1).split('?');
  const params = new URLSearchParams(query ?? '');
  const parts = (path || '/').split('/').filter(Boolean);
  try {
    if (parts[0] === 'jobs' && parts[1]) cleanup = await jobView(parts[1]);
    else if (parts[0] === 'compare' && parts[1]) cleanup = await compareView(parts[1].split(','));
    else if (parts[0] === 'submit') cleanup = await submitView();
    else if (parts[0] === 'key') cleanup = keyView();
    else cleanup = await listView(params);
  } catch (error) {
    if (!(error instanceof NeedsKey)) throw error;
    cleanup();
    cleanup = keyView(`${error.message}.`);
  }
}
window.addEventListener('hashchange', route);
// A key revoked while a page is open: its buttons' requests land here.
window.addEventListener('unhandledrejection', (event) => {
  if (!(event.reason instanceof NeedsKey)) return;
  event.preventDefault();
  cleanup();
  cleanup = keyView(`${event.reason.message}.`);
});
route();
