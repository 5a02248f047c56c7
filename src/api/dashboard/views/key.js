// The API key this browser sends (kept in localStorage).
import { apiKey, setApiKey } from '../api.js';
import { el } from '../dom.js';

export function keyView(reason, done) {
  const input = el('input', { id: 'api-key-input', type: 'password', size: 60, placeholder: 'ty_…', autocomplete: 'off' });
  const save = () => {
    setApiKey(input.value.trim());
    done();
  };
  document.getElementById('view').replaceChildren(
    el('h1', {}, 'API key'),
    el('p', { class: reason ? 'error-banner' : 'muted' }, reason ?? (apiKey() ? 'This browser sends a key; enter another to replace it, or nothing to forget it.' : 'This browser sends no key.')),
    el('p', { class: 'muted' }, 'Keys belong to a project; you see its jobs and uploads only. On the server, ', el('code', {}, 'npm run keys -- create --project <name>'), ' makes one.'),
    el('div', { class: 'toolbar' }, input, el('button', { class: 'primary', id: 'api-key-save', onclick: save }, 'Use this key')),
  );
  return () => {};
}
