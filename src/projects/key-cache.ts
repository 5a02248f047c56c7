import { LRUCache } from 'lru-cache';
import type { Principal } from './project-types.js';

interface Entry {
  principal: Principal;
  /** When lastUsedAt was last written for this key (a hint for operators, kept coarse). */
  lastUsedWrittenAt: number;
}

/**
 * Keys this process has authenticated recently, by hash, so a request costs no database lookup.
 * A revocation removes the key from every process at once (key-revocations.ts); the TTL bounds
 * how long a revocation whose announcement was lost could go unnoticed.
 */
export class KeyCache {
  private readonly entries: LRUCache<string, Entry>;

  constructor(ttlMs: number, max = 10_000) {
    this.entries = new LRUCache<string, Entry>({ max, ttl: ttlMs });
  }

  get(hash: string): Entry | undefined {
    return this.entries.get(hash);
  }

  set(hash: string, principal: Principal, lastUsedWrittenAt: number): void {
    this.entries.set(hash, { principal, lastUsedWrittenAt });
  }

  /** Marks lastUsedAt as written now without renewing the entry's TTL. */
  touch(hash: string, at: number): void {
    const entry = this.entries.get(hash, { updateAgeOnGet: false });
    if (entry) entry.lastUsedWrittenAt = at;
  }

  delete(hash: string): void {
    this.entries.delete(hash);
  }
}
