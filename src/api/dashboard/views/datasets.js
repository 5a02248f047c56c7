// The uploaded data sets: a table of them (#/datasets), and one (#/datasets/<id>) with its rows of
// each class per split and a look at its contents: the sample grid of an image set, a few rows of a table or a text set.
import { api, apiKey } from '../api.js';
import { el } from '../dom.js';
import { age } from '../format.js';

const view = () => document.getElementById('view');
const shapeOf = (dataset) => {
  if (dataset.inputShape) return dataset.inputShape.join(' × ');
  return dataset.textColumn ? `text (${dataset.textColumn})` : `${dataset.featureSize} features`;
};

export async function datasetsView() {
  const { body } = await api('/v1/datasets');
  const uploads = body?.uploaded ?? [];
  const head = ['Name', 'Format', 'Rows', 'Row shape', 'Classes', 'Age'];
  view().replaceChildren(
    el('h1', {}, 'Data sets'),
    el('div', { class: 'toolbar' }, el('span', { class: 'muted', id: 'dataset-count' }, `${uploads.length} uploaded`), el('span', { class: 'muted' }, 'Upload with ', el('code', {}, 'POST /v1/datasets'), ' (', el('a', { href: '/docs' }, 'API'), ').')),
    el(
      'div',
      { class: 'table-scroll' },
      el(
        'table',
        { id: 'datasets', class: 'runs' },
        el('thead', {}, el('tr', {}, ...head.map((title) => el('th', {}, title)))),
        el(
          'tbody',
          {},
          ...uploads.map((dataset) =>
            el(
              'tr',
              { 'data-dataset-row': dataset.id },
              el('td', {}, el('a', { href: `#/datasets/${dataset.id}` }, dataset.name)),
              el('td', {}, dataset.format),
              el('td', { class: 'num' }, String(dataset.rows)),
              el('td', {}, shapeOf(dataset)),
              el('td', { class: 'num' }, dataset.labelType === 'class' ? String(dataset.classNames.length) : 'regression'),
              el('td', {}, age(dataset.createdAt)),
            ),
          ),
        ),
      ),
    ),
  );
  return () => {};
}

/** A text set's words: what a job's text.vocabularySize and text.length are chosen by. */
function textFacts(stats) {
  const perRow = stats.tokensPerRow;
  return [
    ['Words', `${stats.distinctTokens} distinct (${stats.lowercase ? 'lower-cased ' : ''}${stats.tokenizer})`],
    ['Words per text', `mean ${perRow.mean}, median ${perRow.median}, 95 % ≤ ${perRow.p95}, longest ${perRow.max}`],
    ['Most frequent', stats.mostFrequent.map((entry) => `${entry.token} (${entry.count})`).join(', ')],
  ];
}

export async function datasetView(id) {
  const { ok, body } = await api(`/v1/datasets/${encodeURIComponent(id)}`);
  if (!ok) {
    view().replaceChildren(el('h1', {}, 'Data set'), el('p', { class: 'error-banner' }, body?.detail ?? 'could not load the data set'));
    return () => {};
  }
  const splits = Object.entries(body.splits);
  const classNames = body.labelType === 'class' ? body.classNames : [];
  const facts = [
    ['Id', el('code', {}, body.id)],
    ['Format', body.format],
    ['Rows', String(body.rows)],
    ['Row shape', shapeOf(body)],
    ...(body.images ? [['Images came as', body.images.sources.map((s) => `${s.width}×${s.height}×${s.channels} (${s.files})`).join(', ') + (body.images.resized ? `; ${body.images.resized} resized` : '')]] : []),
    ['Label', body.labelType === 'class' ? `${body.labelColumn}: ${classNames.length} classes` : `${body.labelColumn} (a number)`],
    ...(body.textStats ? textFacts(body.textStats) : []),
  ];
  const counts = el(
    'table',
    { id: 'dataset-classes', class: 'runs' },
    el('thead', {}, el('tr', {}, el('th', {}, 'Class'), ...splits.map(([split]) => el('th', { class: 'num' }, split)))),
    el(
      'tbody',
      {},
      ...classNames.map((name) => el('tr', {}, el('td', {}, name), ...splits.map(([, split]) => el('td', { class: 'num' }, String(split.classCounts[name] ?? 0))))),
      el('tr', {}, el('td', { class: 'muted' }, 'all'), ...splits.map(([, split]) => el('td', { class: 'num' }, String(split.rows)))),
    ),
  );
  const samples = el('div', { id: 'dataset-samples' });
  view().replaceChildren(
    el('h1', {}, body.name),
    el('dl', { class: 'facts', id: 'dataset-summary' }, ...facts.flatMap(([term, value]) => [el('dt', {}, term), el('dd', {}, value)])),
    el('h2', {}, 'Rows of each class'),
    el('div', { class: 'table-scroll' }, counts),
    el('h2', {}, 'Samples'),
    samples,
  );
  if (body.samples.grid) {
    // An <img> cannot send the key: fetched with it and shown as a data: URL (the page's policy allows no blob: images).
    const key = apiKey();
    const response = await fetch(body.samples.grid, { headers: key ? { authorization: `Bearer ${key}` } : {} });
    if (response.ok) {
      const blob = await response.blob();
      const src = await new Promise((resolve, reject) => {
        const reader = new FileReader();
        reader.onload = () => resolve(reader.result);
        reader.onerror = () => reject(reader.error);
        reader.readAsDataURL(blob);
      });
      samples.append(
        el('p', { class: 'muted' }, `The first training images of each class, a row per class: ${classNames.slice(0, 20).join(', ')}`),
        el('img', { id: 'dataset-grid', class: 'sample-grid', src, alt: 'sample images, a row per class' }),
      );
    }
  } else if (body.samples.rows) {
    const columns = Object.keys(body.samples.rows[0] ?? {});
    samples.append(
      el(
        'div',
        { class: 'table-scroll' },
        el(
          'table',
          { id: 'dataset-rows', class: 'runs' },
          el('thead', {}, el('tr', {}, ...columns.map((column) => el('th', {}, column)))),
          el('tbody', {}, ...body.samples.rows.map((row) => el('tr', {}, ...columns.map((column) => el('td', {}, String(row[column])))))),
        ),
      ),
    );
  }
  return () => {};
}
