// The spec editor: validated as you type against the API's own JSON Schema of a job spec (the one
// in /docs/json, generated from the zod schema the server validates with), then by the server on submit.
import { Validator } from '/vendor/json-schema/index.js';
import { api } from '../api.js';
import { el } from '../dom.js';

const view = () => document.getElementById('view');

let validator;
/** The JobSpec schema of the API document, with the document's components for its $refs. */
async function specValidator() {
  validator ??= fetch('/docs/json').then(async (response) => {
    const document = await response.json();
    return new Validator({ $ref: '#/components/schemas/JobSpec', components: document.components }, '2020-12', false);
  });
  return validator;
}

/** "#/model/layers/0/units" → "model.layers[0].units", the server's way of naming a field. */
const fieldOf = (location) =>
  location
    .replace(/^#\/?/, '')
    .split('/')
    .filter(Boolean)
    .map((part) => decodeURIComponent(part).replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce((path, part) => (/^\d+$/.test(part) ? `${path}[${part}]` : path ? `${path}.${part}` : part), '') || '(root)';

/**
 * The problems worth showing, one per field, named as the server names them. A union the spec
 * does not match reports a failure per member: the members told apart by `type` (or a data set's
 * `name`) that is not the one written are left out, and what remains is the deepest complaint.
 */
function problemsOf(result) {
  const otherMembers = result.errors
    .filter((error) => error.keyword === 'const' && /\/(anyOf|oneOf)\/\d+\/(\$ref\/)?properties\/(type|name)\/const$/.test(error.keywordLocation))
    .map((error) => error.keywordLocation.replace(/(\$ref\/)?properties\/(type|name)\/const$/, ''));
  const problems = new Map();
  for (const error of result.errors) {
    if (['properties', 'allOf', 'anyOf', 'oneOf', '$ref', 'items', 'prefixItems', 'false'].includes(error.keyword)) continue;
    if (otherMembers.some((member) => error.keywordLocation.startsWith(member))) continue;
    const unknown = error.keyword === 'additionalProperties' ? /Property "([^"]+)"/.exec(error.error) : null;
    const field = unknown ? fieldOf(`${error.instanceLocation}/${unknown[1]}`) : fieldOf(error.instanceLocation);
    const message = unknown ? 'unknown field' : error.error.replace(/^Instance does not/, 'does not').replace(/^Instance /, 'is ').replace(/\.$/, '');
    if (!problems.has(field)) problems.set(field, message);
  }
  const fields = [...problems.keys()];
  // A parent whose child is named already adds nothing.
  return fields.filter((field) => !fields.some((other) => other !== field && (other.startsWith(`${field}.`) || other.startsWith(`${field}[`)))).map((field) => `${field}: ${problems.get(field)}`);
}

export async function submitView() {
  const [{ body }, check] = await Promise.all([api('/v1/examples'), specValidator()]);
  const examples = body?.data ?? [];
  const editor = el('textarea', { id: 'spec-editor', spellcheck: false });
  const errors = el('ul', { class: 'errors', id: 'spec-errors' });
  const verdict = el('p', { id: 'spec-verdict', class: 'muted' });
  const submitButton = el('button', { class: 'primary', id: 'submit-button', onclick: () => void submit() }, 'Submit');
  const describe = el('p', { class: 'muted', id: 'example-description' });

  const validate = () => {
    errors.replaceChildren();
    let spec;
    try {
      spec = JSON.parse(editor.value);
    } catch (error) {
      errors.append(el('li', {}, `not JSON: ${error.message}`));
      verdict.textContent = 'Not JSON yet';
      return null;
    }
    const result = check.validate(spec);
    const problems = result.valid ? [] : problemsOf(result);
    errors.append(...problems.map((problem) => el('li', {}, problem)));
    verdict.textContent = result.valid ? 'Valid against the API schema (the server also checks shapes and data sets on submit)' : `${problems.length} problem${problems.length === 1 ? '' : 's'}`;
    verdict.className = result.valid ? 'ok' : 'muted';
    return spec;
  };
  let timer;
  editor.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(validate, 150);
  });

  const show = (example) => {
    editor.value = JSON.stringify(example?.spec ?? { dataset: { name: 'iris' }, model: { layers: [{ type: 'dense', units: 16, activation: 'relu' }, { type: 'dense', units: 3, activation: 'softmax' }] } }, null, 2);
    describe.textContent = example?.description ?? '';
    validate();
  };
  const picker = el('select', { id: 'example-picker', onchange: (event) => show(examples.find((e) => e.name === event.target.value)) }, ...examples.map((e) => el('option', { value: e.name }, e.name)));

  async function submit() {
    const spec = validate();
    if (spec === null) return;
    const { ok, body: answer } = await api('/v1/jobs', { method: 'POST', body: JSON.stringify(spec) });
    if (ok) {
      location.hash = `#/jobs/${answer.id}`;
      return;
    }
    errors.replaceChildren(...(answer?.errors?.length ? answer.errors.map((e) => `${e.field}: ${e.message}`) : [answer?.detail ?? 'submission failed']).map((p) => el('li', { class: 'server' }, p)));
    verdict.textContent = 'Refused by the server';
  }

  view().replaceChildren(
    el('h1', {}, 'Submit a job'),
    el('div', { class: 'toolbar' }, 'Start from an example:', picker, submitButton),
    describe,
    el('div', { class: 'submit-grid' }, editor, el('div', {}, el('h2', {}, 'Problems'), verdict, errors)),
  );
  show(examples[0]);
  return () => clearTimeout(timer);
}
