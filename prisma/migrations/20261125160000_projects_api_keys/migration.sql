-- Projects and API keys. Everything that existed before belongs to the project "default", whose id
-- is fixed (src/projects/default-project.ts) so that a deployment without auth keeps using it.
CREATE TABLE "projects" (
    "id" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "max_running_jobs" INTEGER,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "projects_pkey" PRIMARY KEY ("id")
);
CREATE UNIQUE INDEX "projects_name_key" ON "projects"("name");
INSERT INTO "projects" ("id", "name") VALUES ('00000000-0000-7000-8000-000000000000', 'default');

CREATE TABLE "api_keys" (
    "id" UUID NOT NULL,
    "project_id" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "prefix" TEXT NOT NULL,
    "hash" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "last_used_at" TIMESTAMPTZ(3),
    "revoked_at" TIMESTAMPTZ(3),

    CONSTRAINT "api_keys_pkey" PRIMARY KEY ("id")
);
CREATE UNIQUE INDEX "api_keys_hash_key" ON "api_keys"("hash");
CREATE INDEX "api_keys_project_id_idx" ON "api_keys"("project_id");
ALTER TABLE "api_keys" ADD CONSTRAINT "api_keys_project_id_fkey" FOREIGN KEY ("project_id") REFERENCES "projects"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- Existing rows join the default project; new rows always name theirs.
ALTER TABLE "jobs" ADD COLUMN "project_id" UUID NOT NULL DEFAULT '00000000-0000-7000-8000-000000000000';
ALTER TABLE "jobs" ALTER COLUMN "project_id" DROP DEFAULT;
CREATE INDEX "jobs_project_id_id_idx" ON "jobs"("project_id", "id");
ALTER TABLE "jobs" ADD CONSTRAINT "jobs_project_id_fkey" FOREIGN KEY ("project_id") REFERENCES "projects"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

DROP INDEX "datasets_sha256_key";
ALTER TABLE "datasets" ADD COLUMN "project_id" UUID NOT NULL DEFAULT '00000000-0000-7000-8000-000000000000';
ALTER TABLE "datasets" ALTER COLUMN "project_id" DROP DEFAULT;
CREATE UNIQUE INDEX "datasets_project_id_sha256_key" ON "datasets"("project_id", "sha256");
ALTER TABLE "datasets" ADD CONSTRAINT "datasets_project_id_fkey" FOREIGN KEY ("project_id") REFERENCES "projects"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

ALTER TABLE "idempotency_keys" DROP CONSTRAINT "idempotency_keys_pkey",
ADD COLUMN "project_id" UUID NOT NULL DEFAULT '00000000-0000-7000-8000-000000000000',
ADD CONSTRAINT "idempotency_keys_pkey" PRIMARY KEY ("project_id", "scope", "key");
ALTER TABLE "idempotency_keys" ALTER COLUMN "project_id" DROP DEFAULT;
