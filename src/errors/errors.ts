/**
 * Typed errors the domain throws; src/api/plugins/error-handler.ts is the one place that maps
 * them to HTTP problem+json responses.
 */
export interface FieldProblem {
  field: string;
  message: string;
}

/** `/model/layers/0/units` → `model.layers[0].units`: the form users write in their specs. */
export function fieldFromPath(segments: (string | number)[]): string {
  return segments.reduce<string>((field, segment) => {
    if (typeof segment === 'number' || /^\d+$/.test(segment)) return `${field}[${segment}]`;
    return field ? `${field}.${segment}` : segment;
  }, '');
}

export abstract class TrainyardError extends Error {
  abstract readonly status: number;
  abstract readonly title: string;
}

export class NotFoundError extends TrainyardError {
  readonly status = 404;
  readonly title = 'Not Found';
  constructor(resource: string, id: string) {
    super(`${resource} ${id} does not exist`);
  }
}

export class ValidationError extends TrainyardError {
  readonly status = 400;
  readonly title = 'Invalid request';
  constructor(
    message: string,
    readonly errors: FieldProblem[],
  ) {
    super(message);
  }
}

export class ConflictError extends TrainyardError {
  readonly status = 409;
  readonly title = 'Conflict';
  constructor(
    message: string,
    /** Extra members of the problem body, e.g. the job's current status. */
    readonly extensions: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

/** The services Trainyard cannot answer without. */
export const dependencies = ['postgres', 'redis'] as const;
export type Dependency = (typeof dependencies)[number];

/**
 * How long a client is asked to wait before retrying during an outage: short, since the API
 * recovers by itself as soon as the service is back, long enough not to hammer it meanwhile.
 */
export const OUTAGE_RETRY_AFTER_SECONDS = 5;

/** A dependency (PostgreSQL, Redis) did not answer; the client may retry after `retryAfterSeconds`. */
export class UnavailableError extends TrainyardError {
  readonly status = 503;
  readonly title = 'Service Unavailable';
  constructor(
    message: string,
    /** Which one, when known: the problem body names it. */
    readonly dependency: Dependency | null = null,
    readonly retryAfterSeconds = OUTAGE_RETRY_AFTER_SECONDS,
  ) {
    super(message);
  }
}

export class PayloadTooLargeError extends TrainyardError {
  readonly status = 413;
  readonly title = 'Payload Too Large';
}

/** The request is well formed but cannot be carried out as asked (e.g. a reused Idempotency-Key). */
export class UnprocessableError extends TrainyardError {
  readonly status = 422;
  readonly title = 'Unprocessable request';
}

/**
 * A valid spec this deployment cannot run: its estimated memory or its training threads exceed what
 * a worker's training process may use (src/spec/resource-limits.ts). A 422 naming the field to
 * change, with the numbers in `extensions`.
 */
export class ResourceLimitError extends TrainyardError {
  readonly status = 422;
  readonly title = 'Over the resource limits';
  constructor(
    message: string,
    readonly errors: FieldProblem[],
    readonly extensions: Record<string, unknown>,
  ) {
    super(message);
  }
}

/** No key, or a key that is unknown or revoked. */
export class UnauthorizedError extends TrainyardError {
  readonly status = 401;
  readonly title = 'Unauthorized';
}

/** An operation this caller may never do (an admin endpoint without the admin token). */
export class ForbiddenError extends TrainyardError {
  readonly status = 403;
  readonly title = 'Forbidden';
}

export class TooManyRequestsError extends TrainyardError {
  readonly status = 429;
  readonly title = 'Too Many Requests';
  constructor(
    message: string,
    readonly retryAfterSeconds: number,
  ) {
    super(message);
  }
}
