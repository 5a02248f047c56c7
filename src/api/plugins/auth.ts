import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { Config } from '../../config/config.js';
import { ForbiddenError, UnauthorizedError } from '../../errors/errors.js';
import { DEFAULT_PROJECT } from '../../projects/default-project.js';
import type { ProjectService } from '../../projects/project-service.js';
import type { ProjectScope } from '../../projects/project-types.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the auth plugin on every /v1 request; read it through `projectOf`. */
    authProject: ProjectScope | null;
    /** The API key that made the request; null without auth. Rate limits count per key. */
    apiKeyId: string | null;
  }
}

/** The project a /v1 request acts for. */
export function projectOf(request: FastifyRequest): ProjectScope {
  if (!request.authProject) throw new Error(`no project on ${request.method} ${request.url}: the auth plugin did not run`);
  return request.authProject;
}

/** `Authorization: Bearer <token>`, or, on a websocket upgrade only, `?access_token=`: browsers cannot set headers on a WebSocket. */
export function presentedToken(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (header !== undefined) {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!match) throw new UnauthorizedError('the Authorization header must be "Bearer <API key>"');
    return match[1];
  }
  if (request.headers.upgrade?.toLowerCase() === 'websocket') return (request.raw as WithAccessToken)[accessTokenSymbol];
  return undefined;
}

const accessTokenSymbol = Symbol('trainyard.accessToken');
type WithAccessToken = IncomingMessage & { [accessTokenSymbol]?: string };

/**
 * Fastify's rewriteUrl: takes `access_token` out of the URL before anything routes or logs it,
 * keeping it on the raw request for the auth hook.
 */
export function withoutAccessToken(raw: IncomingMessage): string {
  const url = raw.url ?? '/';
  if (!url.includes('access_token=')) return url;
  const parsed = new URL(url, 'http://localhost');
  const token = parsed.searchParams.get('access_token');
  if (token) (raw as WithAccessToken)[accessTokenSymbol] = token;
  parsed.searchParams.delete('access_token');
  const query = parsed.searchParams.toString();
  return `${parsed.pathname}${query ? `?${query}` : ''}`;
}

/** The API proper: what needs a key and what rate limits count. */
export const isApiPath = (url: string) => url.startsWith('/v1/') || url === '/v1' || url.startsWith('/v1?');
export const isAdminPath = (url: string) => url.startsWith('/v1/admin/') || url === '/v1/admin';

const digest = (value: string) => createHash('sha256').update(value).digest();

/**
 * Everything under /v1 acts for a project: the one of the API key presented, or the project
 * "default" when AUTH_MODE=off. /v1/admin needs ADMIN_TOKEN instead. Health, metrics, docs and the
 * dashboard's static files are public (the dashboard asks for a key before it calls the API).
 */
function authPlugin(app: FastifyInstance, { config, projects }: { config: Config; projects: ProjectService }): Promise<void> {
  app.decorateRequest('authProject', null);
  app.decorateRequest('apiKeyId', null);
  const adminDigest = config.ADMIN_TOKEN ? digest(config.ADMIN_TOKEN) : null;

  app.addHook('onRequest', async (request) => {
    if (!isApiPath(request.url)) return;
    if (isAdminPath(request.url)) {
      if (!adminDigest) throw new ForbiddenError('the admin API is disabled: start the API with ADMIN_TOKEN set, or use `npm run keys` on the server');
      const token = presentedToken(request);
      if (!token) throw new UnauthorizedError('the admin API needs Authorization: Bearer <ADMIN_TOKEN>');
      if (!timingSafeEqual(digest(token), adminDigest)) throw new UnauthorizedError('wrong admin token');
      return;
    }
    if (config.AUTH_MODE === 'off') {
      request.authProject = DEFAULT_PROJECT;
      return;
    }
    const key = presentedToken(request);
    if (!key) throw new UnauthorizedError('this endpoint needs an API key: send Authorization: Bearer <key> (`npm run keys -- create` makes one)');
    const principal = await projects.authenticate(key);
    if (!principal) throw new UnauthorizedError('the API key is unknown or has been revoked');
    request.authProject = principal.project;
    request.apiKeyId = principal.keyId;
  });
  return Promise.resolve();
}

export const auth = fp(authPlugin, { name: 'auth' });
