-- A project's jobs holding a live lease are counted whenever a queued job is read (its waiting reason).
-- CreateIndex
CREATE INDEX "jobs_project_id_lease_expires_at_idx" ON "jobs"("project_id", "lease_expires_at");
