import type { ResponseHeaderName } from './response-headers.js';

export const PROBLEM_MEDIA_TYPE = 'application/problem+json';

/**
 * The problem+json answers, one shared response each in the document (components/responses).
 * Operations refer to them by status; what a status means for one operation is in its description.
 */
export const problemResponses = {
  400: { component: 'BadRequest', description: 'The request is invalid: `errors` names each bad field and where it is (`in`: path, query, header or body)' },
  401: { component: 'Unauthorized', description: 'No API key (or admin token), or one that is unknown or revoked', headers: ['www-authenticate'] },
  403: { component: 'Forbidden', description: 'The admin API is disabled: the server was started without ADMIN_TOKEN' },
  404: { component: 'NotFound', description: 'No such resource in the caller\'s project' },
  409: { component: 'Conflict', description: "The request conflicts with the resource's state (`currentStatus`) or with a request still running under the same Idempotency-Key" },
  413: { component: 'ContentTooLarge', description: 'The body is larger than this endpoint accepts (BODY_LIMIT_BYTES, UPLOAD_LIMIT_BYTES) or has too many fields' },
  415: { component: 'UnsupportedMediaType', description: 'The body is sent with a content type this endpoint does not read' },
  422: { component: 'UnprocessableContent', description: 'The content cannot be used (an upload naming its problems by row and column), or an Idempotency-Key reused with a different request' },
  426: { component: 'UpgradeRequired', description: 'A plain GET on a websocket endpoint: connect with Upgrade: websocket' },
  429: { component: 'TooManyRequests', description: 'Over the rate limit, or too many failed requests from this client', headers: ['retry-after'] },
  503: {
    component: 'ServiceUnavailable',
    description: 'PostgreSQL or Redis cannot be reached just now (`dependency` says which): retry after Retry-After seconds; the API recovers by itself when it is back',
    headers: ['retry-after'],
  },
} as const satisfies Record<number, { component: string; description: string; headers?: readonly ResponseHeaderName[] }>;

export type ProblemStatus = keyof typeof problemResponses;

export const isProblemStatus = (status: number): status is ProblemStatus => status in problemResponses;
