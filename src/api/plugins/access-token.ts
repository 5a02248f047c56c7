import type { IncomingMessage } from 'node:http';

const accessTokenSymbol = Symbol('trainyard.accessToken');
type WithAccessToken = IncomingMessage & { [accessTokenSymbol]?: string };

/** The query parameter a browser's websocket sends its key in (browsers cannot set headers on one). */
const PARAMETER = 'access_token';

/** A query key as a server would read it: percent-decoded, `+` as space, any case. */
function normalisedKey(raw: string): string {
  try {
    return decodeURIComponent(raw.replace(/\+/g, ' ')).toLowerCase();
  } catch {
    return raw.toLowerCase();
  }
}

function decodedValue(raw: string): string {
  try {
    return decodeURIComponent(raw.replace(/\+/g, ' '));
  } catch {
    return raw;
  }
}

/**
 * Fastify's rewriteUrl: takes the key out of the URL before anything routes or logs it, in every
 * spelling a parser might accept (`access%5Ftoken`, `ACCESS_TOKEN`, repeated), and keeps it on the
 * raw request for the auth hook. The rest of the query is left byte for byte as sent.
 */
export function withoutAccessToken(raw: IncomingMessage): string {
  const url = raw.url ?? '/';
  const queryStart = url.indexOf('?');
  if (queryStart < 0) return url;
  const kept: string[] = [];
  let token: string | undefined;
  for (const pair of url.slice(queryStart + 1).split('&')) {
    const equals = pair.indexOf('=');
    const key = equals < 0 ? pair : pair.slice(0, equals);
    if (normalisedKey(key) === PARAMETER) {
      token ??= equals < 0 ? '' : decodedValue(pair.slice(equals + 1));
    } else if (pair !== '') {
      kept.push(pair);
    }
  }
  if (token !== undefined) {
    if (token) (raw as WithAccessToken)[accessTokenSymbol] = token;
    // The raw URL is what a proxy-style log or an error path could print: it must not keep the key either.
    const rewritten = `${url.slice(0, queryStart)}${kept.length ? `?${kept.join('&')}` : ''}`;
    raw.url = rewritten;
    return rewritten;
  }
  return url;
}

/** The key a websocket upgrade carried in its query, if any. */
export function queryAccessToken(raw: IncomingMessage): string | undefined {
  return (raw as WithAccessToken)[accessTokenSymbol];
}
