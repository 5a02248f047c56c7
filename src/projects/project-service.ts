import { createHash, randomBytes } from 'node:crypto';
import { isUuid } from '../db/ids.js';
import type { ApiKey, Project } from '../generated/prisma/client.js';
import { NotFoundError } from '../errors/errors.js';
import type { PrismaClient } from '../db/prisma.js';
import type { KeyCache } from './key-cache.js';
import type { ApiKeyRecord, Principal, ProjectRecord } from './project-types.js';

const KEY_PREFIX = 'ty_';
// lastUsedAt is a hint for operators, not an audit log: one write a minute per key at most.
const LAST_USED_RESOLUTION_MS = 60_000;

export const hashApiKey = (key: string) => createHash('sha256').update(key).digest('hex');

export interface KeyCaching {
  /** Without it every request looks its key up (the CLI, tests of the lookup itself). */
  cache?: KeyCache;
  /** Tells every process that caches keys that this one was revoked. */
  announceRevocation?(hash: string): Promise<void>;
}

/** Projects and their API keys: created, listed and revoked by operators, checked on every request. */
export class ProjectService {
  constructor(
    private readonly prisma: PrismaClient,
    private readonly caching: KeyCaching = {},
  ) {}

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
    this.caching.cache?.delete(row.hash);
    await this.caching.announceRevocation?.(row.hash);
    return toKey(updated, row.project.name);
  }

  /** The key's project, or null for a key that is unknown or revoked. */
  async authenticate(key: string): Promise<Principal | null> {
    if (!key.startsWith(KEY_PREFIX)) return null;
    const hash = hashApiKey(key);
    const now = Date.now();
    const cached = this.caching.cache?.get(hash);
    if (cached) {
      if (now - cached.lastUsedWrittenAt > LAST_USED_RESOLUTION_MS) {
        this.caching.cache?.touch(hash, now);
        this.markUsed(cached.principal.keyId);
      }
      return cached.principal;
    }
    const row = await this.prisma.apiKey.findUnique({ where: { hash }, include: { project: true } });
    if (!row || row.revokedAt) return null;
    let lastUsedWrittenAt = row.lastUsedAt?.getTime() ?? 0;
    if (now - lastUsedWrittenAt > LAST_USED_RESOLUTION_MS) {
      this.markUsed(row.id);
      lastUsedWrittenAt = now;
    }
    const principal = { keyId: row.id, project: { id: row.project.id, name: row.project.name } };
    this.caching.cache?.set(hash, principal, lastUsedWrittenAt);
    return principal;
  }

  /** Forgets a key this process cached: another process revoked it. */
  forgetKey(hash: string): void {
    this.caching.cache?.delete(hash);
  }

  private markUsed(keyId: string): void {
    void this.prisma.apiKey.update({ where: { id: keyId }, data: { lastUsedAt: new Date() } }).catch(() => undefined);
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
