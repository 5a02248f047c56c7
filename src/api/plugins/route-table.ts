import type { FastifyInstance, HTTPMethods } from 'fastify';
import fp from 'fastify-plugin';

export interface RouteEntry {
  method: HTTPMethods;
  url: string;
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Every route the app serves, as registered: what the auth tests walk and the docs list. */
    readonly routeTable: readonly RouteEntry[];
  }
}

/** Records every route registered after it (register it before the routes). */
async function routeTablePlugin(app: FastifyInstance): Promise<void> {
  const table: RouteEntry[] = [];
  app.decorate('routeTable', table);
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) table.push({ method, url: route.url });
  });
}

export const routeTable = fp(routeTablePlugin, { name: 'route-table' });
