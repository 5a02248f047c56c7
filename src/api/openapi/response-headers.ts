import type { OpenAPIV3_1 } from 'openapi-types';

/**
 * The response headers the API documents, each set in one place of the server: x-request-id by
 * the security plugin, x-ratelimit-* and retry-after by the rate limits, www-authenticate by the
 * error handler, location and idempotent-replayed by the routes that create resources.
 */
export const responseHeaders = {
  'x-request-id': {
    component: 'RequestId',
    header: {
      description: "This request's id in the server logs: the caller's own x-request-id when it sent a sane one (letters, digits, `.:_-`, at most 128)",
      required: true,
      schema: { type: 'string' },
    },
  },
  'x-ratelimit-limit': {
    component: 'RateLimitLimit',
    header: { description: 'Requests the API key (or, without auth, the client address) may make per window (RATE_LIMIT_MAX)', schema: { type: 'integer' } },
  },
  'x-ratelimit-remaining': {
    component: 'RateLimitRemaining',
    header: { description: 'Requests left in the current window', schema: { type: 'integer' } },
  },
  'x-ratelimit-reset': {
    component: 'RateLimitReset',
    header: { description: 'Seconds until the window ends', schema: { type: 'integer' } },
  },
  'retry-after': {
    component: 'RetryAfter',
    header: { description: 'Seconds to wait before trying again', required: true, schema: { type: 'integer' } },
  },
  'www-authenticate': {
    component: 'WwwAuthenticate',
    header: { description: 'The scheme to authenticate with: `Bearer realm="trainyard"`', required: true, schema: { type: 'string' } },
  },
  location: {
    component: 'Location',
    header: { description: 'The path of the resource this answer describes', required: true, schema: { type: 'string' } },
  },
  'idempotent-replayed': {
    component: 'IdempotentReplayed',
    header: {
      description: '`true` when this is the stored answer to an earlier request with the same Idempotency-Key, `false` when the request ran now',
      required: true,
      schema: { type: 'string', enum: ['true', 'false'] },
    },
  },
} as const satisfies Record<string, { component: string; header: OpenAPIV3_1.HeaderObject }>;

export type ResponseHeaderName = keyof typeof responseHeaders;

/** The headers a rate-limited operation's responses may carry (not those refused before the limit is counted). */
export const rateLimitHeaders: readonly ResponseHeaderName[] = ['x-ratelimit-limit', 'x-ratelimit-remaining', 'x-ratelimit-reset'];

export const headerRef = (name: ResponseHeaderName): OpenAPIV3_1.ReferenceObject => ({ $ref: `#/components/headers/${responseHeaders[name].component}` });
