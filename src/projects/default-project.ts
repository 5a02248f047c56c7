/**
 * The project every request belongs to when auth is off, and that everything created before
 * projects existed was moved into (prisma/migrations/20261125160000_projects_api_keys).
 */
export const DEFAULT_PROJECT = { id: '00000000-0000-7000-8000-000000000000', name: 'default' } as const;
