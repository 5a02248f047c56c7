// The API as the dashboard calls it: the key this browser keeps, fetch with it, websockets with it.
const KEY_STORAGE = 'trainyard.apiKey';
export const apiKey = () => localStorage.getItem(KEY_STORAGE);
export const setApiKey = (value) => (value ? localStorage.setItem(KEY_STORAGE, value) : localStorage.removeItem(KEY_STORAGE));

/** Thrown by api() on a 401: the router shows the key form instead of the view. */
export class NeedsKey extends Error {}

export async function api(path, options = {}) {
  const key = apiKey();
  const headers = { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}) };
  const response = await fetch(path, { headers, ...options });
  const body = response.status === 204 ? null : await response.json().catch(() => null);
  if (response.status === 401) throw new NeedsKey(body?.detail ?? 'this server needs an API key');
  return { ok: response.ok, status: response.status, body };
}

// Streams carry these message kinds (a job's or the project's events, a study's events); heartbeats are left out.
const EVENT_KINDS = new Set(['event', 'studyEvent']);
// Streams that replay their log after a seq: a job's and a study's. /v1/stream has no replay.
const REPLAYS = /^\/v1\/(jobs|studies)\/[^/]+\/stream$/;
// The header's live dot: on while any of the page's streams is open.
let openSockets = 0;
const showLive = () => document.getElementById('connection')?.classList.toggle('live', openSockets > 0);

/**
 * A websocket that reconnects after the last seq it saw. `onEvent.lastSeq`, when set, is where a
 * job or study stream resumes. Returns a function that closes it for good.
 */
export function openStream(path, onEvent) {
  let socket;
  let closedByUs = false;
  const connect = (after) => {
    // A reconnect timer that fires after the view closed the stream opens nothing.
    if (closedByUs) return;
    // Browsers cannot set headers on a WebSocket: the key goes as access_token (the server strips it before logging).
    const query = new URLSearchParams();
    if (after !== undefined) query.set('after', String(after));
    if (apiKey()) query.set('access_token', apiKey());
    const url = `${location.origin.replace(/^http/, 'ws')}${path}${query.size ? `?${query}` : ''}`;
    let open = false;
    socket = new WebSocket(url);
    socket.onopen = () => {
      open = true;
      openSockets += 1;
      showLive();
    };
    socket.onmessage = (message) => {
      const data = JSON.parse(message.data);
      if (EVENT_KINDS.has(data.kind)) onEvent(data);
    };
    socket.onclose = (event) => {
      if (open) openSockets -= 1;
      showLive();
      // 1000: the job or study ended; anything else: reconnect and continue after the last seq seen.
      if (!closedByUs && event.code !== 1000) setTimeout(() => connect(onEvent.lastSeq), 1000);
    };
  };
  connect(onEvent.lastSeq ?? (REPLAYS.test(path) ? 0 : undefined));
  return () => {
    closedByUs = true;
    socket?.close();
  };
}
