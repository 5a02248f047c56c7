import { createHash, randomBytes } from 'node:crypto';
import { isUuid } from '../db/ids.js';
import type { ApiKey, Project } from '../generated/prisma/client.js';
import { NotFoundError } from '../errors/errors.js';
import type { PrismaClient } from '../db/prisma.js';
import type { ApiKeyRecord, Principal, ProjectRecord } from './project-types.js';

const KEY_PREFIX = 'ty_';
// lastUsedAt is a hint for operators, not an audit log: one write a minute per key at most.
const LAST_USED_RESOLUTION_MS = 60_000;

export const hashApiKey = (key: string) => createHash('sha256').update(key).digest('hex');

/** Projects and their API keys: created, listed and revoked by operators, checked on every request. */
export class ProjectService {
  constructor(private readonly prisma: PrismaClient) {}

  /** The project of that name, created if it does not exist yet. */
  async ensure(name: string): Promise<ProjectRecord> {
    const row = await this.prisma.project.upsert({ where: { name }, create: { name }, update: {} });
    return toProject(row);
  }

  async get(name: string): Promise<ProjectRecord> {
    const row = await this.prisma.project.findUnique({ where: { name } });
    if (!row) throw new NotFoundError('project', name);
    return toProject(row);
  }

  async list(): Promise<ProjectRecord[]> {
    return (await this.prisma.project.findMany({ orderBy: { name: 'asc' } })).map(toProject);
  }

  /** Sets (or with null clears) how many of the project's jobs may train at once. */
  async setMaxRunningJobs(name: string, maxRunningJobs: number | null): Promise<ProjectRecord> {
    await this.get(name);
    return toProject(await this.prisma.project.update({ where: { name }, data: { maxRunningJobs } }));
  }

  /** A new key for the project (created if needed). The key is returned once and only its hash is kept. */
  async createKey(projectName: string, keyName: string): Promise<{ key: string; record: ApiKeyRecord }> {
    const project = await this.ensure(projectName);
    const key = `${KEY_PREFIX}${randomBytes(32).toString('base64url')}`;
    const row = await this.prisma.apiKey.create({
      data: { projectId: project.id, name: keyName, prefix: key.slice(0, KEY_PREFIX.length + 8), hash: hashApiKey(key) },
    });
    return { key, record: toKey(row, project.name) };
  }

  async listKeys(projectName?: string): Promise<ApiKeyRecord[]> {
    const rows = await this.prisma.apiKey.findMany({
      where: projectName ? { project: { name: projectName } } : {},
      include: { project: true },
      orderBy: { id: 'asc' },
    });
    return rows.map((row) => toKey(row, row.project.name));
  }

  /** Revokes a key at once: the next request with it is a 401. Revoking twice is harmless. */
  async revokeKey(id: string): Promise<ApiKeyRecord> {
    const row = isUuid(id) ? await this.prisma.apiKey.findUnique({ where: { id }, include: { project: true } }) : null;
    if (!row) throw new NotFoundError('API key', id);
    const updated = row.revokedAt ? row : await this.prisma.apiKey.update({ where: { id }, data: { revokedAt: new Date() } });
    return toKey(updated, row.project.name);
  }

  /** The key's project, or null for a key that is unknown or revoked. */
  async authenticate(key: string): Promise<Principal | null> {
    if (!key.startsWith(KEY_PREFIX)) return null;
    const row = await this.prisma.apiKey.findUnique({ where: { hash: hashApiKey(key) }, include: { project: true } });
    if (!row || row.revokedAt) return null;
    if (!row.lastUsedAt || Date.now() - row.lastUsedAt.getTime() > LAST_USED_RESOLUTION_MS) {
      void this.prisma.apiKey.update({ where: { id: row.id }, data: { lastUsedAt: new Date() } }).catch(() => undefined);
    }
    return { keyId: row.id, project: { id: row.project.id, name: row.project.name } };
  }
}

function toProject(row: Project): ProjectRecord {
  return { id: row.id, name: row.name, maxRunningJobs: row.maxRunningJobs, createdAt: row.createdAt.toISOString() };
}

function toKey(row: ApiKey, project: string): ApiKeyRecord {
  return {
    id: row.id,
    project,
    name: row.name,
    prefix: row.prefix,
    createdAt: row.createdAt.toISOString(),
    lastUsedAt: row.lastUsedAt?.toISOString() ?? null,
    revokedAt: row.revokedAt?.toISOString() ?? null,
  };
}
