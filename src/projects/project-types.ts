/** Who a request acts for: every job, upload and stream it touches must belong to this project. */
export interface ProjectScope {
  id: string;
  name: string;
}

export interface ProjectRecord extends ProjectScope {
  /** Null: the deployment's PROJECT_MAX_RUNNING_JOBS applies. */
  maxRunningJobs: number | null;
  createdAt: string;
}

export interface ApiKeyRecord {
  id: string;
  project: string;
  name: string;
  /** The key's first characters, to recognise it; the key itself is never stored. */
  prefix: string;
  createdAt: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
}

/** What authenticating a key yields. */
export interface Principal {
  keyId: string;
  project: ProjectScope;
}
