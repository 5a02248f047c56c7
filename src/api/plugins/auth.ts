import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest, onRequestAsyncHookHandler } from 'fastify';
import fp from 'fastify-plugin';
import type { Config } from '../../config/config.js';
import { ForbiddenError, UnauthorizedError } from '../../errors/errors.js';
import { DEFAULT_PROJECT } from '../../projects/default-project.js';
import type { ProjectService } from '../../projects/project-service.js';
import type { ProjectScope } from '../../projects/project-types.js';
import type { Redis } from 'ioredis';
import { listenForKeyRevocations } from '../../projects/key-revocations.js';
import { queryAccessToken } from './access-token.js';

/**
 * Who may call a route: anyone (`public`), a project's API key (`project`), or the operator's
 * ADMIN_TOKEN (`admin`). Declared on the route (`config: { access }`); a route that declares
 * nothing is `project`, or `admin` under /v1/admin — never public by accident.
 */
export type RouteAccess = 'public' | 'project' | 'admin';

declare module 'fastify' {
  interface FastifyContextConfig {
    access?: RouteAccess;
  }
  interface FastifyRequest {
    /** Set by the auth plugin on every `project` route; read it through `projectOf`. */
    authProject: ProjectScope | null;
    /** The API key that made the request; null without auth. Rate limits count per key. */
    apiKeyId: string | null;
  }
}

/** The access a matched route requires; undefined for a request no route matched (a 404). */
export function accessOf(request: FastifyRequest): RouteAccess | undefined {
  const route = request.routeOptions.url;
  if (route === undefined) return undefined;
  return routeAccess(route, request.routeOptions.config);
}

/** The access a route requires, from its pattern and config: what the API documentation says too. */
export function routeAccess(url: string, config: { access?: RouteAccess } | undefined): RouteAccess {
  return config?.access ?? (url === '/v1/admin' || url.startsWith('/v1/admin/') ? 'admin' : 'project');
}

/** The project a `project` route acts for. */
export function projectOf(request: FastifyRequest): ProjectScope {
  if (!request.authProject) throw new Error(`no project on ${request.method} ${request.routeOptions.url}: the route is not a project route`);
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
  if (request.headers.upgrade?.toLowerCase() === 'websocket') return queryAccessToken(request.raw);
  return undefined;
}

const digest = (value: string) => createHash('sha256').update(value).digest();

/**
 * The admin check, on its own so the admin routes can run it as their own hook as well: a
 * mistake in the global hook must not open them.
 */
export function adminGuard(config: Pick<Config, 'ADMIN_TOKEN'>): onRequestAsyncHookHandler {
  const adminDigest = config.ADMIN_TOKEN ? digest(config.ADMIN_TOKEN) : null;
  return async (request) => {
    if (!adminDigest) throw new ForbiddenError('the admin API is disabled: start the API with ADMIN_TOKEN set, or use `npm run keys` on the server');
    const token = presentedToken(request);
    if (!token) throw new UnauthorizedError('the admin API needs Authorization: Bearer <ADMIN_TOKEN>');
    if (!timingSafeEqual(digest(token), adminDigest)) throw new UnauthorizedError('wrong admin token');
  };
}

/**
 * Decides on the route the router matched — the decoded, normalised path that will actually run —
 * never on the raw URL. Admin routes need ADMIN_TOKEN; project routes need a key (or, with
 * AUTH_MODE=off, act as the project "default"); public routes (health, metrics, docs, the
 * dashboard's files) need nothing. A request no route matches runs no handler: it gets its 404.
 */
async function authPlugin(app: FastifyInstance, { config, projects, revocations }: { config: Config; projects: ProjectService; revocations: Redis }): Promise<void> {
  app.decorateRequest('authProject', null);
  app.decorateRequest('apiKeyId', null);
  const requireAdmin = adminGuard(config);
  await listenForKeyRevocations(revocations, config.QUEUE_PREFIX, (hash) => projects.forgetKey(hash));

  app.addHook('onRequest', async function authenticate(request, reply) {
    switch (accessOf(request)) {
      case undefined:
      case 'public':
        return;
      case 'admin':
        return requireAdmin.call(this, request, reply);
      case 'project': {
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
      }
    }
  });
}

export const auth = fp(authPlugin, { name: 'auth' });
